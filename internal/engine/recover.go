package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// Recovery (grsync recover): a lost catalogue comes back from the store
// alone. The newest catalogue snapshot that decrypts and passes SQLite's
// integrity check becomes the catalogue, and the version records stored
// after it are added; without a usable snapshot, the catalogue is rebuilt
// from every records object, pack index and description (Rebuild). The
// work happens in a new catalogue that holds the recovery's retrieval
// jobs, so a run that must wait for a vault (exit 3) is taken up again.

// RecoverObject is a snapshot or records object a recovery reads.
type RecoverObject struct {
	Archive string
	Kind    string // format.ObjectSnapshot or format.ObjectRecords
	Created time.Time
	Size    int64
	meta    metaObject
}

// RecoverPlan is what a recovery will fetch, shown before it requests
// anything.
type RecoverPlan struct {
	// From is "pointers" (the store's catalogue pointers) or "listing"
	// (the store's listing; a vault's inventory).
	From     string
	Snapshot *RecoverObject  // nil: no usable snapshot
	Records  []RecoverObject // records objects stored since the snapshot
	Bytes    int64           // stored bytes of all of them
	// Inventory: the vault's inventory must be fetched first (a job).
	Inventory bool
	// Rebuild: no usable snapshot; every records object, pack index and
	// description is read (as inventory --rebuild does).
	Rebuild bool
	// Refused are snapshots found unusable, newest first.
	Refused []Failure
	refused []refusal
	// Problems are pointer refs that cannot be read.
	Problems []Failure
}

// RecoverOptions steer Recover.
type RecoverOptions struct {
	Wait WaitOptions
	// CopyPath is where the snapshot is decrypted to (beside the new
	// catalogue); on success the caller installs it (catalog.InstallSnapshot).
	CopyPath string
	// Plan, when set, is called with each plan before its objects are
	// requested (again after a snapshot is refused).
	Plan func(RecoverPlan)
}

// RecoverResult is where a recovery stands.
type RecoverResult struct {
	Plan    RecoverPlan
	Pending int // objects (or the inventory) not readable yet: run again later
	// Snapshot is the snapshot decrypted to CopyPath (nil on a rebuild).
	Snapshot     *RecoverObject
	SnapshotInfo catalog.SnapshotInfo
	Records      []FetchedRecords
	// Rebuilt is set when there was no usable snapshot and the work
	// catalogue was rebuilt from the store's objects instead.
	Rebuilt  *RebuildResult
	Problems []Failure // records objects that could not be read
}

// FetchedRecords is a records object read for a recovery.
type FetchedRecords struct {
	Object RecoverObject
	Lines  []catalog.RecordLine
}

func refusedKey(targetID int64) string { return fmt.Sprintf("recover-refused:%d", targetID) }

