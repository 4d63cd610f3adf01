package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/store"
)

// RestoreOptions says what to restore and where.
type RestoreOptions struct {
	Prefixes  []string  // absolute paths or folder prefixes; empty = everything
	At        time.Time // restore the versions current at this time; zero = latest
	Output    string    // folder to restore under (see Destination)
	InPlace   bool      // restore to the original paths instead of under Output
	Overwrite bool      // replace existing files and symlinks
	NoOwner   bool      // as root, leave owners and groups as restore makes them (--no-owner)
	Tier      store.Tier
	Days      int
	Wait      bool          // wait for pending retrievals instead of returning
	Poll      time.Duration // first poll interval when waiting; grows to PollMax
	PollMax   time.Duration
	Stop      <-chan struct{}
}

// ErrUnsafePath: a path in the catalogue (which may come from a store
// someone else can write to) that is not a clean absolute path; it is not
// restored, so nothing lands outside --output or beside the path named.
var ErrUnsafePath = errors.New("not a clean absolute path")

// checkSafePath refuses a path sync would never record: relative, with an
// empty, "." or ".." element, a trailing slash, or a NUL byte.
func checkSafePath(p string) error {
	if p == "" || p[0] != '/' || p == "/" || strings.IndexByte(p, 0) >= 0 || path.Clean(p) != p {
		return fmt.Errorf("%q is %w", p, ErrUnsafePath)
	}
	return nil
}

// Destination maps a backed-up absolute path to where restore writes it:
// the original path with InPlace, otherwise the path with its leading "/"
// removed, joined under Output ("/home/a/x.txt" → "OUT/home/a/x.txt").
func Destination(opt RestoreOptions, original string) string {
	if opt.InPlace {
		return filepath.Clean(original)
	}
	return filepath.Join(opt.Output, strings.TrimLeft(filepath.Clean(original), "/"))
}

// RestoreItem is one stored object to retrieve (an archive or a pack) and
// how many of the files to restore need it.
type RestoreItem struct {
	ArchiveID string
	Class     string // its storage class, as the catalogue records it
	Size      int64  // the object's stored bytes
	Need      int64  // the bytes of it the restore reads (members of a pack)
	Reads     int64  // the ranged reads (windows of pack members) that takes; 0: read whole
	Files     int    // files with a piece in it
	// Offset and Length: the byte range of the object the plan retrieves,
	// on a store whose retrievals can fetch ranges (see chooseRange);
	// Length 0 is the whole object.
	Offset, Length int64
	Retrieval      store.Retrieval
	Reused         bool // a retrieval already requested earlier is reused

	lo, hi int64 // the bytes the restore reads lie in [lo, hi)
	ranges bool  // the object's store can retrieve a range
}

// Ranged reports whether the plan retrieves only a byte range of the object.
func (it *RestoreItem) Ranged() bool { return it.Length > 0 }

// Retrieved is the number of bytes the plan retrieves of the object.
func (it *RestoreItem) Retrieved() int64 {
	if it.Ranged() {
		return it.Length
	}
	return it.Size
}

// restoreFile is one file to restore: its version, destination and pieces.
type restoreFile struct {
	v      *catalog.Version // in the plan's selection (a copy each was 300 bytes a file)
	dest   string
	pieces []catalog.Piece
	items  []*RestoreItem // the objects its pieces are in, each once
}

// ready reports whether every object the file needs can be read.
func (f *restoreFile) ready() bool {
	for _, it := range f.items {
		if !it.Retrieval.Ready {
			return false
		}
	}
	return true
}

// RestorePlan is what a restore will do, for the user to see before paying.
type RestorePlan struct {
	Items    []*RestoreItem
	Files    int
	Folders  int       // folders to create, or give their mode, times and owner
	Symlinks int       // symlinks to create
	Bytes    int64     // stored bytes to retrieve (whole objects and ranges)
	Ranged   int       // objects retrieved by byte range; the others whole
	Restored int64     // bytes of the files it restores
	Existing []string  // destinations that exist and will be skipped (no --overwrite)
	Unsafe   []Failure // catalogue paths refused (ErrUnsafePath)
	files    []*restoreFile
	entries  []*restoreEntry // folders and symlinks, by destination
}

// PerGiB is how many objects the plan retrieves per GiB it restores: how
// fragmented the content is (a large file whose chunks were stored over
// many runs lies in many packs). 0 when it restores nothing.
func (p *RestorePlan) PerGiB() float64 {
	if p.Restored == 0 {
		return 0
	}
	return float64(len(p.Items)) / (float64(p.Restored) / (1 << 30))
}

