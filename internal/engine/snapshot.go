package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// Catalogue snapshots (docs/FORMAT.md section 12, docs/DESIGN.md "Losing
// the catalogue"): a consistent copy of the target's part of the
// catalogue, stored in the target as a one-member pack in the hot class,
// so that a lost catalogue comes back with one object (plus the version
// records stored since) instead of a rebuild from every object.

// snapshotPath is the name of the one member of a snapshot object.
const snapshotPath = "/grsync/catalogue.db"

// DefaultKeepSnapshots is how many snapshots are kept (--keep-snapshots).
const DefaultKeepSnapshots = 3

// When a snapshot is due (docs/DESIGN.md, "When a snapshot is taken"):
// after a sync that changed the catalogue, once the version records
// stored since the newest snapshot are many (a recovery fetches each), or
// large next to it (half its size: snapshots then cost at most twice what
// the records do), or when it is old; and after a forget, which records
// do not carry.
const (
	snapshotMaxRecords = 24
	snapshotMaxAge     = 30 * 24 * time.Hour
)

// SnapshotPolicy says when snapshots are taken and how many are kept.
type SnapshotPolicy struct {
	// Keep is how many snapshots the store keeps (0: DefaultKeepSnapshots).
	// Older ones are deleted once their class allows it without a fee.
	Keep int
	// Force takes one whenever the catalogue changed since the newest
	// snapshot, due or not (grsync catalogue push).
	Force bool
}

func (p SnapshotPolicy) keep() int {
	if p.Keep > 0 {
		return p.Keep
	}
	return DefaultKeepSnapshots
}

// SnapshotResult says what MaintainSnapshots did.
type SnapshotResult struct {
	Taken  bool
	Reason string // why one was taken, or why not
	// Object is the snapshot stored; CopyBytes the size of the catalogue
	// copy it holds (before compression and encryption).
	Object    catalog.Object
	CopyBytes int64
	Took      time.Duration
	// Deleted are older snapshots deleted from the store; Held those past
	// Keep that stay until their class's minimum storage duration ends
	// (or that the credentials may not delete).
	Deleted []catalog.Object
	Held    []HeldObject
}

// HeldObject is an object kept past its use, and why.
type HeldObject struct {
	Object catalog.Object
	Until  time.Time // zero: until the credentials allow deleting it
	Why    string
}

// SnapshotDue reports whether a snapshot should be taken now, and why (or
// why not). It reads the catalogue only: a few indexed lookups whatever
// its size.
func SnapshotDue(cfg *Config, force bool) (bool, string, error) {
	st, ok, err := cfg.Catalog.Snapshot(cfg.Target.ID)
	if err != nil {
		return false, "", err
	}
	if !ok {
		return true, "no snapshot yet", nil
	}
	ch, err := cfg.Catalog.ChangesSince(cfg.Target.ID, st.Mark)
	if err != nil {
		return false, "", err
	}
	if st.Stale {
		return true, "the newest snapshot in the store could not be used", nil
	}
	if !ch.Any() {
		return false, "the newest snapshot holds the whole catalogue", nil
	}
	if force {
		return true, "asked for", nil
	}
	n, bytes, err := recordsSince(cfg, st)
	if err != nil {
		return false, "", err
	}
	switch {
	case ch.Generation:
		return true, "versions were forgotten, or objects condemned, deleted or repacked, since the newest snapshot (version records do not carry that)", nil
	case n >= snapshotMaxRecords:
		return true, fmt.Sprintf("%d version records objects since the newest snapshot", n), nil
	case bytes*2 >= st.Size:
		return true, "the version records since the newest snapshot reach half its size", nil
	case cfg.now().Sub(st.Created) >= snapshotMaxAge:
		return true, fmt.Sprintf("the newest snapshot is %d days old", int(cfg.now().Sub(st.Created).Hours()/24)), nil
	}
	return false, fmt.Sprintf("not due: %d version records objects (%d bytes) since the newest snapshot of %s, which holds the rest",
		n, bytes, st.Created.Format("2006-01-02")), nil
}

// recordsSince counts the records objects recorded after the snapshot of
// st, and their bytes.
func recordsSince(cfg *Config, st catalog.SnapshotState) (int, int64, error) {
	snaps, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	if err != nil {
		return 0, 0, err
	}
	var after int64
	for _, o := range snaps {
		if o.ArchiveID == st.ArchiveID {
			after = o.ID
		}
	}
	recs, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectRecords)
	if err != nil {
		return 0, 0, err
	}
	n, bytes := 0, int64(0)
	for _, r := range recs {
		if r.ID > after {
			n++
			bytes += r.Size
		}
	}
	return n, bytes, nil
}

// CatalogueCopies is what the store holds of the catalogue, as the
// catalogue knows it (verify reports it).
type CatalogueCopies struct {
	Snapshots int       // snapshots in the store
	Newest    time.Time // the newest one's time; zero without one
	// Uncovered are the catalogue's changes that neither a snapshot nor
	// version records in the store hold: a recovery now would lose them.
	Uncovered catalog.Changes
}

// CatalogueCopiesOf says what the store holds of the catalogue.
func CatalogueCopiesOf(cfg *Config) (CatalogueCopies, error) {
	var c CatalogueCopies
	snaps, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	if err != nil {
		return c, err
	}
	c.Snapshots = len(snaps)
	st, ok, err := cfg.Catalog.Snapshot(cfg.Target.ID)
	if err != nil {
		return c, err
	}
	if ok {
		c.Newest = st.Created
	}
	c.Uncovered, err = cfg.Catalog.Uncovered(cfg.Target.ID, st.Mark)
	return c, err
}

