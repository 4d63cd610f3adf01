package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/faulty"
)

// lockingStore locks what it stores as an S3 bucket with Object Lock
// does: each object until its clock's now + days (to the second); a lock
// is extended, never shortened (like s3store, it reads the lock first and
// sends nothing when it lasts long enough); a locked object cannot be
// deleted. It counts the PutObjectRetention requests it would send.
type lockingStore struct {
	store.Store
	now  func() time.Time
	mode store.LockMode
	days int

	mu         sync.Mutex
	locks      map[string]store.Lock
	extends    int  // PutObjectRetention requests
	shortened  bool // a lock was ever moved earlier
	denyExtend bool // the credentials may not set retention
}

func newLockingStore(s store.Store, now func() time.Time, days int) *lockingStore {
	return &lockingStore{Store: s, now: now, mode: store.LockGovernance, days: days, locks: map[string]store.Lock{}}
}

func (s *lockingStore) Put(ctx context.Context, body io.Reader, desc string) (store.Archive, error) {
	a, err := s.Store.Put(ctx, body, desc)
	if err != nil {
		return a, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Lock = store.Lock{Mode: s.mode, Until: s.now().Add(time.Duration(s.days) * 24 * time.Hour).Truncate(time.Second).Add(time.Second)}
	s.locks[a.ID] = a.Lock
	return a, nil
}

func (s *lockingStore) Inventory(ctx context.Context, r store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	return s.Store.Inventory(ctx, r, func(a store.Archive) error {
		a.Lock = s.lock(a.ID)
		return fn(a)
	})
}

func (s *lockingStore) Delete(ctx context.Context, id string) error {
	if l := s.lock(id); l.Holds(s.now()) {
		return store.Permanent(fmt.Errorf("archive %s: %w", id, store.ErrLocked))
	}
	return s.Store.Delete(ctx, id)
}

func (s *lockingStore) lock(id string) store.Lock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[id]
}

func (s *lockingStore) setLock(id string, l store.Lock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locks[id] = l
}

func (s *lockingStore) LockPolicy() store.LockPolicy {
	return store.LockPolicy{Mode: s.mode, Days: s.days}
}

func (s *lockingStore) Retention(_ context.Context, id string) (store.Lock, error) {
	return s.lock(id), nil
}

func (s *lockingStore) ExtendRetention(_ context.Context, id string, until time.Time) (store.Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.locks[id]
	if !ok {
		return store.Lock{}, fmt.Errorf("archive %s: %w", id, store.ErrNotFound)
	}
	if cur.Mode != "" && !cur.Until.Before(until) {
		return cur, nil
	}
	if s.denyExtend {
		return store.Lock{}, store.Permanent(fmt.Errorf("set retention: %w", store.ErrAccessDenied))
	}
	if until.Before(cur.Until) {
		s.shortened = true
	}
	s.extends++
	mode := cur.Mode
	if mode == "" {
		mode = s.mode
	}
	l := store.Lock{Mode: mode, Until: until}
	s.locks[id] = l
	return l, nil
}

// lockedSetup is setup with a store that locks for 210 days on a clock
// the test moves; each file gets an object of its own.
func lockedSetup(t *testing.T) (*Config, *lockingStore, *time.Time, string) {
	cfg, dir := setup(t, 0)
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ls := newLockingStore(cfg.Store, func() time.Time { return clock }, 210)
	cfg.Store, cfg.Now, cfg.Class, cfg.HotClass, cfg.NoPacking = ls, func() time.Time { return clock }, "DEEP_ARCHIVE", "STANDARD", true
	return cfg, ls, &clock, dir
}

