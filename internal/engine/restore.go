package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// RestoreOptions says what to restore and where.
type RestoreOptions struct {
	Prefixes  []string  // absolute paths or folder prefixes; empty = everything
	At        time.Time // restore the versions current at this time; zero = latest
	Output    string    // folder to restore under (see Destination)
	InPlace   bool      // restore to the original paths instead of under Output
	Overwrite bool      // replace existing files
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

// RestoreItem is one archive to fetch and the files it gives back.
type RestoreItem struct {
	ArchiveID string
	Size      int64 // stored bytes to retrieve
	Versions  []catalog.Version
	Dests     []string // Destination of each version, same order
	Retrieval store.Retrieval
	Reused    bool // a retrieval already requested earlier is reused
}

// RestorePlan is what a restore will do, for the user to see before paying.
type RestorePlan struct {
	Items    []*RestoreItem
	Files    int
	Bytes    int64     // stored bytes to retrieve
	Existing []string  // destinations that exist and will be skipped (no --overwrite)
	Unsafe   []Failure // catalogue paths refused (ErrUnsafePath)
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	Restored    int
	Bytes       int64
	Existing    int // skipped because the destination exists
	Pending     int // files whose archives are not retrievable yet
	PendingArch int
	Failures    []Failure
	Interrupted bool
}

// PlanRestore selects the versions to restore and groups them by archive,
// so content shared by several paths is fetched once.
func PlanRestore(cfg *Config, opt RestoreOptions) (*RestorePlan, error) {
	if !opt.InPlace && opt.Output == "" {
		return nil, errors.New("no output folder")
	}
	vs, err := cfg.Catalog.Select(cfg.Target.ID, opt.Prefixes, opt.At)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	plan := &RestorePlan{}
	byArchive := map[string]*RestoreItem{}
	for _, v := range vs {
		if v.ArchiveID == "" {
			continue
		}
		if err := checkSafePath(v.Path); err != nil {
			plan.Unsafe = append(plan.Unsafe, Failure{Path: v.Path, Err: fmt.Errorf("%w; not restored", err)})
			continue
		}
		dest := Destination(opt, v.Path)
		if !opt.Overwrite {
			if _, err := lstat(dest); err == nil {
				plan.Existing = append(plan.Existing, dest)
				continue
			}
		}
		it := byArchive[v.ArchiveID]
		if it == nil {
			it = &RestoreItem{ArchiveID: v.ArchiveID, Size: v.StoredSize}
			byArchive[v.ArchiveID] = it
			plan.Items = append(plan.Items, it)
			plan.Bytes += v.StoredSize
		}
		it.Versions = append(it.Versions, v)
		it.Dests = append(it.Dests, dest)
		plan.Files++
	}
	sort.Slice(plan.Items, func(i, j int) bool { return plan.Items[i].Dests[0] < plan.Items[j].Dests[0] })
	return plan, nil
}

// Restore carries out a plan: it requests (or reuses) a retrieval for each
// archive, waits if asked, then downloads, verifies, decodes and places
// each file.
func Restore(ctx context.Context, cfg *Config, opt RestoreOptions, plan *RestorePlan) (RestoreResult, error) {
	res := RestoreResult{Existing: len(plan.Existing)}
	res.Failures = append(res.Failures, plan.Unsafe...)
	obs := cfg.observer()
	var total int64
	for _, it := range plan.Items {
		for _, v := range it.Versions {
			total += v.Size
		}
	}
	obs.Found(plan.Files, total)
	obs.Scanned()
	for _, d := range plan.Existing {
		obs.Notice(d, "exists, not overwritten (use --overwrite to replace it)")
	}
	// Request or reuse a retrieval for every archive.
	for _, it := range plan.Items {
		r, reused, err := retrieval(ctx, cfg, opt, it.ArchiveID)
		if err != nil {
			return res, err
		}
		it.Retrieval, it.Reused = r, reused
	}

	var mu sync.Mutex
	root := destRoot{overwrite: opt.Overwrite}
	if !opt.InPlace {
		root.out = filepath.Clean(opt.Output)
	}
	sweeper := newTempSweeper(root)
	// A run killed after a file was linked into place but before its
	// temporary file was removed leaves that file beside a complete one,
	// which this run skips: remove it too.
	for _, d := range plan.Existing {
		sweeper.sweep(nil, d)
	}
	pending := append([]*RestoreItem(nil), plan.Items...)
	interval := opt.Poll
	if interval <= 0 {
		interval = 30 * time.Second
	}
	for {
		var ready, still []*RestoreItem
		for _, it := range pending {
			if !it.Retrieval.Ready {
				r, err := cfg.Store.Poll(ctx, it.Retrieval)
				if errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotFound) {
					// The job's output is gone: ask again (the old job is paid for, but nothing
					// can be read from it any more).
					_ = cfg.Catalog.DeleteRetrieval(cfg.Target.ID, "archive", it.ArchiveID)
					r, _, err = retrieval(ctx, cfg, opt, it.ArchiveID)
				}
				if err != nil {
					return res, fmt.Errorf("checking retrieval of archive %s: %w", it.ArchiveID, err)
				}
				it.Retrieval = r
				if r.Ready {
					_ = saveRetrieval(cfg, r)
				}
			}
			if it.Retrieval.Ready {
				ready = append(ready, it)
			} else {
				still = append(still, it)
			}
		}
		fetchAll(ctx, cfg, ready, root, sweeper, &res, &mu)
		pending = still
		if len(pending) == 0 || !opt.Wait || stopRequested(ctx, opt.Stop) {
			break
		}
		for _, it := range pending {
			obs.Notice(it.Dests[0], fmt.Sprintf("waiting for retrieval (%s tier)", tierOrDefault(it.Retrieval.Tier)))
		}
		if err := sleepCtx(ctx, opt.Stop, interval); err != nil {
			break
		}
		if opt.PollMax > 0 {
			interval = min(interval*2, opt.PollMax)
		}
	}
	for _, it := range pending {
		res.PendingArch++
		res.Pending += len(it.Versions)
	}
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

// retrieval returns a usable retrieval for an archive: the one recorded in
// the catalogue when it is still pending or unexpired, else a new request,
// which is recorded at once so an interrupted run never pays twice.
func retrieval(ctx context.Context, cfg *Config, opt RestoreOptions, archiveID string) (store.Retrieval, bool, error) {
	if old, ok, err := cfg.Catalog.Retrieval(cfg.Target.ID, "archive", archiveID); err != nil {
		return store.Retrieval{}, false, fmt.Errorf("reading the catalogue: %w", err)
	} else if ok && (old.Expires.IsZero() || old.Expires.After(cfg.now())) && old.JobID != "" {
		return store.Retrieval{
			Kind: store.KindArchive, ArchiveID: archiveID, Tier: store.Tier(old.Tier), Days: old.Days,
			JobID: old.JobID, Ready: old.Ready, Size: old.Size, TreeHash: old.TreeHash,
			Requested: old.Requested, Expires: old.Expires,
		}, true, nil
	}
	r, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: archiveID, Tier: opt.Tier, Days: opt.Days})
	if err != nil {
		return r, false, fmt.Errorf("requesting archive %s: %w", archiveID, err)
	}
	if r.JobID != "" {
		if err := saveRetrieval(cfg, r); err != nil {
			return r, false, err
		}
	}
	return r, false, nil
}

