package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// ErrChanged means a file changed while it was being read; it was not
// recorded as backed up and the next run picks it up.
var ErrChanged = errors.New("file changed while it was being read; not recorded, the next run will back it up")

// errVanished means a file the walk found was deleted before it could be
// opened: like a file deleted before the walk reached it, it is simply gone.
var errVanished = errors.New("deleted before it could be read")

// SyncOptions says what to back up.
type SyncOptions struct {
	Sources []string  // absolute, cleaned paths of files or folders
	Exclude *Excluder // may be nil
	DryRun  bool      // count what would be uploaded, change nothing
	// Stop, when closed or cancelled, stops the sync from starting new files;
	// files in flight finish (or are abandoned when the main context ends).
	Stop <-chan struct{}
}

// SyncResult is the summary of a sync.
type SyncResult struct {
	Uploaded      int   // files whose content was uploaded
	UploadedBytes int64 // their source bytes
	StoredBytes   int64 // bytes stored (after compression and encryption)
	Deduplicated  int   // files recorded against an archive already in the target
	Unchanged     int   // files the catalogue already has with the same size and mtime
	Deleted       int   // files gone from the source, marked deleted
	Skipped       int   // symlinks, FIFOs, sockets, devices
	Pending       int   // dry run: files that would be uploaded
	PendingBytes  int64 // dry run: their bytes
	Failures      []Failure
	Interrupted   bool // stopped early by the user
}

type syncer struct {
	cfg   *Config
	opt   SyncOptions
	fopts format.Options

	mu       sync.Mutex
	res      SyncResult
	inflight map[string]*inflightContent
	vanished map[string]bool // found by the walk, deleted before being read
	bufs     sync.Pool
}

type inflightContent struct {
	done    chan struct{}
	version catalog.Version
	ok      bool
}

