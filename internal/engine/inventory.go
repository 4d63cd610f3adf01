package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/legacy"
	"github.com/grsync/grsync/internal/store"
)

// LegacyAuto is the catalogue compression value for a Python-tool archive
// found in an inventory: its description does not say how it was encoded,
// so restore recognises the form from the bytes (see legacy forms in
// docs/LEGACY.md).
const LegacyAuto = "legacy-auto"

// Listing is a store's list of archives at a point in time.
type Listing struct {
	Archives []store.Archive
	Date     time.Time
	Pending  bool // the inventory is being prepared by the store; try later
	Job      store.Retrieval
}

// FetchInventory returns the store's archive listing, reusing an inventory
// job recorded in the catalogue, and waiting for it when wait is set.
func FetchInventory(ctx context.Context, cfg *Config, wait bool, poll time.Duration, stop <-chan struct{}) (Listing, error) {
	var r store.Retrieval
	if old, ok, err := cfg.Catalog.Retrieval(cfg.Target.ID, "inventory", ""); err != nil {
		return Listing{}, err
	} else if ok && (old.Expires.IsZero() || old.Expires.After(cfg.now())) {
		r = store.Retrieval{Kind: store.KindInventory, JobID: old.JobID, Ready: old.Ready, Requested: old.Requested, Expires: old.Expires}
	} else {
		r, err = cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindInventory})
		if err != nil {
			return Listing{}, fmt.Errorf("requesting the inventory: %w", err)
		}
		if r.JobID != "" {
			if err := cfg.Catalog.SaveRetrieval(catalog.Retrieval{TargetID: cfg.Target.ID, Kind: "inventory", JobID: r.JobID, Requested: r.Requested, Expires: r.Expires, Ready: r.Ready}); err != nil {
				return Listing{}, err
			}
		}
	}
	if poll <= 0 {
		poll = 30 * time.Second
	}
	for !r.Ready {
		var err error
		r, err = cfg.Store.Poll(ctx, r)
		if errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotFound) {
			_ = cfg.Catalog.DeleteRetrieval(cfg.Target.ID, "inventory", "")
			return FetchInventory(ctx, cfg, wait, poll, stop)
		}
		if err != nil {
			return Listing{}, fmt.Errorf("checking the inventory job: %w", err)
		}
		if r.Ready {
			break
		}
		if !wait {
			return Listing{Pending: true, Job: r}, nil
		}
		if err := sleepCtx(ctx, stop, poll); err != nil {
			return Listing{Pending: true, Job: r}, nil
		}
		poll = min(poll*2, 15*time.Minute)
	}
	var l Listing
	date, err := cfg.Store.Inventory(ctx, r, func(a store.Archive) error {
		l.Archives = append(l.Archives, a)
		return nil
	})
	if err != nil {
		return Listing{}, fmt.Errorf("reading the inventory: %w", err)
	}
	l.Date, l.Job = date, r
	return l, nil
}

// Found is one file version recovered from archive descriptions.
type Found struct {
	Version       catalog.Version
	Legacy        bool
	Continuations []string // ids of the continuation archives of its metadata
}

// Decoded is what the descriptions of a listing say.
type Decoded struct {
	Files         []Found
	Continuations map[string]bool // archive ids holding metadata pieces only
	Unknown       []store.Archive // not written by grsync or the Python tool
	Problems      []Failure       // grsync archives whose metadata cannot be read
}