func saveRetrieval(cfg *Config, r store.Retrieval) error {
	if r.JobID == "" {
		return nil
	}
	err := cfg.Catalog.SaveRetrieval(catalog.Retrieval{
		TargetID: cfg.Target.ID, Kind: "archive", ArchiveID: r.ArchiveID, JobID: r.JobID,
		Tier: string(r.Tier), Requested: r.Requested, Expires: r.Expires, Ready: r.Ready,
		Size: r.Size, TreeHash: r.TreeHash, Days: r.Days,
	})
	if err != nil {
		return fmt.Errorf("recording the retrieval job: %w", err)
	}
	return nil
}

// fetchAll downloads and places the ready items, several at a time.
func fetchAll(ctx context.Context, cfg *Config, items []*RestoreItem, root destRoot, sw *tempSweeper, res *RestoreResult, mu *sync.Mutex) {
	sem := make(chan struct{}, cfg.jobs())
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fetchItem(ctx, cfg, it, root, sw, res, mu)
		}()
	}
	wg.Wait()
}

// dirError is a destination folder that cannot be opened or created: it
// fails the files that go there, not the archive.
type dirError struct{ err error }

func (e *dirError) Error() string { return e.err.Error() }
func (e *dirError) Unwrap() error { return e.err }

func fetchItem(ctx context.Context, cfg *Config, it *RestoreItem, root destRoot, sw *tempSweeper, res *RestoreResult, mu *sync.Mutex) {
	obs := cfg.observer()
	fail := func(i int, err error) {
		mu.Lock()
		res.Failures = append(res.Failures, Failure{Path: it.Dests[i], Err: err})
		mu.Unlock()
		obs.Done(it.Dests[i], "failed", err)
	}
	for i, d := range it.Dests {
		obs.Start(d, it.Versions[i].Size)
	}
	// Each destination folder is opened (and created) once, when needed.
	dirs := map[string]*destDir{}
	dirErrs := map[string]error{}
	defer func() {
		for _, d := range dirs {
			d.close()
		}
	}()
	dirFor := func(dest string) (*destDir, error) {
		p := filepath.Dir(dest)
		if d, ok := dirs[p]; ok {
			return d, nil
		}
		if err, ok := dirErrs[p]; ok {
			return nil, err
		}
		d, err := root.openDir(p, true)
		if err != nil {
			err = &dirError{err}
			dirErrs[p] = err
			return nil, err
		}
		dirs[p] = d
		return d, nil
	}
	// The archive is decoded beside the first destination whose folder
	// can be had; the others get a copy.
	first, tmp := -1, ""
	var tmpDir *destDir
	for i := range it.Dests {
		d, name, err := decodeTo(ctx, cfg, it.Retrieval, it.Versions[i], it.Dests[i], func() (*destDir, error) { return dirFor(it.Dests[i]) }, sw)
		if err == nil {
			first, tmpDir, tmp = i, d, name
			break
		}
		var de *dirError
		if errors.As(err, &de) {
			fail(i, err)
			continue
		}
		for j := i; j < len(it.Dests); j++ { // the archive itself failed
			fail(j, err)
		}
		return
	}
	if first < 0 {
		return
	}
	defer tmpDir.remove(tmp)
	last := first // the last destination that can be written takes tmp itself
	for i := first + 1; i < len(it.Dests); i++ {
		if _, err := dirFor(it.Dests[i]); err == nil {
			last = i
		}
	}
	for i := first; i < len(it.Dests); i++ {
		d, err := dirFor(it.Dests[i])
		if err == nil {
			keep := i != last || d != tmpDir
			err = place(tmpDir, tmp, d, it.Dests[i], it.Versions[i], keep, root.overwrite, sw)
		}
		if err != nil {
			fail(i, err)
			continue
		}
		mu.Lock()
		res.Restored++
		res.Bytes += it.Versions[i].Size
		mu.Unlock()
		obs.Done(it.Dests[i], "restored", nil)
	}
}

