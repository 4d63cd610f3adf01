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

// Prune deletes from the store the archives and packs no kept version uses
// (after grsync forget), never before the earliest date each object may be
// deleted without a fee (its class's minimum storage duration; an Object
// Lock date, which nothing overrides), and optionally rewrites the live
// members of partly used packs into new packs where that is cheaper over a
// horizon than keeping them. Version records and catalogue snapshots are
// kept: recovery reads them (docs/DESIGN.md, "Prune").
//
// Ordering, so that a kept version never points at a deleted object
// whatever moment prune is killed: objects are condemned in one catalogue
// transaction that checks no kept version uses them (deduplication never
// uses a condemned object again), then deleted from the store, and each is
// marked deleted only after the store confirmed it. A run killed or
// refused along the way leaves condemned objects, which the next prune
// deletes first.

// DefaultRepackHorizon is what repacking is compared over when no horizon
// is given: a year.
const DefaultRepackHorizon = 365 * 24 * time.Hour

// PruneOptions says what prune may do.
type PruneOptions struct {
	Prices *cost.Prices
	// AllowEarly deletes objects inside their minimum storage duration,
	// paying the early-deletion fee; an Object Lock is never overridden.
	AllowEarly bool
	// Repack rewrites the live members of partly used packs into new packs
	// where that is cheaper over Horizon (0: DefaultRepackHorizon).
	Repack  bool
	Horizon time.Duration
	// Tier and Days are the retrievals of packs to repack on a cold store
	// ("" is Bulk: a repack is never urgent).
	Tier store.Tier
	Days int
	// Wait for those retrievals, polling every Poll (growing to PollMax).
	Wait          bool
	Poll, PollMax time.Duration
	Stop          <-chan struct{}
}

func (o PruneOptions) horizon() time.Duration {
	if o.Horizon > 0 {
		return o.Horizon
	}
	return DefaultRepackHorizon
}

func (o PruneOptions) tier() store.Tier {
	if o.Tier == "" {
		return store.TierBulk
	}
	return o.Tier
}

// PruneItem is an object prune looked at.
type PruneItem struct {
	Object catalog.Object
	// Class is its class in the price table; Priced is false on a store
	// that bills nothing (a local store).
	Class  cost.Class
	Priced bool
	// LiveBytes and DeadBytes are the stored bytes of its pieces that kept
	// versions use and that nothing uses; LiveBlobs and DeadBlobs count them.
	LiveBytes, DeadBytes int64
	LiveBlobs, DeadBlobs int64
	Earliest             Earliest
	// Fee is what deleting it now pays for the rest of its minimum storage
	// duration (total 0 when nothing).
	Fee cost.Estimate
}

// Free reports whether the object may be deleted at now without a fee.
func (it PruneItem) Free(now time.Time) bool { return !it.Earliest.At.After(now) }

// Locked reports whether an Object Lock forbids deleting it at now.
func (it PruneItem) Locked(now time.Time) bool { return it.Earliest.Lock.After(now) }

// RepackItem is a partly used pack, and what rewriting its live members
// would cost against keeping it as it is.
type RepackItem struct {
	PruneItem
	// Retrieval is reading the pack back (its live members).
	Retrieval cost.RestoreEstimate
	// Keep is storing the pack as it is over the horizon.
	Keep cost.Estimate
	// Cost is repacking: the retrieval, uploading the live members as a
	// new pack, storing it over the horizon (at least its minimum storage
	// duration), and an early-deletion fee of the old pack if any.
	Cost cost.Estimate
	// Worth: repacking is cheaper (on a store that bills nothing: the pack
	// has dead bytes). Why says why not.
	Worth bool
	Why   string
}

// PrunePlan is what prune will do, for the user to see (and price) first.
type PrunePlan struct {
	Now     time.Time
	Priced  bool
	Horizon time.Duration
	// Delete are the objects no kept version uses that are deleted now:
	// free, or early with AllowEarly (never under an Object Lock).
	Delete []PruneItem
	// Waiting are unused objects kept until their earliest-delete date,
	// each with what deleting it now would pay.
	Waiting []PruneItem
	// Condemned are objects an earlier prune condemned whose deletion the
	// store has not confirmed (a prune killed, or refused by append-only
	// credentials): deleted first.
	Condemned []PruneItem
	// Partial are packs kept versions use in part.
	Partial []PruneItem
	// Repack are the partial packs looked at for repacking (with Repack).
	Repack []RepackItem
	// KeptMeta counts records and snapshot objects, which prune keeps.
	KeptMeta int
	// Fees are the early-deletion fees of Delete; RepackCost what the
	// repacks chosen cost; DeadMonthly what the unused bytes of partial
	// packs cost a month; Saved the monthly storage the deletions end.
	Fees, RepackCost, DeadMonthly, Saved cost.Estimate
}

