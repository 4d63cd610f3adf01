package engine

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// retrievesRanges reports whether a retrieval of obj can fetch a byte
// range of it only: objects in a Glacier vault (PriceClass VAULT), whose jobs
// take a RetrievalByteRange and are billed by the bytes they fetch. S3
// restores whole objects (and then serves ranged GETs); the local store
// reads any range at no cost. The class decides, not the store at hand,
// so that a dry run, which opens no store, plans the same.
func retrievesRanges(cfg *Config, obj catalog.Object) bool {
	c, ok := PriceClass(cfg.Target.Location, obj.Class, cfg.Class)
	return ok && c == cost.Vault
}

// chooseRange returns the byte range of an object of size bytes to
// retrieve when the restore reads bytes [lo, hi) of it, or (0, 0) for the
// whole object.
//
// A range is taken when it is less than half the object. A vault job costs
// the same per request whether it fetches a range or the whole archive;
// what a range saves is the per-GB fee ($0.01/GB Standard, $0.03
// Expedited, $0.0025 Bulk) and the transfer out of AWS ($0.09/GB). By
// internal/cost's table, one file in a 1 MiB range of a 64 MiB pack costs
// $0.00015 at Standard against $0.0063 for the whole pack, $0.00012
// against $0.0058 at Bulk, $0.010 against $0.018 at Expedited (whose $0.01
// job fee is the same for both). A range of half the pack saves half of
// that: little, and the whole archive buys more, since its download is
// verified against the archive's tree hash end to end and a later restore
// of other files of the pack reuses the job (within its 24 hours) instead
// of paying another request and waiting hours again.
//
// The range must be megabyte-aligned (Glacier refuses others). The
// smallest tree-hash aligned one (a node of the archive's tree) is
// preferred when it is at most twice the smallest megabyte-aligned one and
// less than half the object: Glacier sends tree hashes only for an aligned
// range's output, so the vault store verifies it chunk by chunk and
// fetches a damaged chunk again. A node can be far larger (bytes either
// side of the middle of the pack need the root, the whole); then the
// megabyte-aligned range is taken, whose output arrives without tree
// hashes. Pack members are authenticated and hashed on restore either way.
func chooseRange(lo, hi, size int64) (int64, int64) {
	if hi <= lo || lo < 0 || hi > size {
		return 0, 0
	}
	mOff, mLen := treehash.MiBCover(lo, hi-lo, size)
	if nOff, nLen := treehash.NodeCover(lo, hi-lo, size); nLen <= 2*mLen && 2*nLen < size {
		return nOff, nLen
	}
	if mLen == 0 || 2*mLen >= size {
		return 0, 0
	}
	return mOff, mLen
}

// wholeObject is an object read whole, whatever its size: only a
// retrieval of all of it will do.
func wholeObject(archiveID string) *RestoreItem {
	return &RestoreItem{ArchiveID: archiveID, hi: math.MaxInt64}
}

// covered reports whether r (a store.Retrieval, or one the catalogue
// records) can read every byte the restore reads of the object.
func (it *RestoreItem) covered(r interface{ Covers(off, length int64) bool }) bool {
	return it.hi <= it.lo || r.Covers(it.lo, it.hi-it.lo)
}

// retrieval returns a usable retrieval for an object: the one recorded in
// the catalogue when it is still pending or unexpired and its range (if
// any) holds every byte the restore reads, else a new request for the
// plan's range, which is recorded at once (replacing the old one) so an
// interrupted run never pays twice.
func retrieval(ctx context.Context, cfg *Config, opt RestoreOptions, it *RestoreItem) (store.Retrieval, bool, error) {
	if old, ok, err := cfg.Catalog.Retrieval(cfg.Target.ID, catalog.KindArchive, it.ArchiveID); err != nil {
		return store.Retrieval{}, false, fmt.Errorf("reading the catalogue: %w", err)
	} else if ok && (old.Expires.IsZero() || old.Expires.After(cfg.now())) && old.JobID != "" && it.covered(old) {
		return store.Retrieval{
			Kind: store.KindArchive, ArchiveID: it.ArchiveID, Tier: store.Tier(old.Tier), Days: old.Days,
			Offset: old.Offset, Length: old.Length,
			JobID: old.JobID, Ready: old.Ready, Size: old.Size, TreeHash: old.TreeHash,
			Requested: old.Requested, Expires: old.Expires,
		}, true, nil
	}
	r, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: it.ArchiveID, Tier: opt.Tier, Days: opt.Days,
		Offset: it.Offset, Length: it.Length})
	if err != nil {
		what := "archive " + it.ArchiveID
		if it.Ranged() {
			what += fmt.Sprintf(" (bytes %d-%d)", it.Offset, it.Offset+it.Length-1)
		}
		return r, false, fmt.Errorf("requesting %s: %w", what, err)
	}
	if r.JobID != "" {
		if err := saveRetrieval(cfg, r); err != nil {
			return r, false, err
		}
	}
	return r, false, nil
}

// refreshRetrieval polls r, a retrieval of it's object that is not ready
// yet. One whose job or output is gone (expired), or that does not hold
// what is read of the object, is requested again: the old job is paid
// for, but what it retrieved is of no use. One that became ready is
// recorded as such.
func refreshRetrieval(ctx context.Context, cfg *Config, opt RestoreOptions, it *RestoreItem, r store.Retrieval) (store.Retrieval, error) {
	if r.Ready && it.covered(r) {
		return r, nil
	}
	r, err := cfg.Store.Poll(ctx, r)
	if errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotFound) || err == nil && !it.covered(r) {
		_ = cfg.Catalog.DeleteRetrieval(cfg.Target.ID, catalog.KindArchive, it.ArchiveID)
		r, _, err = retrieval(ctx, cfg, opt, it)
	}
	if err != nil {
		return r, fmt.Errorf("checking the retrieval of %s: %w", it.ArchiveID, err)
	}
	if r.Ready {
		_ = saveRetrieval(cfg, r)
	}
	return r, nil
}

func saveRetrieval(cfg *Config, r store.Retrieval) error {
	if r.JobID == "" {
		return nil
	}
	err := cfg.Catalog.SaveRetrieval(catalog.Retrieval{
		TargetID: cfg.Target.ID, Kind: catalog.KindArchive, ArchiveID: r.ArchiveID, JobID: r.JobID,
		Tier: string(r.Tier), Requested: r.Requested, Expires: r.Expires, Ready: r.Ready,
		Size: r.Size, TreeHash: r.TreeHash, Days: r.Days, Offset: r.Offset, Length: r.Length,
	})
	if err != nil {
		return fmt.Errorf("recording the retrieval job: %w", err)
	}
	return nil
}