// PlannedFile is one file, folder or symlink a plan restores: where to,
// and the ids of the objects a file's content is read from.
type PlannedFile struct {
	Dest    string
	Kind    catalog.EntryKind
	Link    string // a symlink's target
	Objects []string
}

// Listing lists what the plan restores: files, then folders and symlinks,
// each in order.
func (p *RestorePlan) Listing() []PlannedFile {
	out := make([]PlannedFile, len(p.files), len(p.files)+len(p.entries))
	for i, f := range p.files {
		out[i].Dest = f.dest
		for _, it := range f.items {
			out[i].Objects = append(out[i].Objects, it.ArchiveID)
		}
	}
	for _, e := range p.entries {
		out = append(out, PlannedFile{Dest: e.dest, Kind: e.v.Kind, Link: e.v.LinkTarget})
	}
	return out
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	Restored    int // files
	Linked      int // of them, restored as hard links to another
	Folders     int // folders given their mode, times (and owner)
	Symlinks    int
	Bytes       int64
	Existing    int // skipped because the destination exists
	Pending     int // files whose objects are not retrievable yet
	PendingArch int // objects not retrievable yet
	Failures    []Failure
	Interrupted bool
}

// PlanRestore selects the versions to restore and the objects their pieces
// are in, so that content shared by several files, and the members of one
// pack, are retrieved once.
func PlanRestore(cfg *Config, opt RestoreOptions) (*RestorePlan, error) {
	if !opt.InPlace && opt.Output == "" {
		return nil, errors.New("no output folder")
	}
	vs, err := cfg.Catalog.Select(cfg.Target.ID, opt.Prefixes, opt.At)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	ids := make([]int64, 0, len(vs))
	for _, v := range vs {
		if v.Kind == catalog.KindFile {
			ids = append(ids, v.ID)
		}
	}
	pieces, err := cfg.Catalog.Pieces(ids)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	plan := &RestorePlan{}
	byObject := map[string]*RestoreItem{}
	for i := range vs {
		v := &vs[i]
		if v.Kind == catalog.KindDir && v.Path == "/" {
			continue // a backup of "/": restore writes into --output, or "/" is there
		}
		if err := checkSafePath(v.Path); err != nil {
			plan.Unsafe = append(plan.Unsafe, Failure{Path: v.Path, Err: fmt.Errorf("%w; not restored", err)})
			continue
		}
		dest := Destination(opt, v.Path)
		if v.Kind != catalog.KindFile {
			plan.addEntry(*v, dest, opt.Overwrite)
			continue
		}
		ps := pieces[v.ID]
		if len(ps) == 0 && v.Size > 0 {
			return nil, fmt.Errorf("the catalogue has no stored content for %q (version %d)", v.Path, v.ID)
		}
		if !opt.Overwrite {
			if _, err := lstat(dest); err == nil {
				plan.Existing = append(plan.Existing, dest)
				continue
			}
		}
		for j := range ps {
			if ps[j].Hash == v.ContentHash {
				ps[j].Hash = v.ContentHash // one copy of a whole file's hash, not two
			}
		}
		f := &restoreFile{v: v, dest: dest, pieces: ps}
		for _, p := range ps {
			it := byObject[p.Object.ArchiveID]
			if it == nil {
				it = &RestoreItem{ArchiveID: p.Object.ArchiveID, Class: p.Object.Class, Size: p.Object.Size, lo: p.Object.Size,
					ranges: retrievesRanges(cfg, *p.Object)}
				if it.Size == 0 {
					it.Size = p.Length // archives of older catalogues: their one blob
				}
				if it.Size == 0 && p.Kind == catalog.BlobArchive {
					// The Python tool recorded no stored size: its archive
					// is the file, compressed or not, and encrypted or not,
					// so the file's size stands for it (an estimate, not 0).
					it.Size = v.Size
				}
				byObject[p.Object.ArchiveID] = it
				plan.Items = append(plan.Items, it)
			}
			if !slices.Contains(f.items, it) {
				f.items = append(f.items, it)
				it.Files++
			}
			it.Need += p.Length
			if p.Kind == catalog.BlobArchive {
				it.lo, it.hi = 0, it.Size // read whole
			} else {
				it.Reads++
				it.lo, it.hi = min(it.lo, p.Offset), max(it.hi, p.Offset+p.Length)
			}
		}
		plan.files = append(plan.files, f)
		plan.Files++
		plan.Restored += v.Size
	}
	// A restore reads members in windows (restore_window.go): one ranged
	// read per window, not per member.
	wins := planWindows(contentGroups(plan.files))
	for _, it := range plan.Items {
		if it.Reads > 0 {
			it.Reads = int64(len(wins.byObj[it.ArchiveID]))
		}
		if it.ranges {
			it.Offset, it.Length = chooseRange(it.lo, it.hi, it.Size)
		}
		plan.Bytes += it.Retrieved()
		if it.Ranged() {
			plan.Ranged++
		}
	}
	sort.Slice(plan.files, func(i, j int) bool { return plan.files[i].dest < plan.files[j].dest })
	sort.Slice(plan.entries, func(i, j int) bool { return plan.entries[i].dest < plan.entries[j].dest })
	return plan, nil
}