// DecodeListing turns archive descriptions back into catalogue versions:
// grsync's own (assembling metadata split over continuation archives and
// decrypting it with the key) and the Python tool's "grsync|path|size|mtime|desc".
func DecodeListing(cfg *Config, archives []store.Archive) Decoded {
	d := Decoded{Continuations: map[string]bool{}}
	type piece struct {
		p format.Piece
		a store.Archive
	}
	groups := map[string][]piece{}
	var order []string
	for _, a := range archives {
		if _, ok := format.IsObjectDescription(a.Description); ok {
			continue // v2 objects: read through records and pack indexes (Rebuild)
		}
		p, err := format.ParseDescription(a.Description)
		if err == nil {
			if _, ok := groups[p.Group]; !ok {
				order = append(order, p.Group)
			}
			groups[p.Group] = append(groups[p.Group], piece{p, a})
			continue
		}
		if !errors.Is(err, format.ErrNotGrsync) {
			d.Problems = append(d.Problems, Failure{Path: "archive " + a.ID, Err: err})
			continue
		}
		ld, lerr := legacy.ParseDescription(a.Description)
		if lerr != nil && legacy.LooksLikeDescription(a.Description) {
			// The Python tool always wrote an absolute path and two
			// numbers: this one is damaged or forged.
			d.Problems = append(d.Problems, Failure{Path: "archive " + a.ID, Err: fmt.Errorf("its description is the Python tool's but cannot be read (%w); not added", lerr)})
			continue
		}
		if lerr != nil {
			d.Unknown = append(d.Unknown, a)
			continue
		}
		if err := checkSafePath(ld.Path); err != nil {
			d.Problems = append(d.Problems, Failure{Path: "archive " + a.ID, Err: fmt.Errorf("its description names %w; not added", err)})
			continue
		}
		d.Files = append(d.Files, Found{Legacy: true, Version: catalog.Version{
			TargetID: cfg.Target.ID, Path: ld.Path, Size: ld.Size, MTime: ld.MTime,
			ArchiveID: a.ID, Location: cfg.Store.Location(), Checksum: a.TreeHash,
			Compression: LegacyAuto, Timestamp: a.Created.UTC(), StoredSize: a.Size,
			Description: legacyDesc(ld),
		}})
	}
	var mk *format.MetaKey
	if cfg.Key != nil {
		k := format.MetaKey(cfg.Key.MetadataKey())
		mk = &k
	}
	for _, g := range order {
		ps := groups[g]
		var main *store.Archive
		var pieces []format.Piece
		var conts []string
		for i := range ps {
			pieces = append(pieces, ps[i].p)
			if format.IsContinuation(ps[i].p) {
				conts = append(conts, ps[i].a.ID)
				d.Continuations[ps[i].a.ID] = true
			} else {
				main = &ps[i].a
			}
		}
		if main == nil {
			continue // only continuation pieces: an upload that never finished
		}
		m, err := format.DecodeMeta(pieces, mk)
		if err == nil {
			if perr := checkSafePath(m.Path); perr != nil {
				err = fmt.Errorf("its metadata names %w; not added", perr)
			}
		}
		if err != nil {
			d.Problems = append(d.Problems, Failure{Path: "archive " + main.ID, Err: err})
			continue
		}
		created := m.Created
		if created.IsZero() {
			created = main.Created
		}
		d.Files = append(d.Files, Found{Continuations: conts, Version: catalog.Version{
			TargetID: cfg.Target.ID, Path: m.Path, Size: m.Size,
			MTime: float64(m.ModTime.UnixNano()) / 1e9, MTimeNS: m.ModTime.UnixNano(),
			Mode: format.UnixMode(m.Mode), ArchiveID: main.ID, Location: cfg.Store.Location(),
			Checksum: main.TreeHash, Compression: m.Encoding, Timestamp: created.UTC(),
			ContentHash: hex.EncodeToString(m.ContentHash), StoredSize: main.Size, Description: m.Desc,
		}})
	}
	// Oldest first, so the catalogue's latest row per path is the newest upload.
	sort.SliceStable(d.Files, func(i, j int) bool {
		return d.Files[i].Version.Timestamp.Before(d.Files[j].Version.Timestamp)
	})
	return d
}

func legacyDesc(ld legacy.Description) string {
	if !ld.HasUserDesc {
		return ""
	}
	return ld.UserDesc
}

// ErrRebuildKey: inventory --rebuild cannot read the archives' metadata
// with the key it was given (none, or another one). Nothing was recorded.
var ErrRebuildKey = errors.New("cannot read the archives' metadata")

// keyProblem checks, before anything is recorded, whether the key given
// is the reason the listing's metadata cannot be read: none was given and
// some metadata is encrypted, or a key was given and no encrypted
// metadata decrypts with it.
func keyProblem(cfg *Config, archives []store.Archive) error {
	d := DecodeListing(cfg, archives)
	problems := d.Problems
	decrypted := 0
	for _, f := range d.Files {
		if strings.HasSuffix(f.Version.Compression, "+age") {
			decrypted++
		}
	}
	mk := cfg.metaKey()
	for _, a := range archives {
		if _, ok := format.IsObjectDescription(a.Description); !ok {
			continue
		}
		m, err := format.ParseObjectDescription(a.Description, mk)
		if err != nil {
			problems = append(problems, Failure{Path: "object " + a.ID, Err: err})
		} else if strings.HasSuffix(m.Encoding, "+age") {
			decrypted++
		}
	}
	needKey, wrongKey := 0, 0
	for _, p := range problems {
		switch {
		case errors.Is(p.Err, format.ErrKeyRequired):
			needKey++
		case errors.Is(p.Err, format.ErrWrongKey):
			wrongKey++
		}
	}
	switch {
	case cfg.Key == nil && needKey > 0:
		return fmt.Errorf("%w: %d archives hold encrypted metadata and no key was given", ErrRebuildKey, needKey)
	case cfg.Key != nil && wrongKey > 0 && decrypted == 0:
		return fmt.Errorf("%w: the metadata of %d archives does not decrypt with key %s", ErrRebuildKey, wrongKey, cfg.Key.Fingerprint())
	}
	return nil
}

