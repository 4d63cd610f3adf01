package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/store"
)

// Object Lock upkeep (docs/DESIGN.md, "Immutability"). A store that locks
// what it writes (store.Locker with a mode) locks each new object for the
// policy's days. Before such a lock runs out, the objects a kept version
// still needs, and the records objects, get it extended: every sync (and
// grsync lock extend) extends each lock that ends within LockMargin to now
// + the policy's days, so syncs may stop for LockMargin before a lock
// lapses. Objects no kept version needs are left to run out, so that prune
// can delete them once free. Extensions never shorten a lock (the store
// refuses to), and their new dates are recorded in the catalogue, which
// prune reads as earliest-delete dates.

// DefaultLockMargin is how long before its end a lock is extended: the
// same 30 days as s3store.LockMarginDays, which the default lock duration
// adds to the class's minimum storage duration.
const DefaultLockMargin = 30 * 24 * time.Hour

// lockWorkers bounds the extensions in flight (each a HEAD and at most
// one PutObjectRetention).
const lockWorkers = 8

// lockBatch is how many new lock dates one catalogue transaction records.
const lockBatch = 500

// LockOptions steer ExtendLocks.
type LockOptions struct {
	// Margin: locks ending within it are extended (0: DefaultLockMargin).
	Margin time.Duration
	// DryRun counts and prices the extensions, and sends nothing.
	DryRun bool
}

// LockResult says what ExtendLocks found and did.
type LockResult struct {
	// Mode is the store's lock mode; "" when it writes no lock (then
	// nothing else is set).
	Mode store.LockMode
	// Due counts the objects whose lock ends within the margin (or is not
	// known): one PutObjectRetention each at most, priced in Cost before
	// any is sent.
	Due  int
	Cost cost.Estimate
	// Until is the retain-until date asked for: now + the policy's days.
	Until time.Time
	// Extended counts the objects locked until Until or later afterwards;
	// Failures the others (a missing object, refused credentials).
	Extended int
	Failures []Failure
}

// lockPolicy returns the store's Locker and the lock it writes, if any.
func lockPolicy(cfg *Config) (store.Locker, store.LockPolicy) {
	lk, ok := cfg.Store.(store.Locker)
	if !ok {
		return nil, store.LockPolicy{}
	}
	return lk, lk.LockPolicy()
}

// ExtendLocks extends, to now + the policy's days, the lock of every object
// a kept version needs (and of every records object) whose lock ends within
// opt.Margin, and records the new dates. It does nothing on a store that
// writes no lock. A failed extension is reported in the result (the others
// go on); the error is for the catalogue failing.
func ExtendLocks(ctx context.Context, cfg *Config, opt LockOptions) (LockResult, error) {
	var res LockResult
	lk, pol := lockPolicy(cfg)
	if lk == nil || pol.Mode == "" {
		return res, nil
	}
	res.Mode = pol.Mode
	margin := opt.Margin
	if margin <= 0 {
		margin = DefaultLockMargin
	}
	now := cfg.now()
	res.Until = now.Add(time.Duration(pol.Days) * 24 * time.Hour)
	due, err := cfg.Catalog.NeededObjects(cfg.Target.ID, now.Add(margin))
	if err != nil {
		return res, fmt.Errorf("reading the catalogue: %w", err)
	}
	res.Due = len(due)
	if res.Cost, err = lockCost(cfg, due); err != nil {
		return res, err
	}
	if opt.DryRun || len(due) == 0 {
		return res, nil
	}
	cfg.observer().Notice(cfg.Store.Location(), fmt.Sprintf("extending the Object Lock of %s to %s (%s: one PutObjectRetention each)",
		countOf(len(due), "object"), res.Until.Format(time.DateOnly), res.Cost.Total))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		done    []catalog.ObjectLock
		denied  int // not tried after the credentials were refused
		deniedE error
		wg      sync.WaitGroup
	)
	work := make(chan catalog.Object)
	for range min(lockWorkers, len(due)) {
		wg.Go(func() {
			for o := range work {
				l, err := lk.ExtendRetention(ctx, o.ArchiveID, res.Until)
				mu.Lock()
				switch {
				case err == nil:
					done = append(done, catalog.ObjectLock{ArchiveID: o.ArchiveID, Mode: string(l.Mode), Until: l.Until})
				case errors.Is(err, store.ErrAccessDenied):
					// Every other request would be refused alike.
					denied++
					if deniedE == nil {
						deniedE = err
					}
					cancel()
				case deniedE != nil && ctx.Err() != nil:
					denied++
				case errors.Is(err, store.ErrNotFound):
					res.Failures = append(res.Failures, Failure{Path: "object " + o.ArchiveID,
						Err: fmt.Errorf("its lock cannot be extended: missing from the store (grsync verify reports it): %w", err)})
				default:
					res.Failures = append(res.Failures, Failure{Path: "object " + o.ArchiveID, Err: fmt.Errorf("extending its lock: %w", err)})
				}
				mu.Unlock()
			}
		})
	}
	var ferr error
feed:
	for i, o := range due {
		select {
		case work <- o:
		case <-ctx.Done():
			mu.Lock()
			if deniedE != nil {
				denied += len(due) - i
			}
			mu.Unlock()
			break feed
		}
		if i%lockBatch == lockBatch-1 {
			if ferr = recordLocks(cfg, &mu, &done, &res); ferr != nil {
				cancel()
				break
			}
		}
	}
	close(work)
	wg.Wait()
	if err := recordLocks(cfg, &mu, &done, &res); err != nil && ferr == nil {
		ferr = err
	}
	if deniedE != nil {
		res.Failures = append(res.Failures, Failure{Path: cfg.Store.Location(),
			Err: fmt.Errorf("%s not extended: the credentials may not extend locks (they need s3:PutObjectRetention and s3:GetObjectRetention; grsync iam-policy --object-lock prints a policy with them): %w",
				countOf(denied, "lock"), deniedE)})
	}
	sort.Slice(res.Failures, func(i, j int) bool { return res.Failures[i].Path < res.Failures[j].Path })
	return res, ferr
}