func writeSrc(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every object a sync stores is recorded with the lock the store gave it.
// A later sync near the end of the locks extends those that kept versions
// need (and the records objects) to now + 210 days, records the new dates
// and prices them first; an object only a forgotten version used is left
// to run out; a lock is never shortened.
func TestSyncRecordsAndExtendsLocks(t *testing.T) {
	cfg, ls, clock, dir := lockedSetup(t)
	ctx := context.Background()
	src := filepath.Join(dir, "src")
	writeSrc(t, filepath.Join(src, "a"), "first a")
	writeSrc(t, filepath.Join(src, "b"), "b")
	res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || res.Uploaded != 2 || len(res.Failures) > 0 {
		t.Fatalf("first sync: %+v %v", res, err)
	}
	if res.Locks.Mode != store.LockGovernance || res.Locks.Due != 0 || ls.extends != 0 {
		t.Errorf("a fresh sync has nothing to extend: %+v, %d requests", res.Locks, ls.extends)
	}
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 { // a, b, the records and the catalogue snapshot
		t.Fatalf("%d objects, want 2 packs, a records object and a snapshot", len(objs))
	}
	for _, o := range objs {
		l := ls.lock(o.ArchiveID)
		if o.LockMode != "GOVERNANCE" || !o.LockUntil.Equal(l.Until) || o.LockUntil.Before(clock.Add(210*24*time.Hour)) {
			t.Errorf("%s object %s recorded lock %s %v; the store holds it until %v", o.Kind, o.ArchiveID, o.LockMode, o.LockUntil, l.Until)
		}
	}

	// a changes; its first version is forgotten: its object is no longer needed.
	oldA, ok, err := cfg.Catalog.Latest(cfg.Target.ID, filepath.Join(src, "a"))
	if err != nil || !ok || oldA.ArchiveID == "" {
		t.Fatalf("the first version of a: %+v %v %v", oldA, ok, err)
	}
	*clock = clock.Add(24 * time.Hour)
	writeSrc(t, filepath.Join(src, "a"), "second a, longer")
	if _, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Catalog.Forget([]int64{oldA.ID}, *clock); err != nil {
		t.Fatal(err)
	}
	oldLock := ls.lock(oldA.ArchiveID)

	// 190 days later every lock ends within 30 days.
	*clock = clock.Add(190 * 24 * time.Hour)
	before, _ := cfg.Catalog.Objects(cfg.Target.ID)
	rec := &eventRecorder{}
	cfg.Observer = rec
	res, err = Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Locks.Failures) > 0 {
		t.Fatalf("third sync: %+v %v", res.Locks, err)
	}
	wantUntil := clock.Add(210 * 24 * time.Hour)
	// b, the new a, and two records objects (the third run changed no
	// file). The forget made a catalogue snapshot due: the run stored one,
	// locked afresh, and the snapshots before it are left to run out.
	if !res.Snapshot.Taken {
		t.Errorf("a forget since the newest snapshot makes one due: %+v", res.Snapshot)
	}
	if res.Locks.Due != 4 || res.Locks.Extended != 4 || ls.extends != 4 || !res.Locks.Until.Equal(wantUntil) {
		t.Errorf("extended %d of %d due (%d requests) until %v; want 4 until %v", res.Locks.Extended, res.Locks.Due, ls.extends, res.Locks.Until, wantUntil)
	}
	price, _ := cost.Default().LockExtensions(cost.DeepArchive, 2)
	hot, _ := cost.Default().LockExtensions(cost.Standard, 2)
	if res.Locks.Cost.Total != price.Total+hot.Total {
		t.Errorf("priced %s, want 2 DEEP_ARCHIVE and 2 STANDARD extensions: %s", res.Locks.Cost.Total, price.Total+hot.Total)
	}
	if !rec.saw("extending the Object Lock of 4 objects") {
		t.Errorf("no notice before extending: %v", rec.notices)
	}
	if got := ls.lock(oldA.ArchiveID); got != oldLock {
		t.Errorf("the object only a forgotten version used was extended: %s -> %s", oldLock, got)
	}
	after, _ := cfg.Catalog.Objects(cfg.Target.ID)
	newestSnap := int64(0)
	for _, o := range after {
		if o.Kind == catalog.ObjectSnapshot {
			newestSnap = max(newestSnap, o.ID)
		}
	}
	for _, o := range after {
		if o.ArchiveID == oldA.ArchiveID || o.Kind == catalog.ObjectSnapshot {
			if o.ID == newestSnap && o.LockUntil.Before(wantUntil) {
				t.Errorf("the new snapshot is locked until %v, before %v", o.LockUntil, wantUntil)
			}
			continue
		}
		if !o.LockUntil.Equal(wantUntil) || !ls.lock(o.ArchiveID).Until.Equal(wantUntil) {
			t.Errorf("%s %s: recorded until %v, store %v; want %v", o.Kind, o.ArchiveID, o.LockUntil, ls.lock(o.ArchiveID).Until, wantUntil)
		}
	}
	if len(after) != len(before)+1 {
		t.Errorf("objects %d before, %d after a run that stored nothing new but a snapshot", len(before), len(after))
	}

	// Asked for an earlier date (a clock set back, a margin covering
	// everything), nothing is shortened and no request is sent.
	*clock = clock.Add(-100 * 24 * time.Hour)
	n := ls.extends
	lr, err := ExtendLocks(ctx, cfg, LockOptions{Margin: 400 * 24 * time.Hour})
	if err != nil || len(lr.Failures) > 0 {
		t.Fatalf("extend with an early clock: %+v %v", lr, err)
	}
	if ls.extends != n || ls.shortened {
		t.Errorf("%d requests sent, shortened %v: a lock must never move earlier", ls.extends-n, ls.shortened)
	}
	for _, o := range mustObjects(t, cfg) {
		if o.ArchiveID != oldA.ArchiveID && o.Kind != catalog.ObjectSnapshot && !o.LockUntil.Equal(wantUntil) {
			t.Errorf("%s: recorded until %v after an early-clock run, want %v still", o.ArchiveID, o.LockUntil, wantUntil)
		}
	}
	dry, err := ExtendLocks(ctx, cfg, LockOptions{Margin: 400 * 24 * time.Hour, DryRun: true})
	if err != nil || dry.Due == 0 || dry.Extended != 0 || ls.extends != n {
		t.Errorf("dry run: %+v %v, %d requests", dry, err, ls.extends-n)
	}
}