// RebuildResult summarises an inventory rebuild.
type RebuildResult struct {
	Added, AlreadyKnown, Legacy int
	// Entries counts the folder and symlink versions added (from the
	// version records; Added counts file versions).
	Entries int
	Decoded Decoded
	Date    time.Time
	// Records is what the store's version records gave.
	Records RecordsResult
	// FromPacks counts file versions read from the indexes of packs no
	// records object names; PacksWaiting counts such packs that cannot be
	// read without a retrieval.
	FromPacks, PacksWaiting int
	// Relinked counts version pieces moved from objects the store no
	// longer holds to the same content in objects it holds (repacks).
	Relinked int
}

// Rebuild adds to the catalogue every file version the store reveals that
// the catalogue does not have yet: first everything the version records
// hold (every version, folders, symlinks and deletions included), then the
// files in the indexes of packs no records object names (a run that died
// before storing its records), then what v1 and Python-tool archive
// descriptions say.
// When the key is why the metadata cannot be read (see ErrRebuildKey), it
// records nothing.
func Rebuild(ctx context.Context, cfg *Config, l Listing, w WaitOptions) (RebuildResult, error) {
	res := RebuildResult{Date: l.Date}
	if err := keyProblem(cfg, l.Archives); err != nil {
		return res, err
	}
	var err error
	if res.Records, err = ImportStoreRecords(ctx, cfg, l.Archives, w); err != nil {
		return res, err
	}
	res.Added += res.Records.Stats.Versions - res.Records.Stats.Entries
	res.Entries += res.Records.Stats.Entries
	res.AlreadyKnown += res.Records.Stats.Known
	if err := rebuildFromPacks(ctx, cfg, l.Archives, &res); err != nil {
		return res, err
	}
	res.Decoded = DecodeListing(cfg, l.Archives)
	res.Decoded.Problems = append(res.Records.Problems, res.Decoded.Problems...)
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		return res, err
	}
	known := map[string]bool{}
	for _, o := range objs {
		known[o.ArchiveID] = true
	}
	for _, f := range res.Decoded.Files {
		if known[f.Version.ArchiveID] {
			res.AlreadyKnown++
			continue
		}
		if _, err := cfg.Catalog.Record(f.Version); err != nil {
			return res, fmt.Errorf("recording %s: %w", f.Version.Path, err)
		}
		res.Added++
		if f.Legacy {
			res.Legacy++
		}
	}
	// Catalogue snapshots are the store's too (recover reads them; prune
	// and verify must know them).
	snaps, _ := findMetaObjects(cfg, l.Archives, format.ObjectSnapshot)
	for _, o := range snaps {
		if err := cfg.Catalog.AddObject(catalog.Object{TargetID: cfg.Target.ID, ArchiveID: o.archive.ID, Kind: catalog.ObjectSnapshot,
			PackID: format.PackID(o.meta.ID).String(), Size: o.archive.Size, TreeHash: o.archive.TreeHash, Class: cfg.metaClass(),
			Uploaded: o.meta.Created}); err != nil {
			return res, err
		}
	}
	if _, err := cfg.Catalog.RestoreRuns(cfg.Target.ID); err != nil {
		return res, err
	}
	// The store's records say what an object held, the listing how it is
	// locked now (extensions since included).
	var locks []catalog.ObjectLock
	for _, a := range l.Archives {
		if a.Lock.Mode != "" {
			locks = append(locks, catalog.ObjectLock{ArchiveID: a.ID, Mode: string(a.Lock.Mode), Until: a.Lock.Until})
		}
	}
	if _, err := cfg.Catalog.SetObjectLocks(cfg.Target.ID, locks); err != nil {
		return res, err
	}
	// A repack leaves older records naming packs prune deleted since:
	// their versions' pieces go to the same content in the new packs.
	listed := map[string]bool{}
	for _, a := range l.Archives {
		listed[a.ID] = true
	}
	byID := map[string]catalog.Object{}
	if objs, err = cfg.Catalog.Objects(cfg.Target.ID); err != nil {
		return res, err
	}
	for _, o := range objs {
		byID[o.ArchiveID] = o
	}
	if res.Relinked, err = cfg.Catalog.RelinkPieces(cfg.Target.ID, func(id string) bool {
		// A vault's inventory is up to a day old: what it cannot know of is present.
		return listed[id] || (!l.Date.IsZero() && byID[id].Uploaded.After(l.Date))
	}); err != nil {
		return res, err
	}
	// What the catalogue holds now is in the store's records, or cannot be
	// told better than the store already does.
	if err := cfg.Catalog.MarkAllRecorded(cfg.Target.ID); err != nil {
		return res, err
	}
	return res, nil
}