// Restore carries out a plan: it requests (or reuses) a retrieval for each
// object, waits if asked, then reads, verifies, decodes and places each file
// as soon as every object it needs is ready.
func Restore(ctx context.Context, cfg *Config, opt RestoreOptions, plan *RestorePlan) (RestoreResult, error) {
	res := RestoreResult{Existing: len(plan.Existing)}
	res.Failures = append(res.Failures, plan.Unsafe...)
	obs := cfg.observer()
	var total int64
	for _, f := range plan.files {
		total += f.v.Size
	}
	obs.Found(plan.Files, total)
	obs.Scanned()
	for _, d := range plan.Existing {
		obs.Notice(d, "exists, not overwritten (use --overwrite to replace it)")
	}
	// Request or reuse a retrieval for every object.
	for _, it := range plan.Items {
		r, reused, err := retrieval(ctx, cfg, opt, it)
		if err != nil {
			return res, err
		}
		it.Retrieval, it.Reused = r, reused
	}

	var mu sync.Mutex
	root := destRoot{overwrite: opt.Overwrite, owner: !opt.NoOwner && os.Geteuid() == 0}
	if !opt.InPlace {
		root.out = filepath.Clean(opt.Output)
	}
	sweeper := newTempSweeper(root)
	dirs := newDirCache(root, 256)
	defer dirs.close()
	// A run killed after a file was linked into place but before its
	// temporary file was removed leaves that file beside a complete one,
	// which this run skips: remove it too.
	for _, d := range plan.Existing {
		sweeper.sweep(nil, d)
	}
	rd := newPieceReader(cfg)
	pending := append([]*restoreFile(nil), plan.files...)
	interval := opt.Poll
	if interval <= 0 {
		interval = 30 * time.Second
	}
	for {
		for _, it := range plan.Items {
			if it.Retrieval.Ready {
				continue
			}
			r, err := refreshRetrieval(ctx, cfg, opt, it, it.Retrieval)
			if err != nil {
				return res, err
			}
			it.Retrieval = r
		}
		var ready, still []*restoreFile
		for _, f := range pending {
			if f.ready() {
				ready = append(ready, f)
			} else {
				still = append(still, f)
			}
		}
		fetchAll(ctx, cfg, rd, ready, root, dirs, sweeper, &res, &mu)
		pending = still
		if len(pending) == 0 || !opt.Wait || stopRequested(ctx, opt.Stop) {
			break
		}
		for _, f := range pending {
			obs.Notice(f.dest, fmt.Sprintf("waiting for retrieval (%s tier)", tierOrDefault(f.items[0].Retrieval.Tier)))
		}
		if err := sleepCtx(ctx, opt.Stop, interval); err != nil {
			break
		}
		if opt.PollMax > 0 {
			interval = min(interval*2, opt.PollMax)
		}
	}
	if !stopRequested(ctx, opt.Stop) {
		restoreEntries(cfg, plan, root, sweeper, pending, &res)
	}
	if err := dirs.sync(); err != nil {
		return res, err
	}
	waiting := map[*RestoreItem]bool{}
	for _, f := range pending {
		res.Pending++
		for _, it := range f.items {
			if !it.Retrieval.Ready {
				waiting[it] = true
			}
		}
	}
	res.PendingArch = len(waiting)
	if stopRequested(ctx, opt.Stop) {
		res.Interrupted = true
	}
	sort.Slice(res.Failures, func(i, j int) bool { return res.Failures[i].Path < res.Failures[j].Path })
	return res, nil
}

func tierOrDefault(t store.Tier) store.Tier {
	if t == "" {
		return store.TierStandard
	}
	return t
}

func stopRequested(ctx context.Context, stop <-chan struct{}) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

func sleepCtx(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-stop:
		return context.Canceled
	case <-ctx.Done():
		return ctx.Err()
	}
}

// eachObject calls fn for each of objs, jobs at a time, until stopped
// reports true (checked before each object is handed out).
func eachObject(jobs int, objs []catalog.Object, stopped func() bool, fn func(catalog.Object)) {
	work := make(chan catalog.Object)
	var wg sync.WaitGroup
	for range max(jobs, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				fn(o)
			}
		}()
	}
	for _, o := range objs {
		if stopped() {
			break
		}
		work <- o
	}
	close(work)
	wg.Wait()
}