// Sync backs up opt.Sources to cfg.Store, recording every finished archive
// in the catalogue in its own transaction. Per-file problems are collected
// in the result; the returned error is for problems that stop the whole run.
func Sync(ctx context.Context, cfg *Config, opt SyncOptions) (SyncResult, error) {
	s := &syncer{cfg: cfg, opt: opt, inflight: map[string]*inflightContent{}, vanished: map[string]bool{}}
	s.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	s.fopts = format.Options{Compress: cfg.Compress}
	if cfg.Encrypt {
		if cfg.Key == nil {
			return s.res, errors.New("encryption is on but no key was given")
		}
		s.fopts.Recipient = cfg.Key.AgeIdentity().Recipient()
	}

	if !opt.DryRun && cfg.Catalog != nil {
		if n, err := AbortDeadUploads(ctx, cfg); err != nil {
			cfg.log().Warn("could not clean up after an interrupted run", "err", err)
		} else if n > 0 {
			cfg.observer().Notice(cfg.Store.Location(), fmt.Sprintf("aborted %d unfinished uploads left by an interrupted run", n))
		}
	}
	// The catalogue's states load while the walk starts listing folders:
	// one is SQLite work, the other file-system calls. Files found before
	// the states arrive wait in a list.
	type loaded struct {
		states map[string]catalog.State
		err    error
	}
	statesCh := make(chan loaded, 1)
	go func() {
		if cfg.Catalog == nil { // a dry run without a catalogue compares with nothing
			statesCh <- loaded{states: map[string]catalog.State{}}
			return
		}
		st, err := cfg.Catalog.LatestStates(cfg.Target.ID, opt.Sources)
		statesCh <- loaded{st, err}
	}()
	var states map[string]catalog.State
	var early []entry
	awaitStates := func(block bool) error {
		if states != nil {
			return nil
		}
		var l loaded
		if block {
			l = <-statesCh
		} else {
			select {
			case l = <-statesCh:
			default:
				return nil
			}
		}
		if l.err != nil {
			return fmt.Errorf("reading the catalogue: %w", l.err)
		}
		states = l.states
		return nil
	}

	stopped := func() bool {
		if ctx.Err() != nil {
			return true
		}
		select {
		case <-opt.Stop:
			return true
		default:
			return false
		}
	}

	work := make(chan entry, cfg.jobs()*4)
	var wg sync.WaitGroup
	for i := 0; i < cfg.jobs(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if stopped() {
					s.mu.Lock()
					s.res.Interrupted = true
					s.mu.Unlock()
					continue
				}
				s.file(ctx, e)
			}
		}()
	}

	seen := make(map[string]struct{})
	obs := cfg.observer()
	walkCtx, cancelWalk := context.WithCancel(ctx)
	defer cancelWalk()
	go func() {
		select {
		case <-opt.Stop:
			cancelWalk()
		case <-walkCtx.Done():
		}
	}()
	var consider func(e entry) error
	consider = func(e entry) error {
		if states == nil {
			if err := awaitStates(false); err != nil {
				return err
			}
			if states == nil {
				early = append(early, e)
				return nil
			}
			for _, p := range early {
				if err := consider(p); err != nil {
					return err
				}
			}
			early = nil
		}
		seen[e.path] = struct{}{}
		if st, ok := states[e.path]; ok && unchanged(st, e.info) {
			s.mu.Lock()
			s.res.Unchanged++
			s.mu.Unlock()
			return nil
		}
		if opt.DryRun {
			s.res.Pending++
			s.res.PendingBytes += e.info.Size()
			obs.Found(1, e.info.Size())
			return nil
		}
		obs.Found(1, e.info.Size())
		select {
		case work <- e:
			return nil
		case <-walkCtx.Done():
			return walkCtx.Err()
		}
	}
	wres, werr := walk(walkCtx, opt.Sources, opt.Exclude, consider, func(ev walkEvent) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if ev.err != nil {
			s.res.Failures = append(s.res.Failures, Failure{Path: ev.path, Err: fmt.Errorf("%s: %w", ev.reason, ev.err)})
			obs.Done(ev.path, "failed", ev.err)
			return
		}
		s.res.Skipped++
		obs.Notice(ev.path, ev.reason)
	})
	if werr == nil {
		// Files found before the catalogue's states arrived.
		if werr = awaitStates(true); werr == nil && len(early) > 0 {
			pending := early
			early = nil
			for _, e := range pending {
				if werr = consider(e); werr != nil {
					break
				}
			}
		}
	}
	close(work)
	wg.Wait()
	if states == nil { // the walk ended early: still wait for the loader
		if err := awaitStates(true); err != nil && werr == nil {
			werr = err
		}
	}

	if werr != nil {
		if errors.Is(werr, context.Canceled) && stopped() {
			s.res.Interrupted = true
		} else if !errors.Is(werr, context.Canceled) {
			return s.res, fmt.Errorf("walking the sources: %w", werr)
		}
	}
	if stopped() {
		s.res.Interrupted = true
	}
	if !s.res.Interrupted && !opt.DryRun {
		if err := s.markDeleted(states, seen, wres.incomplete); err != nil {
			return s.res, err
		}
	}
	sort.Slice(s.res.Failures, func(i, j int) bool { return s.res.Failures[i].Path < s.res.Failures[j].Path })
	return s.res, nil
}

// unchanged reports whether the catalogue's latest record matches the file.
// Legacy records carry only a float mtime (Python's os.path.getmtime), so
// they compare within a microsecond.
func unchanged(st catalog.State, fi fs.FileInfo) bool {
	if st.Deleted || st.Size != fi.Size() {
		return false
	}
	ns := fi.ModTime().UnixNano()
	if st.MTimeNS != 0 {
		return st.MTimeNS == ns
	}
	return math.Abs(st.MTime-float64(ns)/1e9) < 1e-6
}