// decodeTo reads archive r, verifies it and writes the file content of v to
// a new temporary file beside dest, in the folder dir opens (and creates),
// returning that folder and the temporary file's name. Nothing is created
// before the archive is known to be readable with the key (a wrong key
// fails before any output), except a cold-storage retrieval's download.
func decodeTo(ctx context.Context, cfg *Config, r store.Retrieval, v catalog.Version, dest string, dir func() (*destDir, error), sw *tempSweeper) (*destDir, string, error) {
	// Every read of the archive is checked against the tree hash the
	// catalogue recorded at upload: a reader reports corruption instead of a
	// clean end of file.
	read := func() (io.ReadCloser, error) { return cfg.Store.ReadRange(ctx, r, 0, -1) }
	if r.JobID != "" {
		// A cold-storage retrieval: download it once (resumably) beside
		// the destination, then decode from disk.
		d, err := dir()
		if err != nil {
			return nil, "", err
		}
		name, err := download(ctx, cfg.Store, r, v.Checksum, d, cfg.observer())
		if err != nil {
			return nil, "", err
		}
		defer d.remove(name)
		read = func() (io.ReadCloser, error) { return d.open(name, os.O_RDONLY, 0) }
	}
	content, closeAll, err := contentReader(cfg, r.ArchiveID, v, read)
	if err != nil {
		return nil, "", err
	}
	defer closeAll()

	d, err := dir()
	if err != nil {
		return nil, "", err
	}
	sw.sweep(d, dest)
	tmp, name, err := d.createTemp(tempPrefix(dest))
	if err != nil {
		return nil, "", fmt.Errorf("creating temporary file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			d.remove(name)
		}
	}()
	h := cfg.contentHash()
	sw2 := newSparseWriter(tmp)
	n, err := io.Copy(io.MultiWriter(sw2, h, progressWriter{cfg.observer()}), content)
	if err != nil {
		return nil, "", fmt.Errorf("archive %s: %w", r.ArchiveID, err)
	}
	if err := sw2.Finish(); err != nil {
		return nil, "", fmt.Errorf("writing: %w", err)
	}
	if n != v.Size {
		return nil, "", fmt.Errorf("archive %s gave %d bytes, the catalogue recorded %d", r.ArchiveID, n, v.Size)
	}
	if v.ContentHash != "" && hex.EncodeToString(h.Sum(nil)) != v.ContentHash {
		return nil, "", fmt.Errorf("archive %s: content does not match the catalogue's hash (corrupt archive, or a different key than the one used for the backup)", r.ArchiveID)
	}
	if err := tmp.Sync(); err != nil {
		return nil, "", fmt.Errorf("writing: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, "", fmt.Errorf("writing: %w", err)
	}
	ok = true
	return d, name, nil
}

// treeVerifier passes an archive's bytes through and, at their end, reports
// an error instead of io.EOF when their SHA-256 tree hash is not the one
// recorded.
type treeVerifier struct {
	rc   io.ReadCloser
	th   hash.Hash
	want string
	id   string
}

func (t *treeVerifier) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.th.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(t.th.Sum(nil)); got != t.want {
			return n, fmt.Errorf("archive %s is corrupt: its tree hash is %s, the catalogue recorded %s", t.id, got, t.want)
		}
	}
	return n, err
}