// rebuildFromPacks records the packs of the listing that the catalogue
// does not know, with the files their indexes list, when the pack can be
// read now (a local store, a hot S3 class). Chunks are recorded as content
// but give no file: only version records say which file they belong to.
func rebuildFromPacks(ctx context.Context, cfg *Config, archives []store.Archive, res *RebuildResult) error {
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, o := range objs {
		known[o.ArchiveID] = true
	}
	mk := cfg.metaKey()
	type unnamed struct {
		a store.Archive
		m format.ObjectMeta
	}
	var packs []unnamed
	for _, a := range archives {
		if known[a.ID] {
			continue
		}
		if _, ok := format.IsObjectDescription(a.Description); !ok {
			continue
		}
		m, err := format.ParseObjectDescription(a.Description, mk)
		if err != nil {
			res.Records.Problems = append(res.Records.Problems, Failure{Path: "object " + a.ID, Err: err})
			continue
		}
		if m.Kind == format.ObjectPack {
			packs = append(packs, unnamed{a, m})
		}
	}
	// Oldest first, so that a path's versions get ids in time order (the
	// highest id is a path's latest); ReorderVersions below settles the
	// versions older than those the records gave.
	sort.SliceStable(packs, func(i, j int) bool { return packs[i].m.Created.Before(packs[j].m.Created) })
	paths := map[string]bool{}
	for _, u := range packs {
		a, m := u.a, u.m
		r, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
		if err != nil {
			return fmt.Errorf("reading pack %s: %w", a.ID, err)
		}
		if !r.Ready {
			res.PacksWaiting++
			continue
		}
		pack := format.PackID(m.ID)
		idx, err := format.ReadPackIndex(&storeReaderAt{ctx: ctx, s: cfg.Store, r: r}, a.Size, cfg.identityFor(m.Encoding), pack)
		if err != nil {
			res.Records.Problems = append(res.Records.Problems, Failure{Path: "pack " + a.ID, Err: err})
			continue
		}
		obj := &catalog.NewObject{Object: catalog.Object{TargetID: cfg.Target.ID, ArchiveID: a.ID, Kind: catalog.ObjectPack,
			PackID: pack.String(), Size: a.Size, TreeHash: a.TreeHash, Class: cfg.Class, Uploaded: m.Created,
			LockMode: string(a.Lock.Mode), LockUntil: a.Lock.Until}}
		b := &catalog.Batch{Objects: []*catalog.NewObject{obj}}
		for i, bl := range indexBlobs(idx, m.Encoding) {
			if bl == nil {
				continue
			}
			e := idx.Members[i]
			obj.Blobs = append(obj.Blobs, bl)
			if bl.Kind == catalog.BlobFile {
				if err := checkSafePath(e.Path); err != nil {
					res.Records.Problems = append(res.Records.Problems, Failure{Path: "pack " + a.ID, Err: fmt.Errorf("its index names %w; not added", err)})
					continue
				}
				v := catalog.Version{TargetID: cfg.Target.ID, Path: e.Path, Size: e.Size,
					MTime: float64(e.ModTime.UnixNano()) / 1e9, MTimeNS: e.ModTime.UnixNano(), Mode: format.UnixMode(e.Mode),
					ContentHash: hex.EncodeToString(e.Hash), Timestamp: m.Created.UTC()}
				b.Versions = append(b.Versions, &catalog.NewVersion{Version: v, Pieces: []*catalog.Blob{bl}})
				paths[e.Path] = true
			}
		}
		if err := cfg.Catalog.Commit(b); err != nil {
			return fmt.Errorf("recording pack %s: %w", a.ID, err)
		}
		res.FromPacks += len(b.Versions)
		res.Added += len(b.Versions)
	}
	if len(paths) == 0 {
		return nil
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	if _, err := cfg.Catalog.ReorderVersions(cfg.Target.ID, sorted); err != nil {
		return fmt.Errorf("ordering the versions read from packs: %w", err)
	}
	return nil
}

// storeReaderAt reads a ready retrieval at offsets.
type storeReaderAt struct {
	ctx context.Context
	s   store.Store
	r   store.Retrieval
}

func (s *storeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	rc, err := s.s.ReadRange(s.ctx, s.r, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// VerifyResult compares the catalogue with a store listing.
type VerifyResult struct {
	Date     time.Time
	Checked  int      // catalogue objects compared
	Missing  []string // recorded in the catalogue, absent from the store
	Unknown  []string // in the store, unknown to the catalogue
	Recent   int      // recorded after the listing was taken: not counted
	SizeDiff []string // present but with another size than recorded
	// Interrupted lists objects that runs of this catalogue stored but,
	// interrupted, never recorded (the catalogue noted their uploads).
	Interrupted []Leftover
}

// Leftover is an object an interrupted run stored without recording it.
type Leftover struct {
	ID   string
	Path string // what it held: a file's path, or "pack <id>"
	Size int64
}

// OK reports whether catalogue and store agree.
func (v VerifyResult) OK() bool {
	return len(v.Missing) == 0 && len(v.Unknown) == 0 && len(v.SizeDiff) == 0
}

// Verify compares the catalogue's objects with the store's listing. It
// only reports: it never deletes anything from the store (an object the
// catalogue does not know may be the only copy of a file; sync records
// what interrupted runs stored, prune deletes what nothing uses). Objects
// recorded after the listing was taken are not counted as missing;
// metadata continuation archives are not counted as unknown. Objects that
// runs which died stored without recording them (recognised by the group
// id the catalogue noted before the upload) are listed apart.
func Verify(ctx context.Context, cfg *Config, l Listing) (VerifyResult, error) {
	res := VerifyResult{Date: l.Date}
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		return res, err
	}
	all := map[string]bool{}
	inStore := map[string]store.Archive{}
	for _, a := range l.Archives {
		inStore[a.ID] = a
	}
	for _, o := range objs {
		all[o.ArchiveID] = true
		a, ok := inStore[o.ArchiveID]
		if !ok {
			if !o.Condemned.IsZero() {
				continue // prune deleted it and was stopped before noting it: the next prune does
			}
			if !l.Date.IsZero() && o.Uploaded.After(l.Date) {
				res.Recent++
				continue
			}
			res.Missing = append(res.Missing, o.ArchiveID)
			continue
		}
		res.Checked++
		if o.Size > 0 && a.Size != o.Size {
			res.SizeDiff = append(res.SizeDiff, o.ArchiveID)
		}
	}
	dead, err := deadUploads(cfg)
	if err != nil {
		return res, err
	}
	conts := DecodeListing(cfg, l.Archives).Continuations
	listed := map[string]bool{} // dead uploads this listing still shows
	for id, a := range inStore {
		if all[id] {
			continue
		}
		if g := groupOf(a.Description); g != "" && dead[g] != nil {
			listed[g] = true
			if !conts[id] {
				res.Interrupted = append(res.Interrupted, Leftover{ID: id, Path: dead[g][0].Path, Size: a.Size})
			}
			continue
		}
		if !conts[id] {
			res.Unknown = append(res.Unknown, id)
		}
	}
	// A dead upload is settled once a listing taken after it started no
	// longer shows anything of it. Until then it stays noted, so a listing
	// older than the deletions above (a vault's inventory is reused for a
	// day) does not report its archives as unknown.
	for g, ps := range dead {
		if listed[g] {
			continue
		}
		for _, p := range ps {
			if !l.Date.IsZero() && p.Started.Before(l.Date) {
				if err := cfg.Catalog.EndUpload(p.ID); err != nil {
					return res, err
				}
			}
		}
	}
	sort.Strings(res.Missing)
	sort.Strings(res.Unknown)
	sort.Strings(res.SizeDiff)
	sort.Slice(res.Interrupted, func(i, j int) bool { return res.Interrupted[i].ID < res.Interrupted[j].ID })
	return res, nil
}