func (s *syncer) markDeleted(states map[string]catalog.State, seen map[string]struct{}, incomplete []string) error {
	var gone []string
	for p, st := range states {
		if st.Deleted {
			continue
		}
		if _, ok := seen[p]; ok && !s.vanished[p] {
			continue
		}
		if !underAny(p, s.opt.Sources) || underAny(p, incomplete) {
			continue
		}
		gone = append(gone, p)
	}
	if len(gone) == 0 {
		return nil
	}
	sort.Strings(gone)
	if err := s.cfg.Catalog.MarkDeleted(s.cfg.Target.ID, gone, s.cfg.now()); err != nil {
		return fmt.Errorf("recording deleted files: %w", err)
	}
	s.res.Deleted = len(gone)
	return nil
}

func (s *syncer) fail(path string, err error) {
	s.mu.Lock()
	s.res.Failures = append(s.res.Failures, Failure{Path: path, Err: err})
	s.mu.Unlock()
	s.cfg.observer().Done(path, "failed", err)
}

// file backs up one file: hash it, deduplicate or upload it, record it.
func (s *syncer) file(ctx context.Context, e entry) {
	obs := s.cfg.observer()
	obs.Start(e.path, e.info.Size())
	status, stored, err := s.upload(ctx, e)
	if errors.Is(err, ErrChanged) {
		// Deleted while it was read (its link count, and so its ctime,
		// changed): gone, like a file deleted a moment earlier.
		if _, lerr := lstat(e.path); errors.Is(lerr, fs.ErrNotExist) {
			err = errVanished
		}
	}
	if errors.Is(err, errVanished) {
		s.mu.Lock()
		s.vanished[e.path] = true
		s.mu.Unlock()
		obs.Notice(e.path, "deleted before it could be read; nothing to back up")
		obs.Done(e.path, "vanished", nil)
		return
	}
	if err != nil {
		s.fail(e.path, err)
		return
	}
	s.mu.Lock()
	switch status {
	case "uploaded":
		s.res.Uploaded++
		s.res.UploadedBytes += e.info.Size()
		s.res.StoredBytes += stored
	case "deduplicated":
		s.res.Deduplicated++
	case "unchanged":
		s.res.Unchanged++
	}
	s.mu.Unlock()
	obs.Done(e.path, status, nil)
}

