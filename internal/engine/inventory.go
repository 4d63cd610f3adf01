package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
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

// RebuildResult summarises an inventory rebuild.
type RebuildResult struct {
	Added, AlreadyKnown, Legacy int
	Decoded                     Decoded
	Date                        time.Time
}

// ErrRebuildKey: inventory --rebuild cannot read the archives' metadata
// with the key it was given (none, or another one). Nothing was recorded.
var ErrRebuildKey = errors.New("cannot read the archives' metadata")

// keyProblem checks, before anything is recorded, whether the key given
// is the reason the listing's metadata cannot be read: none was given and
// some metadata is encrypted, or a key was given and no encrypted
// metadata decrypts with it.
func keyProblem(cfg *Config, d Decoded) error {
	needKey, wrongKey := 0, 0
	for _, p := range d.Problems {
		switch {
		case errors.Is(p.Err, format.ErrKeyRequired):
			needKey++
		case errors.Is(p.Err, format.ErrWrongKey):
			wrongKey++
		}
	}
	decrypted := 0
	for _, f := range d.Files {
		if strings.HasSuffix(f.Version.Compression, "+age") {
			decrypted++
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

// Rebuild records in the catalogue every file version the listing's
// descriptions reveal that the catalogue does not have yet. When the key
// is why the metadata cannot be read (see ErrRebuildKey), it records
// nothing.
func Rebuild(cfg *Config, l Listing) (RebuildResult, error) {
	res := RebuildResult{Date: l.Date}
	res.Decoded = DecodeListing(cfg, l.Archives)
	if err := keyProblem(cfg, res.Decoded); err != nil {
		return res, err
	}
	known, err := cfg.Catalog.ArchiveIDs(cfg.Target.ID)
	if err != nil {
		return res, err
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
	return res, nil
}

// VerifyResult compares the catalogue with a store listing.
type VerifyResult struct {
	Date     time.Time
	Checked  int      // catalogue archives compared
	Missing  []string // recorded in the catalogue, absent from the store
	Unknown  []string // in the store, unknown to the catalogue
	Recent   int      // recorded after the listing was taken: not counted
	SizeDiff []string // present but with another size than recorded
	// Interrupted lists archives that runs of this catalogue stored but,
	// interrupted, never recorded (the catalogue noted their uploads).
	Interrupted []Leftover
}

// Leftover is an archive an interrupted run stored without recording it.
type Leftover struct {
	ID   string
	Path string // the file it holds a copy of
	Size int64
}

// OK reports whether catalogue and store agree.
func (v VerifyResult) OK() bool {
	return len(v.Missing) == 0 && len(v.Unknown) == 0 && len(v.SizeDiff) == 0
}

// Verify compares the catalogue's archives with the store's listing. It
// only reports: it never deletes anything from the store (an archive the
// catalogue does not know may be the only copy of a file). Archives
// recorded after the listing was taken are not counted as missing;
// metadata continuation archives are not counted as unknown. Archives that
// runs which died stored without recording them (recognised by the group
// id the catalogue noted before the upload) are listed apart.
func Verify(ctx context.Context, cfg *Config, l Listing) (VerifyResult, error) {
	res := VerifyResult{Date: l.Date}
	// Every archive the catalogue records, old versions' too, with the
	// version that first recorded it (when it was stored).
	byArchive, err := cfg.Catalog.ArchiveVersions(cfg.Target.ID)
	if err != nil {
		return res, err
	}
	all, err := cfg.Catalog.ArchiveIDs(cfg.Target.ID)
	if err != nil {
		return res, err
	}
	inStore := map[string]store.Archive{}
	for _, a := range l.Archives {
		inStore[a.ID] = a
	}
	for id := range all {
		a, ok := inStore[id]
		vs := byArchive[id]
		known := len(vs) > 0
		if !ok {
			if known && !l.Date.IsZero() && vs[0].Timestamp.After(l.Date) {
				res.Recent++
				continue
			}
			res.Missing = append(res.Missing, id)
			continue
		}
		res.Checked++
		if known && vs[0].StoredSize > 0 && a.Size != vs[0].StoredSize {
			res.SizeDiff = append(res.SizeDiff, id)
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
			// An upload noted with how to continue it is settled by sync,
			// which continues or aborts it; no listing shows it meanwhile.
			if p.Resume != nil {
				continue
			}
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