// recordLocks records the lock dates gathered so far and counts them.
func recordLocks(cfg *Config, mu *sync.Mutex, done *[]catalog.ObjectLock, res *LockResult) error {
	mu.Lock()
	batch := *done
	*done = nil
	mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if _, err := cfg.Catalog.SetObjectLocks(cfg.Target.ID, batch); err != nil {
		return fmt.Errorf("recording extended locks: %w", err)
	}
	mu.Lock()
	res.Extended += len(batch)
	mu.Unlock()
	return nil
}

// lockCost prices extending the locks of objs: one PutObjectRetention and
// one HEAD each, at the prices of each object's class.
func lockCost(cfg *Config, objs []catalog.Object) (cost.Estimate, error) {
	byClass := map[cost.Class]int64{}
	for _, o := range objs {
		c := o.Class
		if c == "" {
			c = cfg.Class
		}
		byClass[cost.Class(c)]++
	}
	classes := make([]cost.Class, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool { return classes[i] < classes[j] })
	var es []cost.Estimate
	for _, c := range classes {
		e, err := cost.Default().LockExtensions(c, byClass[c])
		if err != nil {
			return cost.Estimate{}, fmt.Errorf("pricing lock extensions: %w", err)
		}
		es = append(es, e)
	}
	return cost.Sum(es...), nil
}

// LockReport is what verify found of the locks of the objects a store
// lists (VerifyLocks).
type LockReport struct {
	// Mode is the lock the target's objects are written with; "" when the
	// target is not locked (then nothing else is set).
	Mode store.LockMode
	// WarnBefore: locks of needed objects that end before it are Ending.
	WarnBefore time.Time
	Checked    int // objects of the catalogue found in the listing
	// Ending are objects a kept version needs (or records objects) whose
	// lock ends before WarnBefore, soonest first; Ended says whether a
	// lock has ended already.
	Ending []LockedObject
	// Unlocked are objects of the catalogue the store reports without a
	// lock (or credentials without s3:GetObjectRetention see none).
	Unlocked []string
}

// LockedObject is an object and the end of its lock.
type LockedObject struct {
	ID    string
	Until time.Time
	Ended bool
}

// OK reports whether every object is locked and no needed object's lock
// has ended. Locks ending soon are a warning: the next sync extends them.
func (r LockReport) OK() bool {
	if len(r.Unlocked) > 0 {
		return false
	}
	for _, o := range r.Ending {
		if o.Ended {
			return false
		}
	}
	return true
}

// VerifyLocks checks, on a locked target, the locks the listing reports
// for the catalogue's objects: objects without a lock, and objects a kept
// version needs whose lock ends within warn. It records in the catalogue
// the locks the store reports, so prune's dates follow extensions made
// elsewhere. Nothing is sent to the store.
func VerifyLocks(cfg *Config, l Listing, warn time.Duration) (LockReport, error) {
	var r LockReport
	_, pol := lockPolicy(cfg)
	r.Mode = pol.Mode
	if r.Mode == "" {
		r.Mode = store.LockMode(cfg.Target.LockMode)
	}
	if r.Mode == "" {
		return r, nil
	}
	now := cfg.now()
	r.WarnBefore = now.Add(warn)
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		return r, err
	}
	neededList, err := cfg.Catalog.NeededObjects(cfg.Target.ID, time.Time{})
	if err != nil {
		return r, err
	}
	needed := make(map[string]bool, len(neededList))
	for _, o := range neededList {
		needed[o.ArchiveID] = true
	}
	inStore := make(map[string]store.Archive, len(l.Archives))
	for _, a := range l.Archives {
		inStore[a.ID] = a
	}
	var changed []catalog.ObjectLock
	for _, o := range objs {
		a, ok := inStore[o.ArchiveID]
		if !ok {
			continue // Verify reports it missing
		}
		r.Checked++
		lock := a.Lock
		if lock.Mode == "" && !lock.LegalHold {
			r.Unlocked = append(r.Unlocked, o.ArchiveID)
		} else if needed[o.ArchiveID] && !lock.LegalHold && lock.Until.Before(r.WarnBefore) {
			r.Ending = append(r.Ending, LockedObject{ID: o.ArchiveID, Until: lock.Until, Ended: !lock.Until.After(now)})
		}
		if string(lock.Mode) != o.LockMode || !lock.Until.Equal(o.LockUntil) {
			changed = append(changed, catalog.ObjectLock{ArchiveID: o.ArchiveID, Mode: string(lock.Mode), Until: lock.Until})
		}
	}
	if len(changed) > 0 {
		if _, err := cfg.Catalog.SetObjectLocks(cfg.Target.ID, changed); err != nil {
			return r, err
		}
	}
	sort.Strings(r.Unlocked)
	sort.Slice(r.Ending, func(i, j int) bool {
		if !r.Ending[i].Until.Equal(r.Ending[j].Until) {
			return r.Ending[i].Until.Before(r.Ending[j].Until)
		}
		return r.Ending[i].ID < r.Ending[j].ID
	})
	return r, nil
}