func mustObjects(t *testing.T, cfg *Config) []catalog.Object {
	t.Helper()
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// Credentials that may not set retention: one failure says so, with what
// they need, and nothing is recorded as extended.
func TestExtendLocksRefused(t *testing.T) {
	cfg, ls, clock, dir := lockedSetup(t)
	ctx := context.Background()
	for i := range 3 {
		writeSrc(t, filepath.Join(dir, "src", fmt.Sprint(i)), fmt.Sprint("content ", i))
	}
	if _, err := Sync(ctx, cfg, SyncOptions{Sources: []string{filepath.Join(dir, "src")}}); err != nil {
		t.Fatal(err)
	}
	ls.denyExtend = true
	before := mustObjects(t, cfg)
	*clock = clock.Add(200 * 24 * time.Hour)
	lr, err := ExtendLocks(ctx, cfg, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Due != 5 || lr.Extended != 0 || len(lr.Failures) != 1 { // three files, the records, the snapshot
		t.Fatalf("refused extensions: %+v", lr)
	}
	if msg := lr.Failures[0].Err.Error(); !strings.Contains(msg, "5 locks not extended") || !strings.Contains(msg, "s3:PutObjectRetention") ||
		!errors.Is(lr.Failures[0].Err, store.ErrAccessDenied) {
		t.Errorf("failure: %v", msg)
	}
	after := mustObjects(t, cfg)
	for i := range before {
		if !after[i].LockUntil.Equal(before[i].LockUntil) {
			t.Errorf("%s: recorded %v, was %v, though nothing was extended", after[i].ArchiveID, after[i].LockUntil, before[i].LockUntil)
		}
	}
}

// sizeLiar reports one byte more than was stored for its first Put: the
// engine must then remove the object it cannot record as the pack.
type sizeLiar struct {
	store.Store
	mu   sync.Mutex
	done bool
}

func (s *sizeLiar) Put(ctx context.Context, body io.Reader, desc string) (store.Archive, error) {
	a, err := s.Store.Put(ctx, body, desc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && !s.done {
		s.done = true
		a.Size++
	}
	return a, err
}

// A pack the run cannot use must be deleted; when the store refuses
// (append-only credentials, or its Object Lock), the sync finishes its
// other work, says what it could not delete and why, and records the
// object as one no version needs (for prune), not as deleted.
func TestSyncRecordsWhatItCouldNotDelete(t *testing.T) {
	for _, locked := range []bool{false, true} {
		t.Run(fmt.Sprintf("locked=%v", locked), func(t *testing.T) {
			cfg, dir := setup(t, 0)
			var inner store.Store = cfg.Store
			var lk store.Locker
			if locked {
				clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
				ls := newLockingStore(inner, func() time.Time { return clock }, 210)
				inner, lk, cfg.Now = ls, ls, func() time.Time { return clock }
			}
			f := faulty.New(inner, faulty.Config{})
			f.SetAppendOnly(!locked)
			cfg.Store = store.WithLocker(&sizeLiar{Store: f}, lk)
			cfg.NoPacking = true
			ctx := context.Background()
			src := filepath.Join(dir, "src")
			writeSrc(t, filepath.Join(src, "f"), "the file")
			res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failures) != 1 || len(res.Undeleted) != 1 {
				t.Fatalf("want the file failed and its object not deleted: %+v", res)
			}
			u := res.Undeleted[0]
			if u.Locked != locked || (locked && u.Until.IsZero()) {
				t.Errorf("undeleted %+v, want locked %v", u, locked)
			}
			if !locked && f.Stats()[faulty.OpDelete].Denied != 1 {
				t.Errorf("deletes denied: %d, want 1", f.Stats()[faulty.OpDelete].Denied)
			}
			var rec *catalog.Object
			for _, o := range mustObjects(t, cfg) {
				if o.ArchiveID == u.ArchiveID {
					rec = &o
				}
			}
			if rec == nil || !rec.Deleted.IsZero() {
				t.Fatalf("the object the store keeps must be recorded, not deleted: %+v", rec)
			}
			needed, _ := cfg.Catalog.NeededObjects(cfg.Target.ID, time.Time{})
			for _, o := range needed {
				if o.ArchiveID == u.ArchiveID {
					t.Error("the object of the failed upload is recorded as needed")
				}
			}
			if locked && (rec.LockMode != "GOVERNANCE" || !rec.LockUntil.Equal(u.Until)) {
				t.Errorf("recorded lock %s %v, want its lock until %v", rec.LockMode, rec.LockUntil, u.Until)
			}
			// The next run stores the file again.
			res, err = Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
			if err != nil || res.Uploaded != 1 || len(res.Failures) > 0 || len(res.Undeleted) > 0 {
				t.Fatalf("second sync: %+v %v", res, err)
			}
		})
	}
}

// verify's lock check: an object the store holds without a lock, and the
// locks of needed objects ending within the warning, ended ones apart;
// the catalogue learns the locks the store reports.
func TestVerifyLocks(t *testing.T) {
	cfg, ls, clock, dir := lockedSetup(t)
	ctx := context.Background()
	writeSrc(t, filepath.Join(dir, "src", "a"), "a")
	writeSrc(t, filepath.Join(dir, "src", "b"), "bb")
	if _, err := Sync(ctx, cfg, SyncOptions{Sources: []string{filepath.Join(dir, "src")}}); err != nil {
		t.Fatal(err)
	}
	objs := mustObjects(t, cfg)
	listing := func() Listing {
		l, err := FetchInventory(ctx, cfg, false, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	r, err := VerifyLocks(cfg, listing(), 30*24*time.Hour)
	if err != nil || !r.OK() || r.Checked != 4 || len(r.Ending) != 0 || len(r.Unlocked) != 0 { // a, b, the records, the snapshot
		t.Fatalf("fresh locks: %+v %v", r, err)
	}
	ls.setLock(objs[0].ArchiveID, store.Lock{})
	ls.setLock(objs[1].ArchiveID, store.Lock{Mode: store.LockGovernance, Until: clock.Add(20 * 24 * time.Hour)})
	ls.setLock(objs[2].ArchiveID, store.Lock{Mode: store.LockGovernance, Until: clock.Add(-time.Hour)})
	r, err = VerifyLocks(cfg, listing(), 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || len(r.Unlocked) != 1 || r.Unlocked[0] != objs[0].ArchiveID || len(r.Ending) != 2 {
		t.Fatalf("want one unlocked and two ending: %+v", r)
	}
	if r.Ending[0].ID != objs[2].ArchiveID || !r.Ending[0].Ended || r.Ending[1].Ended {
		t.Errorf("ending, soonest first, the ended one marked: %+v", r.Ending)
	}
	after := mustObjects(t, cfg)
	if after[0].LockMode != "" || !after[1].LockUntil.Equal(clock.Add(20*24*time.Hour)) {
		t.Errorf("the catalogue did not learn the store's locks: %+v", after[:2])
	}
	// A target without a lock has nothing to check.
	plain, _ := setup(t, 0)
	if r, err := VerifyLocks(plain, Listing{}, time.Hour); err != nil || r.Mode != "" || !r.OK() {
		t.Errorf("unlocked target: %+v %v", r, err)
	}
}