// Total is the plan's estimate, which --max-cost is held against: the
// early-deletion fees and the repacks.
func (p *PrunePlan) Total() cost.Money { return p.Fees.Total + p.RepackCost.Total }

// DeleteBytes is the stored size of the objects the plan deletes.
func (p *PrunePlan) DeleteBytes() int64 {
	var n int64
	for _, it := range append(append([]PruneItem(nil), p.Delete...), p.Condemned...) {
		n += it.Object.Size
	}
	return n
}

// Repacks returns the repacks chosen.
func (p *PrunePlan) Repacks() []RepackItem {
	var out []RepackItem
	for _, r := range p.Repack {
		if r.Worth {
			out = append(out, r)
		}
	}
	return out
}

// PlanPrune reads what no kept version uses and what may be deleted now.
// It changes nothing.
func PlanPrune(cfg *Config, opt PruneOptions) (*PrunePlan, error) {
	if opt.Prices == nil {
		opt.Prices = cost.Default()
	}
	uses, err := cfg.Catalog.ObjectUses(cfg.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	now := cfg.now()
	plan := &PrunePlan{Now: now, Horizon: opt.horizon()}
	_, plan.Priced = PriceClass(cfg.Target.Location, "", "")
	saved := map[cost.Class][]cost.Objects{}
	var fees, dead []cost.Estimate
	for _, u := range uses {
		if !u.Prunable() {
			plan.KeptMeta++
			continue
		}
		it, err := cfg.pruneItem(opt.Prices, u, now)
		if err != nil {
			return nil, err
		}
		switch {
		case !u.Condemned.IsZero():
			plan.Condemned = append(plan.Condemned, it)
		case !u.Live():
			if it.Free(now) || (opt.AllowEarly && !it.Locked(now)) {
				plan.Delete = append(plan.Delete, it)
				fees = append(fees, it.Fee)
				if _, err := opt.Prices.Class(it.Class); err == nil && it.Priced {
					saved[it.Class] = append(saved[it.Class], cost.Objects{Count: 1, Bytes: u.Size})
				}
			} else {
				plan.Waiting = append(plan.Waiting, it)
			}
		case u.Kind == catalog.ObjectPack && u.LiveBytes < u.BlobBytes:
			plan.Partial = append(plan.Partial, it)
			if _, err := opt.Prices.Class(it.Class); err == nil && it.Priced {
				e, err := opt.Prices.Bytes(it.Class, "unused bytes of partly used packs", it.DeadBytes, 1)
				if err != nil {
					return nil, err
				}
				dead = append(dead, e)
			}
		}
	}
	plan.Fees = cost.Sum(fees...)
	plan.DeadMonthly = cost.Sum(dead...)
	var monthly []cost.Estimate
	for _, c := range sortedClasses(saved) {
		e, err := opt.Prices.Storage(c, saved[c]...)
		if err != nil {
			return nil, err
		}
		monthly = append(monthly, e)
	}
	plan.Saved = cost.Sum(monthly...)
	sort.Slice(plan.Waiting, func(i, j int) bool { return plan.Waiting[i].Earliest.At.Before(plan.Waiting[j].Earliest.At) })
	if opt.Repack {
		var costs []cost.Estimate
		for _, it := range plan.Partial {
			r, err := cfg.repackItem(opt, it, now)
			if err != nil {
				return nil, err
			}
			plan.Repack = append(plan.Repack, r)
			if r.Worth {
				costs = append(costs, r.Cost)
			}
		}
		plan.RepackCost = cost.Sum(costs...)
	}
	return plan, nil
}

func sortedClasses[V any](m map[cost.Class]V) []cost.Class {
	out := make([]cost.Class, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// pruneItem describes object u at now.
func (c *Config) pruneItem(p *cost.Prices, u catalog.ObjectUse, now time.Time) (PruneItem, error) {
	it := PruneItem{Object: u.Object, LiveBytes: u.LiveBytes, DeadBytes: u.BlobBytes - u.LiveBytes,
		LiveBlobs: u.LiveBlobs, DeadBlobs: u.Blobs - u.LiveBlobs}
	if u.Kind == catalog.ObjectArchive && !u.Live() {
		it.DeadBytes = u.Size
	}
	it.Class, it.Priced = PriceClass(c.Target.Location, u.Class, c.Class)
	it.Earliest = c.earliestDelete(p, u.Object)
	if it.Priced && !it.Free(now) {
		if _, err := p.Class(it.Class); err == nil {
			fee, err := p.EarlyDeletion(cost.Object{Class: it.Class, Size: u.Size, Uploaded: u.Uploaded}, now)
			if err != nil {
				return it, err
			}
			it.Fee = fee
		}
	}
	return it, nil
}

// repackItem weighs repacking the partly used pack it at now.
func (c *Config) repackItem(opt PruneOptions, it PruneItem, now time.Time) (RepackItem, error) {
	r := RepackItem{PruneItem: it}
	switch {
	case it.Locked(now):
		r.Why = fmt.Sprintf("locked until %s", it.Earliest.Lock.UTC().Format(time.DateOnly))
		return r, nil
	case !it.Free(now) && !opt.AllowEarly:
		r.Why = fmt.Sprintf("inside its minimum storage duration until %s (--allow-early-delete pays the fee)", it.Earliest.At.UTC().Format(time.DateOnly))
		return r, nil
	case !it.Priced:
		r.Worth = it.DeadBytes > 0
		return r, nil
	}
	p := opt.Prices
	if _, err := p.Class(it.Class); err != nil {
		r.Why = fmt.Sprintf("its class %q is not in the price table", it.Class)
		return r, nil
	}
	months := opt.horizon().Hours() / 24 / 30
	ret := cost.Retrieval{Objects: 1, Bytes: it.Object.Size}
	if it.Class != cost.Vault {
		// S3 restores the whole object; only the live members are downloaded.
		ret.Ranges, ret.RangeBytes = it.LiveBlobs, it.LiveBytes
	}
	var err error
	if r.Retrieval, err = p.Restore(it.Class, cost.RestoreOptions{Tier: opt.tier(), Days: opt.Days}, ret); err != nil {
		return r, err
	}
	keep, err := p.Storage(it.Class, cost.Objects{Count: 1, Bytes: it.Object.Size})
	if err != nil {
		return r, err
	}
	r.Keep = keep.Over(months)
	up, err := p.Upload(it.Class, cost.UploadOptions{}, cost.Objects{Count: 1, Bytes: it.LiveBytes})
	if err != nil {
		return r, err
	}
	r.Cost = cost.Sum(r.Retrieval.Estimate, up.Requests, up.Monthly.Over(max(months, p.MinimumMonths(it.Class))), it.Fee)
	r.Worth = r.Cost.Total < r.Keep.Total
	if !r.Worth {
		r.Why = fmt.Sprintf("repacking costs %s, keeping it %s over %s", r.Cost.Total, r.Keep.Total, horizonText(opt.horizon()))
	}
	return r, nil
}

// horizonText says a horizon in months or days.
func horizonText(d time.Duration) string {
	days := int(d.Hours() / 24)
	if days%30 == 0 && days >= 30 {
		if days/30 == 1 {
			return "1 month"
		}
		return fmt.Sprintf("%d months", days/30)
	}
	if days == 365 {
		return "a year"
	}
	return fmt.Sprintf("%d days", days)
}

// HorizonText says the plan's repack horizon for people.
func (p *PrunePlan) HorizonText() string { return horizonText(p.Horizon) }

// Deletions the store confirmed are marked in the catalogue markBatch at
// a time, or after markEvery.
const (
	markBatch = 500
	markEvery = 2 * time.Second
)

// PruneResult is what prune did.
type PruneResult struct {
	Deleted      int   // objects deleted from the store
	DeletedBytes int64 // their stored bytes
	AlreadyGone  int   // condemned objects the store no longer had
	// Denied are objects the credentials may not delete (append-only):
	// they stay condemned, for a prune with other credentials.
	Denied []catalog.Object
	// Locked are objects the store refused to delete under an Object Lock.
	Locked []Failure
	// Failed are deletions that failed otherwise; they stay condemned.
	Failed []Failure
	// Fees is what the early deletions done pay.
	Fees cost.Money
	// Repacked counts packs whose live members now live elsewhere;
	// NewPacks the packs written for them, RepackedBytes their stored
	// bytes; Reused the pieces re-pointed to content already stored.
	Repacked, NewPacks, Reused int
	RepackedBytes              int64
	// PendingRetrievals: packs to repack whose retrieval is not ready yet
	// (run prune again later, or with --wait).
	PendingRetrievals int
	Interrupted       bool
}

// Prune carries out a plan: repacks first (when asked), then condemns the
// objects no kept version uses and deletes them from the store, marking
// each deleted once the store confirmed it.
func Prune(ctx context.Context, cfg *Config, opt PruneOptions, plan *PrunePlan) (PruneResult, error) {
	var res PruneResult
	if opt.Prices == nil {
		opt.Prices = cost.Default()
	}
	// Objects a killed run stored without recording them (a new pack of a
	// killed repack, say) are recorded first: a repack then re-points to
	// their content instead of writing it again, and what nothing uses is
	// deleted by the usual rules.
	if _, err := AdoptOrphans(ctx, cfg); err != nil {
		return res, fmt.Errorf("recording what interrupted runs stored: %w", err)
	}
	if opt.Repack {
		if err := repackAll(ctx, cfg, opt, plan.Repacks(), &res); err != nil {
			return res, err
		}
		if res.Repacked > 0 || res.NewPacks > 0 {
			// The new packs' content goes into the store's version records
			// before any old pack is deleted, so a catalogue rebuilt from the
			// store finds it.
			if _, err := StoreRecords(ctx, cfg, 0); err != nil {
				return res, fmt.Errorf("storing the version records of the new packs (nothing was deleted): %w", err)
			}
		}
	}
	// What to delete is read again: a repack has just freed its packs, and
	// the catalogue is the truth, not the plan shown.
	fresh, err := PlanPrune(cfg, PruneOptions{Prices: opt.Prices, AllowEarly: opt.AllowEarly})
	if err != nil {
		return res, err
	}
	ids := make([]int64, 0, len(fresh.Delete))
	fee := map[int64]cost.Money{}
	for _, it := range fresh.Delete {
		ids = append(ids, it.Object.ID)
		fee[it.Object.ID] = it.Fee.Total
	}
	if _, err := cfg.Catalog.Condemn(cfg.Target.ID, ids, cfg.now()); err != nil {
		return res, fmt.Errorf("condemning unused objects: %w", err)
	}
	uses, err := cfg.Catalog.ObjectUses(cfg.Target.ID)
	if err != nil {
		return res, fmt.Errorf("reading the catalogue: %w", err)
	}
	var doomed []catalog.Object
	for _, u := range uses {
		if !u.Condemned.IsZero() {
			doomed = append(doomed, u.Object)
		}
	}
	// The store's copy of the catalogue learns what is condemned (and
	// where a repack moved pieces) before anything is deleted: a catalogue
	// recovered from it never deduplicates against, nor restores from, an
	// object prune deletes. Version records carry neither.
	if len(doomed) > 0 {
		if _, err := MaintainSnapshots(ctx, cfg, SnapshotPolicy{Force: true}); err != nil {
			return res, fmt.Errorf("storing a catalogue snapshot before deleting (nothing was deleted): %w", err)
		}
	}
	// Deletions run jobs at a time. The objects the store confirmed gone
	// are marked deleted in batches (one transaction each): one killed
	// before its batch is recorded stays condemned, and the next prune
	// finds it gone.
	var mu sync.Mutex
	var fatal error
	var confirmed []int64
	flush := func() {
		if len(confirmed) == 0 || fatal != nil {
			return
		}
		if err := cfg.Catalog.MarkObjectsDeleted(cfg.Target.ID, confirmed, cfg.now()); err != nil {
			fatal = fmt.Errorf("recording deletions (the store deleted the objects; the next prune records them): %w", err)
		}
		confirmed = confirmed[:0]
	}
	last := time.Now()
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(confirmed) >= markBatch || time.Since(last) > markEvery {
			flush()
			last = time.Now()
		}
		if stopRequested(ctx, opt.Stop) {
			res.Interrupted = true
		}
		return res.Interrupted || fatal != nil
	}
	eachObject(cfg.jobs(), doomed, stopped, func(o catalog.Object) {
		err := cfg.Store.Delete(ctx, o.ArchiveID)
		gone := errors.Is(err, store.ErrNotFound)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case gone:
			confirmed = append(confirmed, o.ID)
			res.AlreadyGone++
		case err == nil:
			confirmed = append(confirmed, o.ID)
			res.Deleted++
			res.DeletedBytes += o.Size
			res.Fees += fee[o.ID]
		case errors.Is(err, store.ErrAccessDenied):
			res.Denied = append(res.Denied, o)
		case errors.Is(err, store.ErrLocked):
			res.Locked = append(res.Locked, Failure{Path: o.ArchiveID, Err: err})
		case ctx.Err() != nil:
			res.Interrupted = true
		default:
			res.Failed = append(res.Failed, Failure{Path: o.ArchiveID, Err: err})
		}
	})
	flush()
	if fatal != nil {
		return res, fatal
	}
	sort.Slice(res.Denied, func(i, j int) bool { return res.Denied[i].ID < res.Denied[j].ID })
	sort.Slice(res.Failed, func(i, j int) bool { return res.Failed[i].Path < res.Failed[j].Path })
	sort.Slice(res.Locked, func(i, j int) bool { return res.Locked[i].Path < res.Locked[j].Path })
	return res, nil
}