func (t *treeVerifier) Close() error { return t.rc.Close() }

type progressWriter struct{ o Observer }

func (p progressWriter) Write(b []byte) (int, error) { p.o.Progress(int64(len(b))); return len(b), nil }

// place gives the verified temporary file tmp (in folder tmpDir) its mode
// and mtime and puts it at dest, in folder d. keep says tmp is needed
// again (a copy is placed). Without overwrite, an existing dest is never
// replaced: the file is linked into place, which fails if the name exists.
func place(tmpDir *destDir, tmp string, d *destDir, dest string, v catalog.Version, keep, overwrite bool, sw *tempSweeper) error {
	name := filepath.Base(dest)
	src := tmp
	if keep {
		c, err := copyBeside(tmpDir, tmp, d, dest, sw)
		if err != nil {
			return err
		}
		src = c
		defer d.remove(c)
	}
	mode := format.ModeFromUnix(v.Mode) // setuid, setgid and sticky too
	if v.Mode == 0 {
		mode = 0o644 // legacy records carry no mode
	}
	mtime := time.Unix(0, v.MTimeNS)
	if v.MTimeNS == 0 {
		mtime = floatTime(v.MTime)
	}
	if err := d.setMeta(src, mode, mtime); err != nil {
		return err
	}
	if overwrite {
		if err := d.rename(src, name); err != nil {
			return fmt.Errorf("moving into place: %w", err)
		}
		return nil
	}
	// Linking never replaces an existing name, atomically.
	err := d.link(src, name)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists, not overwritten (use --overwrite to replace it)", dest)
	}
	if err != nil {
		// A file system without hard links (FAT, some network mounts):
		// check, then rename.
		if d.exists(name) {
			return fmt.Errorf("%s exists, not overwritten (use --overwrite to replace it)", dest)
		}
		if err := d.rename(src, name); err != nil {
			return fmt.Errorf("moving into place: %w", err)
		}
	}
	return nil
}

// copyBeside copies the temporary file src (in folder srcDir) to a new
// temporary file beside dest, in folder d, and returns its name.
func copyBeside(srcDir *destDir, src string, d *destDir, dest string, sw *tempSweeper) (string, error) {
	in, err := srcDir.open(src, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer in.Close()
	sw.sweep(d, dest)
	out, name, err := d.createTemp(tempPrefix(dest))
	if err != nil {
		return "", fmt.Errorf("creating temporary file: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		d.remove(name)
		return "", fmt.Errorf("copying: %w", err)
	}
	if err := out.Close(); err != nil {
		d.remove(name)
		return "", err
	}
	return name, nil
}

// floatTime converts a legacy float mtime (Python's os.path.getmtime) to a
// time, rounded to the microsecond: a float64 of today's Unix time cannot
// hold more precision than that, and Python printed six decimals.
func floatTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	us := int64(math.Round(frac * 1e6))
	return time.Unix(int64(sec), us*1000)
}