// MaintainSnapshots takes a snapshot when one is due (see SnapshotDue),
// deleting first the snapshots past the policy's Keep that may be deleted
// without a fee; then it writes the store's pointers to the newest
// snapshots and records (see WritePointers).
func MaintainSnapshots(ctx context.Context, cfg *Config, pol SnapshotPolicy) (SnapshotResult, error) {
	var res SnapshotResult
	due, reason, err := SnapshotDue(cfg, pol.Force)
	if err != nil {
		return res, err
	}
	res.Reason = reason
	defer func() {
		if ctx.Err() == nil {
			if err := WritePointers(ctx, cfg); err != nil {
				cfg.log().Warn("could not write the store's catalogue pointers; a recovery lists the store instead, and the next run tries again", "err", err)
			}
		}
	}()
	if !due {
		return res, nil
	}
	start := time.Now()
	// Old snapshots go first, so the new one's copy of the catalogue
	// already says they are gone. One old snapshot always stays until the
	// new one is stored.
	if res.Deleted, res.Held, err = pruneSnapshots(ctx, cfg, max(pol.keep()-1, 1)); err != nil {
		return res, err
	}
	if res.Object, res.CopyBytes, err = takeSnapshot(ctx, cfg); err != nil {
		return res, err
	}
	res.Taken, res.Took = true, time.Since(start)
	return res, nil
}

// SnapshotCopyPath is where a catalogue's snapshot copy is written: beside
// it, on the same disk (a catalogue of a million files makes a copy of
// hundreds of MB; /tmp may be memory). Sync leaves it out of its sources.
func SnapshotCopyPath(catalogue string) string { return catalogue + ".snapshot-tmp" }

// takeSnapshot copies the catalogue, stores the copy and records it.
func takeSnapshot(ctx context.Context, cfg *Config) (catalog.Object, int64, error) {
	tmp := SnapshotCopyPath(cfg.Catalog.Path())
	defer removeCopy(tmp)
	mark, err := cfg.Catalog.WriteSnapshot(cfg.Target.ID, tmp)
	if err != nil {
		return catalog.Object{}, 0, err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return catalog.Object{}, 0, fmt.Errorf("catalogue snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return catalog.Object{}, 0, fmt.Errorf("catalogue snapshot: %w", err)
	}
	obj, note, err := storeMetaObject(ctx, cfg, format.ObjectSnapshot, snapshotPath, f, fi.Size())
	if err != nil {
		return catalog.Object{}, 0, fmt.Errorf("storing the catalogue snapshot: %w", err)
	}
	if err := cfg.Catalog.RecordSnapshot(obj, mark, note); err != nil {
		return catalog.Object{}, 0, fmt.Errorf("recording the catalogue snapshot: %w", err)
	}
	return obj, fi.Size(), nil
}

func removeCopy(p string) {
	for _, s := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(p + s)
	}
}

// pruneSnapshots deletes the target's snapshots past the newest keep,
// each once its class lets it go without an early-deletion fee; the others
// are returned as held.
func pruneSnapshots(ctx context.Context, cfg *Config, keep int) (deleted []catalog.Object, held []HeldObject, err error) {
	snaps, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	if err != nil {
		return nil, nil, err
	}
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].Uploaded.After(snaps[j].Uploaded) })
	if len(snaps) <= keep {
		return nil, nil, nil
	}
	now := cfg.now()
	for _, o := range snaps[keep:] {
		if o.LockUntil.After(now) {
			held = append(held, HeldObject{Object: o, Until: o.LockUntil,
				Why: cost.ObjectLockReason(o.LockMode, o.LockUntil).Why + " (older snapshots' locks are not extended)"})
			continue
		}
		if until, why := EarliestDelete(o); until.After(now) {
			held = append(held, HeldObject{Object: o, Until: until, Why: why})
			continue
		}
		err := cfg.Store.Delete(ctx, o.ArchiveID)
		switch {
		case err == nil, errors.Is(err, store.ErrNotFound):
		case errors.Is(err, store.ErrLocked), errors.Is(err, store.ErrAccessDenied):
			held = append(held, HeldObject{Object: o, Why: err.Error()})
			continue
		case ctx.Err() != nil:
			return deleted, held, ctx.Err()
		default:
			cfg.log().Warn("could not delete an old catalogue snapshot; a later run tries again", "object", o.ArchiveID, "err", err)
			held = append(held, HeldObject{Object: o, Why: err.Error()})
			continue
		}
		if err := cfg.Catalog.MarkObjectDeleted(cfg.Target.ID, o.ArchiveID, now); err != nil {
			return deleted, held, err
		}
		deleted = append(deleted, o)
	}
	return deleted, held, nil
}

// EarliestDelete is when an object can be deleted without a fee, and why
// not before: the class's minimum storage duration (90 days for GLACIER_IR
// and vaults, none for STANDARD and the local store).
func EarliestDelete(o catalog.Object) (time.Time, string) {
	if o.Class == "LOCAL" {
		return o.Uploaded, ""
	}
	t, reasons := cost.Default().EarliestDelete(cost.Object{Class: cost.Class(o.Class), Size: o.Size, Uploaded: o.Uploaded})
	why := ""
	for _, r := range reasons {
		if r.Until.Equal(t) {
			why = r.Why
		}
	}
	return t, why
}