// upload returns the outcome ("uploaded" or "deduplicated") and the bytes stored.
func (s *syncer) upload(ctx context.Context, e entry) (string, int64, error) {
	f, err := openNoFollow(e.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, errVanished
	}
	if err != nil {
		return "", 0, fmt.Errorf("cannot open: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("cannot stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", 0, errors.New("no longer a regular file")
	}

	// Recorded before, just not as the latest version (the Python tools
	// counted any matching row as backed up): record it as current again,
	// no upload.
	ns := fi.ModTime().UnixNano()
	if v, ok, err := s.cfg.Catalog.MatchVersion(s.cfg.Target.ID, e.path, fi.Size(), float64(ns)/1e9, ns); err != nil {
		return "", 0, fmt.Errorf("catalogue lookup: %w", err)
	} else if ok {
		v.ID, v.Timestamp, v.Deleted = 0, s.cfg.now(), false
		if _, err := s.cfg.Catalog.Record(v); err != nil {
			return "", 0, fmt.Errorf("recording in the catalogue: %w", err)
		}
		return "unchanged", 0, nil
	}

	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp

	// Pass 1: the content hash, which the archive's metadata carries and
	// deduplication needs before anything is sent.
	h := s.cfg.contentHash()
	n, err := io.CopyBuffer(h, io.LimitReader(f, fi.Size()+1), buf)
	if err != nil {
		return "", 0, fmt.Errorf("reading: %w", err)
	}
	if n != fi.Size() {
		return "", 0, ErrChanged
	}
	sum := h.Sum(nil)
	hexSum := hex.EncodeToString(sum)
	if err := stillSame(f, fi); err != nil {
		return "", 0, err
	}

	// Content already in the target (renamed, moved, copied file)?
	claim, wait := s.claim(hexSum)
	if wait != nil {
		<-wait.done
		if wait.ok {
			return s.recordDedup(fi, e.path, hexSum, wait.version)
		}
		claim, _ = s.claim(hexSum) // the other upload failed: try ourselves
	}
	var recorded catalog.Version
	ok := false
	defer func() { s.release(hexSum, claim, recorded, ok) }()
	if v, found, err := s.cfg.Catalog.FindContent(s.cfg.Target.ID, hexSum); err != nil {
		return "", 0, fmt.Errorf("catalogue lookup: %w", err)
	} else if found {
		st, n, err := s.recordDedup(fi, e.path, hexSum, v)
		if err == nil {
			recorded, ok = v, true
		}
		return st, n, err
	}

	// Pass 2: encode and upload.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, fmt.Errorf("rewinding: %w", err)
	}
	meta := format.Meta{
		Path: e.path, Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode().Perm(),
		ContentHash: sum, Desc: s.cfg.Desc, Encoding: format.Encoding(s.fopts), Created: s.cfg.now(),
	}
	var mk *format.MetaKey
	if s.cfg.Encrypt {
		k := format.MetaKey(s.cfg.Key.MetadataKey())
		mk = &k
	}
	descs, err := format.EncodeDescriptions(meta, mk, rand.Reader)
	if err != nil {
		return "", 0, fmt.Errorf("encoding metadata: %w", err)
	}
	piece, err := format.ParseDescription(descs[0])
	if err != nil {
		return "", 0, fmt.Errorf("encoding metadata: %w", err)
	}
	// Note the upload before anything is sent: if grsync dies before
	// recording it, a later run recognises what it stored by its group id.
	pid, err := s.cfg.Catalog.BeginUpload(s.cfg.Target.ID, e.path, piece.Group, s.cfg.now())
	if err != nil {
		return "", 0, fmt.Errorf("catalogue: %w", err)
	}
	var stored []string // archives to remove if this upload is not recorded
	committed := false
	defer func() {
		if !committed {
			s.abandon(pid, stored)
		}
	}()
	// Continuation pieces go first, so an archive never refers to pieces
	// that do not exist.
	for _, d := range descs[1:] {
		a, err := s.cfg.Store.Put(ctx, bytes.NewReader(nil), d)
		if err != nil {
			return "", 0, fmt.Errorf("storing metadata continuation: %w", err)
		}
		stored = append(stored, a.ID)
	}

	pr, pw := io.Pipe()
	type putResult struct {
		arch store.Archive
		err  error
	}
	putDone := make(chan putResult, 1)
	go func() {
		a, err := s.cfg.Store.Put(store.WithSizeHint(ctx, fi.Size()), pr, descs[0])
		pr.CloseWithError(err)
		putDone <- putResult{a, err}
	}()
	h2 := s.cfg.contentHash()
	encErr := func() error {
		w, err := format.NewWriter(pw, format.FileInfo{Path: e.path, Size: fi.Size(), Mode: fi.Mode().Perm(), ModTime: fi.ModTime()}, s.fopts)
		if err != nil {
			return err
		}
		src := io.TeeReader(io.LimitReader(f, fi.Size()), h2)
		for {
			n, rerr := src.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return werr
				}
				s.cfg.observer().Progress(int64(n))
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("reading: %w", rerr)
			}
		}
		return w.Close()
	}()
	if encErr != nil {
		pw.CloseWithError(encErr)
	} else {
		pw.Close()
	}
	pres := <-putDone
	if pres.err != nil {
		if encErr != nil && !errors.Is(encErr, io.ErrClosedPipe) {
			return "", 0, encErr
		}
		return "", 0, fmt.Errorf("upload: %w", pres.err)
	}
	stored = append(stored, pres.arch.ID)
	if encErr != nil {
		if errors.Is(encErr, format.ErrSizeMismatch) {
			return "", 0, ErrChanged
		}
		return "", 0, encErr
	}
	if !bytes.Equal(h2.Sum(nil), sum) || stillSame(f, fi) != nil {
		return "", 0, ErrChanged
	}

	v := catalog.Version{
		TargetID: s.cfg.Target.ID, Path: e.path, Size: fi.Size(),
		MTime: float64(fi.ModTime().UnixNano()) / 1e9, MTimeNS: fi.ModTime().UnixNano(),
		Mode: uint32(fi.Mode().Perm()), ArchiveID: pres.arch.ID, Location: s.cfg.Store.Location(),
		Checksum: pres.arch.TreeHash, Compression: meta.Encoding, Timestamp: s.cfg.now(),
		ContentHash: hexSum, StoredSize: pres.arch.Size, Description: s.cfg.Desc,
	}
	if _, err := s.cfg.Catalog.RecordUpload(v, pid); err != nil {
		return "", 0, fmt.Errorf("recording in the catalogue: %w", err)
	}
	committed = true
	recorded, ok = v, true
	return "uploaded", pres.arch.Size, nil
}

