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
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

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

// RestoreItem is one stored object to retrieve (an archive or a pack) and
// how many of the files to restore need it.
type RestoreItem struct {
	ArchiveID string
	Size      int64 // the object's stored bytes
	Need      int64 // the bytes of it the restore reads (members of a pack)
	Files     int   // files with a piece in it
	Retrieval store.Retrieval
	Reused    bool // a retrieval already requested earlier is reused
}

// restoreFile is one file to restore: its version, destination and pieces.
type restoreFile struct {
	v      catalog.Version
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
	Bytes    int64     // stored bytes to retrieve (whole objects)
	Restored int64     // bytes of the files it restores
	Existing []string  // destinations that exist and will be skipped (no --overwrite)
	Unsafe   []Failure // catalogue paths refused (ErrUnsafePath)
	files    []*restoreFile
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

// PlannedFile is one file a plan restores: where to, and the ids of the
// objects its content is read from.
type PlannedFile struct {
	Dest    string
	Objects []string
}

// Listing lists the files the plan restores, in order.
func (p *RestorePlan) Listing() []PlannedFile {
	out := make([]PlannedFile, len(p.files))
	for i, f := range p.files {
		out[i].Dest = f.dest
		for _, it := range f.items {
			out[i].Objects = append(out[i].Objects, it.ArchiveID)
		}
	}
	return out
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	Restored    int
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
	for _, v := range vs {
		if v.Kind != catalog.KindFile {
			continue
		}
		if err := checkSafePath(v.Path); err != nil {
			plan.Unsafe = append(plan.Unsafe, Failure{Path: v.Path, Err: fmt.Errorf("%w; not restored", err)})
			continue
		}
		ps := pieces[v.ID]
		if len(ps) == 0 && v.Size > 0 {
			return nil, fmt.Errorf("the catalogue has no stored content for %q (version %d)", v.Path, v.ID)
		}
		dest := Destination(opt, v.Path)
		if !opt.Overwrite {
			if _, err := lstat(dest); err == nil {
				plan.Existing = append(plan.Existing, dest)
				continue
			}
		}
		f := &restoreFile{v: v, dest: dest, pieces: ps}
		for _, p := range ps {
			it := byObject[p.Object.ArchiveID]
			if it == nil {
				it = &RestoreItem{ArchiveID: p.Object.ArchiveID, Size: p.Object.Size}
				if it.Size == 0 {
					it.Size = p.Length // archives of older catalogues: their one blob
				}
				byObject[p.Object.ArchiveID] = it
				plan.Items = append(plan.Items, it)
				plan.Bytes += it.Size
			}
			if !slices.Contains(f.items, it) {
				f.items = append(f.items, it)
				it.Files++
			}
			it.Need += p.Length
		}
		plan.files = append(plan.files, f)
		plan.Files++
		plan.Restored += v.Size
	}
	sort.Slice(plan.files, func(i, j int) bool { return plan.files[i].dest < plan.files[j].dest })
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
		var ready, still []*restoreFile
		for _, f := range pending {
			if f.ready() {
				ready = append(ready, f)
			} else {
				still = append(still, f)
			}
		}
		fetchAll(ctx, cfg, rd, ready, root, sweeper, &res, &mu)
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

// fetchAll restores the ready files, several at a time. Files that share
// their content (copies, hard links) are decoded once and copied.
func fetchAll(ctx context.Context, cfg *Config, rd *pieceReader, files []*restoreFile, root destRoot, sw *tempSweeper, res *RestoreResult, mu *sync.Mutex) {
	sem := make(chan struct{}, cfg.jobs())
	var wg sync.WaitGroup
	groups := map[string][]*restoreFile{}
	var order []string
	for _, f := range files {
		k := contentGroup(f)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	for _, k := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fetchGroup(ctx, cfg, rd, groups[k], root, sw, res, mu)
		}()
	}
	wg.Wait()
}

// contentGroup names what a file's content is made of, so that files with
// the same pieces are decoded once.
func contentGroup(f *restoreFile) string {
	var b strings.Builder
	for _, p := range f.pieces {
		fmt.Fprintf(&b, "%d,", p.ID)
	}
	if len(f.pieces) == 0 {
		b.WriteString("empty:" + f.dest)
	}
	return b.String()
}

// dirError is a destination folder that cannot be had: it fails only the
// files in it.
type dirError struct{ err error }

func (e *dirError) Error() string { return e.err.Error() }
func (e *dirError) Unwrap() error { return e.err }

// fetchGroup restores files with the same content: decoded once beside the
// first destination whose folder can be had, copied to the others.
func fetchGroup(ctx context.Context, cfg *Config, rd *pieceReader, files []*restoreFile, root destRoot, sw *tempSweeper, res *RestoreResult, mu *sync.Mutex) {
	obs := cfg.observer()
	fail := func(i int, err error) {
		mu.Lock()
		res.Failures = append(res.Failures, Failure{Path: files[i].dest, Err: err})
		mu.Unlock()
		obs.Done(files[i].dest, "failed", err)
	}
	for _, f := range files {
		obs.Start(f.dest, f.v.Size)
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
	first, tmp := -1, ""
	var tmpDir *destDir
	for i := range files {
		d, name, err := restoreContent(ctx, cfg, rd, files[i], func() (*destDir, error) { return dirFor(files[i].dest) }, sw)
		if err == nil {
			first, tmpDir, tmp = i, d, name
			break
		}
		var de *dirError
		if errors.As(err, &de) {
			fail(i, err)
			continue
		}
		for j := i; j < len(files); j++ { // the content itself failed
			fail(j, err)
		}
		return
	}
	if first < 0 {
		return
	}
	defer tmpDir.remove(tmp)
	last := first // the last destination that can be written takes tmp itself
	for i := first + 1; i < len(files); i++ {
		if _, err := dirFor(files[i].dest); err == nil {
			last = i
		}
	}
	for i := first; i < len(files); i++ {
		d, err := dirFor(files[i].dest)
		if err == nil {
			keep := i != last || d != tmpDir
			err = place(tmpDir, tmp, d, files[i].dest, files[i].v, keep, root.overwrite, sw)
		}
		if err != nil {
			fail(i, err)
			continue
		}
		mu.Lock()
		res.Restored++
		res.Bytes += files[i].v.Size
		mu.Unlock()
		obs.Done(files[i].dest, "restored", nil)
	}
}

// restoreContent reads, verifies and decodes the pieces of f in order into
// a new temporary file beside its destination, in the folder dir opens
// (and creates), and returns that folder and the file's name. A wrong key
// fails on the first piece, before anything is written (but a cold
// archive's download).
func restoreContent(ctx context.Context, cfg *Config, rd *pieceReader, f *restoreFile, dir func() (*destDir, error), sw *tempSweeper) (*destDir, string, error) {
	v := f.v
	var first io.ReadCloser
	defer func() {
		if first != nil {
			first.Close()
		}
	}()
	if len(f.pieces) > 0 {
		var err error
		if first, err = rd.open(ctx, f, 0, dir); err != nil {
			return nil, "", err
		}
	}
	d, err := dir()
	if err != nil {
		return nil, "", err
	}
	sw.sweep(d, f.dest)
	tmp, name, err := d.createTemp(tempPrefix(f.dest))
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
	out := newSparseWriter(tmp)
	var total int64
	for i, p := range f.pieces {
		rc := first
		first = nil
		if i > 0 {
			if rc, err = rd.open(ctx, f, i, dir); err != nil {
				return nil, "", err
			}
		}
		ph := cfg.contentHash()
		n, err := io.Copy(io.MultiWriter(out, h, ph, progressWriter{cfg.observer()}), rc)
		rc.Close()
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", pieceName(p), err)
		}
		if n != p.Size {
			return nil, "", fmt.Errorf("%s gave %d bytes, the catalogue recorded %d", pieceName(p), n, p.Size)
		}
		if p.Kind != catalog.BlobArchive && p.Hash != "" && hex.EncodeToString(ph.Sum(nil)) != p.Hash {
			return nil, "", fmt.Errorf("%s: content does not match the catalogue's hash (a damaged or swapped member)", pieceName(p))
		}
		total += n
	}
	if err := out.Finish(); err != nil {
		return nil, "", fmt.Errorf("writing: %w", err)
	}
	if total != v.Size {
		return nil, "", fmt.Errorf("the stored pieces gave %d bytes, the catalogue recorded %d", total, v.Size)
	}
	if v.ContentHash != "" && hex.EncodeToString(h.Sum(nil)) != v.ContentHash {
		return nil, "", errors.New("content does not match the catalogue's hash (corrupt archive, or a different key than the one used for the backup)")
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

func pieceName(p catalog.Piece) string {
	if p.Kind == catalog.BlobArchive {
		return "archive " + p.Object.ArchiveID
	}
	return fmt.Sprintf("member %d of pack %s", p.Member, p.Object.ArchiveID)
}

// pieceReader opens the pieces of files, with one pack identity per pack
// (one X25519 operation per pack).
type pieceReader struct {
	cfg *Config
	mu  sync.Mutex
	ids map[string]age.Identity
}

func newPieceReader(cfg *Config) *pieceReader {
	return &pieceReader{cfg: cfg, ids: map[string]age.Identity{}}
}

// identity returns the identity for a pack member with this encoding: nil
// when it is not encrypted (a key is offered only to encrypted content, so
// nobody can slip in a plaintext one).
func (r *pieceReader) identity(p catalog.Piece) age.Identity {
	if r.cfg.Key == nil || !strings.HasSuffix(p.Encoding, "+age") {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[p.Object.PackID]
	if !ok {
		id = format.NewPackIdentity(r.cfg.Key.AgeIdentity())
		r.ids[p.Object.PackID] = id
	}
	return id
}

// open returns the decoded content of piece i of f, verified as it is
// read. A whole archive in cold storage is downloaded (resumably) into the
// folder dir opens first.
func (r *pieceReader) open(ctx context.Context, f *restoreFile, i int, dir func() (*destDir, error)) (io.ReadCloser, error) {
	p := f.pieces[i]
	var it *RestoreItem
	for _, x := range f.items {
		if x.ArchiveID == p.Object.ArchiveID {
			it = x
		}
	}
	if p.Kind == catalog.BlobArchive {
		return openArchive(ctx, r.cfg, it.Retrieval, p, f.v, dir)
	}
	pack, err := format.ParsePackID(p.Object.PackID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pieceName(p), err)
	}
	kind := format.KindFile
	if p.Kind == catalog.BlobChunk {
		kind = format.KindChunk
	}
	raw, err := r.cfg.Store.ReadRange(ctx, it.Retrieval, p.Offset, p.Length)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", pieceName(p), err)
	}
	m, err := format.OpenMember(raw, r.identity(p), format.MemberRef{Pack: pack, Number: uint32(p.Member), Kind: kind})
	if err != nil {
		raw.Close()
		return nil, err
	}
	return &stackCloser{Reader: m, closers: []io.Closer{m, raw}}, nil
}

// stackCloser closes readers first, then what they read from.
type stackCloser struct {
	io.Reader
	closers []io.Closer
}

func (s *stackCloser) Close() error {
	var err error
	for _, c := range s.closers {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// closeFunc is a function as an io.Closer.
type closeFunc func()

func (f closeFunc) Close() error { f(); return nil }

// openArchive returns the decoded content of a whole v1 or legacy archive
// (contentReader checks it against its tree hash as it is read). A
// cold-storage retrieval is downloaded beside the destination first.
func openArchive(ctx context.Context, cfg *Config, r store.Retrieval, p catalog.Piece, v catalog.Version, dir func() (*destDir, error)) (io.ReadCloser, error) {
	if p.Object.TreeHash != "" {
		v.Checksum = p.Object.TreeHash
	}
	if p.Encoding != "" {
		v.Compression = p.Encoding
	}
	read := func() (io.ReadCloser, error) { return cfg.Store.ReadRange(ctx, r, 0, -1) }
	var cleanup func()
	if r.JobID != "" {
		d, err := dir()
		if err != nil {
			return nil, err
		}
		name, err := download(ctx, cfg.Store, r, v.Checksum, d, cfg.observer())
		if err != nil {
			return nil, err
		}
		cleanup = func() { d.remove(name) }
		read = func() (io.ReadCloser, error) { return d.open(name, os.O_RDONLY, 0) }
	}
	content, closeAll, err := contentReader(cfg, r.ArchiveID, v, read)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, err
	}
	closers := []io.Closer{closeFunc(closeAll)}
	if cleanup != nil {
		closers = append(closers, closeFunc(cleanup))
	}
	return &stackCloser{Reader: content, closers: closers}, nil
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