type refusal struct {
	Archive string    `json:"archive"`
	Error   string    `json:"error"`
	Pack    string    `json:"pack"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
}

func loadRefused(cfg *Config) ([]refusal, error) {
	v, ok, err := cfg.Catalog.Setting(refusedKey(cfg.Target.ID))
	if err != nil || !ok {
		return nil, err
	}
	var out []refusal
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("recovery notes: %w", err)
	}
	return out, nil
}

func saveRefused(cfg *Config, r []refusal) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return cfg.Catalog.SetSetting(refusedKey(cfg.Target.ID), string(b))
}

// Recover fetches what the store holds of the catalogue into cfg.Catalog's
// recovery (see RecoverResult): the newest usable snapshot, decrypted to
// opt.CopyPath and checked, and the records stored after it; or, without
// a usable snapshot, a rebuild into cfg.Catalog itself.
func Recover(ctx context.Context, cfg *Config, opt RecoverOptions) (RecoverResult, error) {
	var res RecoverResult
	var listing *Listing
	for {
		refused, err := loadRefused(cfg)
		if err != nil {
			return res, err
		}
		plan, err := planRecovery(ctx, cfg, refused, &listing, opt.Wait)
		if err != nil {
			return res, err
		}
		res.Plan = plan
		if opt.Plan != nil {
			opt.Plan(plan)
		}
		if plan.Inventory {
			res.Pending = 1
			return res, nil
		}
		if plan.Rebuild {
			rb, err := Rebuild(ctx, cfg, *listing, opt.Wait)
			if err != nil {
				return res, err
			}
			res.Rebuilt = &rb
			return res, nil
		}
		objs := append([]RecoverObject{*plan.Snapshot}, plan.Records...)
		ready, pending, err := readyAll(ctx, cfg, objs, opt.Wait)
		if err != nil {
			return res, err
		}
		if pending > 0 {
			res.Pending = pending
			return res, nil
		}
		info, err := fetchSnapshot(ctx, cfg, plan.Snapshot.meta, ready[plan.Snapshot.Archive], opt.CopyPath)
		if err != nil {
			if !damaged(err) {
				return res, err
			}
			refused = append(refused, refusal{Archive: plan.Snapshot.Archive, Error: err.Error(), Created: plan.Snapshot.Created,
				Size: plan.Snapshot.Size, Pack: format.PackID(plan.Snapshot.meta.meta.ID).String()})
			if err := saveRefused(cfg, refused); err != nil {
				return res, err
			}
			continue
		}
		res.Snapshot, res.SnapshotInfo = plan.Snapshot, info
		for _, o := range plan.Records {
			lines, err := readRecords(ctx, cfg, o, ready[o.Archive])
			if err != nil {
				if !damaged(err) {
					return res, err
				}
				res.Problems = append(res.Problems, Failure{Path: "records object " + o.Archive, Err: err})
				continue
			}
			res.Records = append(res.Records, FetchedRecords{Object: o, Lines: lines})
		}
		return res, nil
	}
}

// planRecovery chooses the newest snapshot not refused, from the store's
// pointers when they have one, else from its listing (fetched once into
// *listing; a vault's may still be pending).
func planRecovery(ctx context.Context, cfg *Config, refused []refusal, listing **Listing, w WaitOptions) (RecoverPlan, error) {
	var plan RecoverPlan
	bad := map[string]bool{}
	plan.refused = refused
	for i := len(refused) - 1; i >= 0; i-- {
		bad[refused[i].Archive] = true
		plan.Refused = append(plan.Refused, Failure{Path: "snapshot " + refused[i].Archive, Err: errors.New(refused[i].Error)})
	}
	var cands []RecoverObject
	if *listing == nil {
		ptrs, problems, err := ReadPointers(ctx, cfg)
		if err != nil {
			return plan, err
		}
		plan.Problems = problems
		for _, p := range ptrs {
			cands = append(cands, RecoverObject{Archive: p.Archive, Kind: p.Kind, Created: p.Created, Size: p.Size,
				meta: metaObject{archive: store.Archive{ID: p.Archive, Size: p.Size, Created: p.Created},
					meta: format.ObjectMeta{Kind: p.Kind, ID: p.Pack, Created: p.Created, Encoding: format.PackEncoding(true, cfg.Key != nil)}}})
		}
		plan.From = "pointers"
		// A damaged pointer: none of them is trusted; the listing decides.
		if len(problems) == 0 && choose(&plan, cands, bad) {
			return plan, nil
		}
		l, err := FetchInventory(ctx, cfg, w.Wait, w.Poll, w.Stop)
		if err != nil {
			return plan, err
		}
		if l.Pending {
			plan.From, plan.Inventory = "listing", true
			return plan, nil
		}
		*listing = &l
	}
	plan.From = "listing"
	cands = cands[:0]
	for _, kind := range []string{format.ObjectSnapshot, format.ObjectRecords} {
		found, _ := findMetaObjects(cfg, (*listing).Archives, kind)
		for _, o := range found {
			cands = append(cands, RecoverObject{Archive: o.archive.ID, Kind: kind, Created: o.meta.Created, Size: o.archive.Size, meta: o})
		}
	}
	if !choose(&plan, cands, bad) {
		plan.Snapshot, plan.Records, plan.Bytes, plan.Rebuild = nil, nil, 0, true
	}
	return plan, nil
}

// choose sets the plan's snapshot (the newest not refused) and the
// records objects created since (at the same time too: a sync stores its
// records just before its snapshot, and clocks have a resolution); false
// when there is no such snapshot.
func choose(plan *RecoverPlan, cands []RecoverObject, bad map[string]bool) bool {
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].Created.After(cands[j].Created) })
	plan.Snapshot, plan.Records, plan.Bytes = nil, nil, 0
	for i := range cands {
		if cands[i].Kind == format.ObjectSnapshot && !bad[cands[i].Archive] {
			s := cands[i]
			plan.Snapshot = &s
			break
		}
	}
	if plan.Snapshot == nil {
		return false
	}
	plan.Bytes = plan.Snapshot.Size
	for _, c := range cands {
		if c.Kind == format.ObjectRecords && !c.Created.Before(plan.Snapshot.Created) {
			plan.Records = append(plan.Records, c)
			plan.Bytes += c.Size
		}
	}
	// Oldest first, the order they are added in.
	sort.SliceStable(plan.Records, func(i, j int) bool { return plan.Records[i].Created.Before(plan.Records[j].Created) })
	return true
}

// readyAll requests a retrieval of every object (reusing jobs recorded in
// the catalogue, so that running again pays nothing twice) and polls them;
// with w.Wait until all are ready. It returns the ready ones by archive id
// and how many are not.
func readyAll(ctx context.Context, cfg *Config, objs []RecoverObject, w WaitOptions) (map[string]store.Retrieval, int, error) {
	opt := RestoreOptions{Tier: w.Tier}
	ready := map[string]store.Retrieval{}
	todo := map[string]store.Retrieval{}
	for _, o := range objs {
		r, _, err := retrieval(ctx, cfg, opt, wholeObject(o.Archive))
		if err != nil {
			return nil, 0, err
		}
		if r.Ready {
			ready[o.Archive] = r
		} else {
			todo[o.Archive] = r
		}
	}
	poll := w.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	for {
		for id, r := range todo {
			// A job whose output is gone (a vault keeps it 24 hours) is
			// requested again.
			r, err := refreshRetrieval(ctx, cfg, opt, wholeObject(id), r)
			if err != nil {
				return nil, 0, err
			}
			if r.Ready {
				ready[id] = r
				delete(todo, id)
			} else {
				todo[id] = r
			}
		}
		if len(todo) == 0 || !w.Wait {
			return ready, len(todo), nil
		}
		if err := sleepCtx(ctx, w.Stop, poll); err != nil {
			return nil, 0, err
		}
		poll = min(poll*2, 15*time.Minute)
	}
}

// errDamaged marks what a snapshot or records object's bytes get wrong,
// as opposed to a store that cannot be reached.
type errDamaged struct{ err error }

func (e errDamaged) Error() string { return e.err.Error() }
func (e errDamaged) Unwrap() error { return e.err }

func damaged(err error) bool { return errors.As(err, new(errDamaged)) }

// unreadable reports whether a read failed for good because of the object
// (missing, shorter or longer than the store says, failing its tree hash):
// a permanent store error that is not about the retrieval job or the run.
func unreadable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && store.IsPermanent(err) && !errors.Is(err, store.ErrExpired) && !errors.Is(err, store.ErrNotReady) &&
		!errors.As(err, new(*store.ConfigError)) && !errors.Is(err, store.ErrAccessDenied)
}

// fetchSnapshot downloads snapshot o beside path, decrypts its one member
// to path and checks it (catalog.CheckSnapshotFile). A snapshot that does
// not decrypt, is truncated, tampered with or fails the check gives an
// errDamaged that says so.
func fetchSnapshot(ctx context.Context, cfg *Config, o metaObject, r store.Retrieval, path string) (catalog.SnapshotInfo, error) {
	enc := path + ".download"
	defer os.Remove(enc)
	removeCopy(path)
	if err := downloadTo(ctx, cfg, r, enc); err != nil {
		if unreadable(ctx, err) {
			err = errDamaged{fmt.Errorf("snapshot %s of %s cannot be read: %w", o.archive.ID, o.meta.Created.Format(time.RFC3339), err)}
		}
		return catalog.SnapshotInfo{}, err
	}
	info, err := decryptSnapshot(cfg, o, enc, path)
	if err != nil {
		removeCopy(path)
		return info, errDamaged{fmt.Errorf("snapshot %s of %s cannot be used: %w", o.archive.ID, o.meta.Created.Format(time.RFC3339), err)}
	}
	return info, nil
}

// downloadTo copies a ready retrieval's bytes to a new private file.
func downloadTo(ctx context.Context, cfg *Config, r store.Retrieval, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	rc, err := cfg.Store.ReadRange(ctx, r, 0, -1)
	if err != nil {
		f.Close()
		return fmt.Errorf("reading %s: %w", r.ArchiveID, err)
	}
	_, err = io.Copy(f, rc)
	rc.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", r.ArchiveID, err)
	}
	return nil
}

func decryptSnapshot(cfg *Config, o metaObject, enc, path string) (catalog.SnapshotInfo, error) {
	f, err := os.Open(enc)
	if err != nil {
		return catalog.SnapshotInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return catalog.SnapshotInfo{}, err
	}
	if o.archive.Size > 0 && fi.Size() != o.archive.Size {
		return catalog.SnapshotInfo{}, fmt.Errorf("%w: %d bytes, the store listed %d", format.ErrCorrupt, fi.Size(), o.archive.Size)
	}
	pack := format.PackID(o.meta.ID)
	id := cfg.identityFor(o.meta.Encoding)
	idx, err := format.ReadPackIndex(f, fi.Size(), id, pack)
	if err != nil {
		return catalog.SnapshotInfo{}, err
	}
	if len(idx.Members) != 1 || idx.Members[0].Kind != format.KindFile || idx.Members[0].Path != snapshotPath {
		return catalog.SnapshotInfo{}, fmt.Errorf("%w: not one member %s", format.ErrCorrupt, snapshotPath)
	}
	e := idx.Members[0]
	m, err := format.OpenMember(io.NewSectionReader(f, e.Offset, e.Length), id, e.Ref(pack))
	if err != nil {
		return catalog.SnapshotInfo{}, err
	}
	defer m.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return catalog.SnapshotInfo{}, err
	}
	_, err = io.Copy(out, m)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return catalog.SnapshotInfo{}, err
	}
	return catalog.CheckSnapshotFile(path)
}

// readRecords reads and parses records object o.
func readRecords(ctx context.Context, cfg *Config, o RecoverObject, r store.Retrieval) ([]catalog.RecordLine, error) {
	rc, err := cfg.Store.ReadRange(ctx, r, 0, -1)
	if err == nil {
		var raw []byte
		raw, err = io.ReadAll(io.LimitReader(rc, maxMetaObject+1))
		rc.Close()
		if err == nil {
			return parseRecordsObject(cfg, o, raw)
		}
	}
	err = fmt.Errorf("reading %s: %w", o.Archive, err)
	if unreadable(ctx, err) {
		err = errDamaged{err}
	}
	return nil, err
}

// parseRecordsObject decodes the bytes raw of records object o.
func parseRecordsObject(cfg *Config, o RecoverObject, raw []byte) ([]catalog.RecordLine, error) {
	doc, err := metaMember(cfg, o.meta, raw)
	if err != nil {
		return nil, errDamaged{err}
	}
	_, lines, err := catalog.ReadRecords(bytes.NewReader(doc))
	if err != nil {
		return nil, errDamaged{err}
	}
	return safeLines(lines, func(err error) { cfg.log().Warn("records object "+o.Archive, "err", err) }), nil
}

// ApplyRecovery adds to the catalogue installed from res's snapshot the
// version records stored after it, records the objects read, and notes
// the snapshot as the newest (stale when newer ones were refused, so the
// next sync takes one). It returns the versions added.
func ApplyRecovery(cfg *Config, res RecoverResult) (catalog.ImportStats, []Failure, error) {
	var total catalog.ImportStats
	var problems []Failure
	class := cfg.metaClass()
	if recs, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectRecords); err == nil && len(recs) > 0 && recs[len(recs)-1].Class != "" {
		class = recs[len(recs)-1].Class // the class the lost catalogue stored them in
	}
	// Snapshots refused are the store's objects all the same: recorded
	// (before the one used, which stays the newest), prune deletes them.
	for _, r := range res.Plan.refused {
		if err := cfg.Catalog.AddObject(catalog.Object{TargetID: cfg.Target.ID, ArchiveID: r.Archive, Kind: catalog.ObjectSnapshot,
			PackID: r.Pack, Size: r.Size, Class: class, Uploaded: r.Created}); err != nil {
			return total, nil, err
		}
	}
	s := res.Snapshot
	obj := catalog.Object{TargetID: cfg.Target.ID, ArchiveID: s.Archive, Kind: catalog.ObjectSnapshot,
		PackID: format.PackID(s.meta.meta.ID).String(), Size: s.Size, Class: class, Uploaded: s.Created}
	if err := cfg.Catalog.AddObject(obj); err != nil {
		return total, nil, err
	}
	for _, f := range res.Records {
		st, err := cfg.Catalog.ImportRecords(cfg.Target.ID, f.Lines)
		if err != nil {
			problems = append(problems, Failure{Path: "records object " + f.Object.Archive, Err: err})
			continue
		}
		if err := cfg.Catalog.AddObject(catalog.Object{TargetID: cfg.Target.ID, ArchiveID: f.Object.Archive, Kind: catalog.ObjectRecords,
			PackID: format.PackID(f.Object.meta.meta.ID).String(), Size: f.Object.Size, Class: class, Uploaded: f.Object.Created}); err != nil {
			return total, problems, err
		}
		total.Objects += st.Objects
		total.Blobs += st.Blobs
		total.Versions += st.Versions
		total.Known += st.Known
	}
	state := catalog.SnapshotState{ArchiveID: s.Archive, Created: s.Created, Size: s.Size, Mark: res.SnapshotInfo.Mark,
		Stale: len(res.Plan.Refused) > 0}
	if err := cfg.Catalog.SetSnapshotState(cfg.Target.ID, state); err != nil {
		return total, problems, err
	}
	if _, err := cfg.Catalog.RestoreRuns(cfg.Target.ID); err != nil {
		return total, problems, err
	}
	return total, problems, cfg.Catalog.MarkAllRecorded(cfg.Target.ID)
}