// recordDedup records path as a new version whose content lives in an
// archive the target already holds.
func (s *syncer) recordDedup(fi fs.FileInfo, path, hexSum string, from catalog.Version) (string, int64, error) {
	v := catalog.Version{
		TargetID: s.cfg.Target.ID, Path: path, Size: fi.Size(),
		MTime: float64(fi.ModTime().UnixNano()) / 1e9, MTimeNS: fi.ModTime().UnixNano(),
		Mode: uint32(fi.Mode().Perm()), ArchiveID: from.ArchiveID, Location: from.Location,
		Checksum: from.Checksum, Compression: from.Compression, Timestamp: s.cfg.now(),
		ContentHash: hexSum, StoredSize: from.StoredSize, Description: s.cfg.Desc,
	}
	if _, err := s.cfg.Catalog.Record(v); err != nil {
		return "", 0, fmt.Errorf("recording in the catalogue: %w", err)
	}
	return "deduplicated", 0, nil
}

// claim registers this worker as the uploader of a content hash, or returns
// the in-flight upload of the same content to wait for.
func (s *syncer) claim(hexSum string) (mine *inflightContent, other *inflightContent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.inflight[hexSum]; ok {
		return nil, o
	}
	c := &inflightContent{done: make(chan struct{})}
	s.inflight[hexSum] = c
	return c, nil
}

func (s *syncer) release(hexSum string, c *inflightContent, v catalog.Version, ok bool) {
	if c == nil {
		return
	}
	s.mu.Lock()
	if s.inflight[hexSum] == c {
		delete(s.inflight, hexSum)
	}
	s.mu.Unlock()
	c.version, c.ok = v, ok
	close(c.done)
}

// abandon removes the archives of an upload that will not be recorded and
// then forgets the upload. If an archive cannot be removed now, the upload
// stays noted and verify removes it later.
func (s *syncer) abandon(pid int64, ids []string) {
	// A fresh context: the run's may be the reason the upload failed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range ids {
		if err := s.cfg.Store.Delete(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.cfg.log().Warn("could not delete an unrecorded archive; grsync verify will remove it", "archive", id, "err", err)
			return
		}
	}
	if err := s.cfg.Catalog.EndUpload(pid); err != nil {
		s.cfg.log().Warn("could not update the catalogue", "err", err)
	}
}

// stillSame reports ErrChanged when the open file's size, mtime, ctime or
// inode differ from what was seen before reading it.
func stillSame(f *os.File, before fs.FileInfo) error {
	now, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat: %w", err)
	}
	if now.Size() != before.Size() || !now.ModTime().Equal(before.ModTime()) {
		return ErrChanged
	}
	a, aok := before.Sys().(*syscall.Stat_t)
	b, bok := now.Sys().(*syscall.Stat_t)
	if aok && bok && (a.Ino != b.Ino || a.Ctim != b.Ctim) {
		return ErrChanged
	}
	return nil
}

// openNoFollow opens a regular file for reading without following a symlink
// and without blocking on a FIFO that replaced it.
func openNoFollow(p string) (*os.File, error) {
	return openFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
