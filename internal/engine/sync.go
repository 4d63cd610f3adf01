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
	"sync/atomic"
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
	Own     OwnFiles  // grsync's own files, always left out
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
	Interrupted   bool  // stopped early by the user
	Resumed       int   // uploads an interrupted run left, continued
	ResumedBytes  int64 // stored bytes those did not send again
	// LeftOut counts grsync's own files and folders found in the sources
	// and left out, by kind (LeftCatalog, LeftStore, LeftTemp).
	LeftOut map[string]int
}

type syncer struct {
	cfg   *Config
	opt   SyncOptions
	fopts format.Options

	mu       sync.Mutex
	res      SyncResult
	inflight map[string]*inflightContent
	vanished map[string]bool // found by the walk, deleted before being read
	// resumable: uploads dead runs left, by path, not yet taken up.
	resumable map[string]*resumeCandidate
	bufs      sync.Pool
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
		resumable, keep, err := loadResumable(cfg)
		if err != nil {
			return s.res, err
		}
		s.resumable = resumable
		if n, err := AbortDeadUploads(ctx, cfg, keep); err != nil {
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
			cfg.log().Debug("unchanged: same size and modification time as in the catalogue", "path", e.path)
			s.mu.Lock()
			s.res.Unchanged++
			s.mu.Unlock()
			return nil
		}
		if opt.DryRun {
			s.res.Pending++
			s.res.PendingBytes += e.info.Size()
			obs.Found(1, e.info.Size())
			obs.Done(e.path, "would upload", nil)
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
	wres, werr := walk(walkCtx, opt.Sources, opt.Exclude, newOwnSet(opt.Own), consider, func(ev walkEvent) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if ev.leftOut != "" {
			if s.res.LeftOut == nil {
				s.res.LeftOut = map[string]int{}
			}
			s.res.LeftOut[ev.leftOut]++
			cfg.log().Debug("left out: grsync's own", "kind", ev.leftOut, "path", ev.path)
			return
		}
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
	obs.Scanned()
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
		// Interrupted uploads this complete run did not continue (the file
		// is unchanged now, deleted, or outside the sources) would be billed
		// for nothing.
		for _, c := range s.resumable {
			s.dropResume(c, "its file was not uploaded in this run")
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
	f, err := openNoFollow(e.openPath())
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

	// Pass 2: encode and upload, continuing the upload an interrupted run
	// left for this file when it can.
	if c := s.takeResume(e.path); c != nil {
		v, n, err := s.resumeUpload(ctx, f, fi, e.path, sum, hexSum, c, buf)
		if !errors.Is(err, errStartOver) {
			if err == nil {
				recorded, ok = v, true
				return "uploaded", n, nil
			}
			return "", 0, err
		}
	}
	v, n, err := s.newUpload(ctx, f, fi, e.path, sum, hexSum, buf)
	if err != nil {
		return "", 0, err
	}
	recorded, ok = v, true
	return "uploaded", n, nil
}

// errStartOver: an interrupted upload could not be continued (and was
// aborted); the file is uploaded anew.
var errStartOver = errors.New("start the upload over")

// errPutFailed marks the encoder's failure to write to a store's Put that
// had already failed (its own error explains it).
var errPutFailed = errors.New("the upload ended")

// newUpload stores f as a new archive (and its metadata continuation
// archives) and records it.
func (s *syncer) newUpload(ctx context.Context, f *os.File, fi fs.FileInfo, path string, sum []byte, hexSum string, buf []byte) (catalog.Version, int64, error) {
	meta := format.Meta{
		Path: path, Size: fi.Size(), ModTime: fi.ModTime(), Mode: format.KeptMode(fi.Mode()),
		ContentHash: sum, Desc: s.cfg.Desc, Encoding: format.Encoding(s.fopts), Created: s.cfg.now(),
	}
	var mk *format.MetaKey
	if s.cfg.Encrypt {
		k := format.MetaKey(s.cfg.Key.MetadataKey())
		mk = &k
	}
	descs, err := format.EncodeDescriptions(meta, mk, rand.Reader)
	if err != nil {
		return catalog.Version{}, 0, fmt.Errorf("encoding metadata: %w", err)
	}
	piece, err := format.ParseDescription(descs[0])
	if err != nil {
		return catalog.Version{}, 0, fmt.Errorf("encoding metadata: %w", err)
	}
	// Note the upload before anything is sent: if grsync dies before
	// recording it, a later run recognises what it stored by its group id.
	pid, err := s.cfg.Catalog.BeginUpload(s.cfg.Target.ID, path, piece.Group, s.cfg.now())
	if err != nil {
		return catalog.Version{}, 0, fmt.Errorf("catalogue: %w", err)
	}
	var stored []string // archives to remove if this upload is not recorded
	settled := false
	defer func() {
		if !settled {
			s.abandon(pid, stored)
		}
	}()
	// Continuation pieces go first, so an archive never refers to pieces
	// that do not exist.
	for _, d := range descs[1:] {
		a, err := s.cfg.Store.Put(ctx, bytes.NewReader(nil), d)
		if err != nil {
			return catalog.Version{}, 0, fmt.Errorf("storing metadata continuation: %w", err)
		}
		stored = append(stored, a.ID)
	}

	// A multipart upload is noted with what continues it before its first
	// part is sent (a file whose description needs continuation archives
	// is not continued: it is rare, and its pieces would need noting too).
	resumer, resumable := s.cfg.Store.(store.Resumer)
	resumable = resumable && len(descs) == 1
	var ref *store.UploadRef
	states := make(chan *format.StreamState, 1)
	put := func(body io.Reader) (store.Archive, error) {
		pctx := store.WithSizeHint(ctx, fi.Size())
		if !resumable {
			return s.cfg.Store.Put(pctx, body, descs[0])
		}
		return resumer.PutResumable(pctx, body, descs[0], store.ResumeOptions{Started: func(r store.UploadRef) error {
			var st *format.StreamState
			select {
			case st = <-states:
			case <-ctx.Done():
				return ctx.Err()
			}
			rec, err := s.newResumeRecord(r, descs[0], fi, hexSum, st)
			if err == nil {
				err = s.cfg.Catalog.SetUploadResume(pid, rec)
			}
			if err != nil {
				return fmt.Errorf("noting the upload in the catalogue: %w", err)
			}
			ref = &r
			return nil
		}})
	}
	res := s.encodeAndPut(ctx, f, fi, path, sum, s.fopts, states, put, buf)
	if res.arch.ID != "" {
		stored = append(stored, res.arch.ID)
	}
	if err := res.err(); err != nil {
		if ref != nil {
			if keepForResume(ctx, res) {
				settled = true // the intent stays, for the next run to continue
				return catalog.Version{}, 0, fmt.Errorf("%w (the next run continues this upload)", err)
			}
			if !s.abortQuietly(ref.ID) {
				// Still in the store: the note stays, so the next sync
				// continues the upload or aborts it.
				settled = true
			}
		}
		return catalog.Version{}, 0, err
	}
	v := s.version(fi, path, hexSum, res.arch, meta.Encoding)
	if _, err := s.cfg.Catalog.RecordUpload(v, pid); err != nil {
		return catalog.Version{}, 0, fmt.Errorf("recording in the catalogue: %w", err)
	}
	settled = true
	return v, res.arch.Size, nil
}

// resumeUpload continues the upload c that an interrupted run left for
// this file, and records it. If it cannot be continued, the upload is
// aborted and errStartOver returned.
func (s *syncer) resumeUpload(ctx context.Context, f *os.File, fi fs.FileInfo, path string, sum []byte, hexSum string, c *resumeCandidate, buf []byte) (catalog.Version, int64, error) {
	resumer, ok := s.cfg.Store.(store.Resumer)
	if !ok {
		s.dropResume(c, "this store cannot continue uploads")
		return catalog.Version{}, 0, errStartOver
	}
	if why := s.compatible(c, fi, hexSum); why != "" {
		s.dropResume(c, why)
		return catalog.Version{}, 0, errStartOver
	}
	fopts := s.fopts
	if c.rec.State != nil {
		st, err := format.OpenStreamState(c.rec.State, s.cfg.Key.ResumeKey())
		if err != nil {
			s.dropResume(c, err.Error())
			return catalog.Version{}, 0, errStartOver
		}
		fopts.Continue = &st
	}
	var skipped atomic.Int64
	put := func(body io.Reader) (store.Archive, error) {
		return resumer.PutResumable(store.WithSizeHint(ctx, fi.Size()), body, c.rec.Description, store.ResumeOptions{
			Resume:  &store.UploadRef{ID: c.rec.UploadID, PartSize: c.rec.PartSize},
			Skipped: func(n int64) { skipped.Add(n) },
		})
	}
	res := s.encodeAndPut(ctx, f, fi, path, sum, fopts, nil, put, buf)
	if err := res.err(); err != nil {
		switch {
		case errors.Is(res.putErr, store.ErrCannotResume):
			s.dropResume(c, res.putErr.Error())
			return catalog.Version{}, 0, errStartOver
		case keepForResume(ctx, res):
			return catalog.Version{}, 0, fmt.Errorf("%w (the next run continues this upload)", err)
		}
		s.dropResume(c, err.Error())
		return catalog.Version{}, 0, err
	}
	v := s.version(fi, path, hexSum, res.arch, format.Encoding(s.fopts))
	if _, err := s.cfg.Catalog.RecordUpload(v, c.intent.ID); err != nil {
		return catalog.Version{}, 0, fmt.Errorf("recording in the catalogue: %w", err)
	}
	s.mu.Lock()
	s.res.Resumed++
	s.res.ResumedBytes += skipped.Load()
	s.mu.Unlock()
	s.cfg.observer().Notice(path, fmt.Sprintf("continued an interrupted upload: %d of %d stored bytes were already in the store and not sent again",
		skipped.Load(), res.arch.Size))
	return v, res.arch.Size, nil
}

// version is the catalogue record of f stored as archive a.
func (s *syncer) version(fi fs.FileInfo, path, hexSum string, a store.Archive, encoding string) catalog.Version {
	return catalog.Version{
		TargetID: s.cfg.Target.ID, Path: path, Size: fi.Size(),
		MTime: float64(fi.ModTime().UnixNano()) / 1e9, MTimeNS: fi.ModTime().UnixNano(),
		Mode: format.UnixMode(fi.Mode()), ArchiveID: a.ID, Location: s.cfg.Store.Location(),
		Checksum: a.TreeHash, Compression: encoding, Timestamp: s.cfg.now(),
		ContentHash: hexSum, StoredSize: a.Size, Description: s.cfg.Desc,
	}
}

// encodeResult is how one encode-and-upload went.
type encodeResult struct {
	arch   store.Archive
	putErr error // the store's
	encErr error // reading or encoding the file; ErrChanged if it changed
}

// err returns the error to report, if any.
func (r encodeResult) err() error {
	switch {
	case r.encErr != nil && !errors.Is(r.encErr, errPutFailed):
		if errors.Is(r.encErr, format.ErrSizeMismatch) {
			return ErrChanged
		}
		return r.encErr
	case r.putErr != nil:
		return fmt.Errorf("upload: %w", r.putErr)
	}
	return r.encErr
}

// encodeAndPut reads f from the start through the archive writer into
// put, which runs in a goroutine of its own. The writer's stream state is
// sent on states (nil when not encrypting), if states is not nil. The
// file is checked after every read: a file that changes is never encoded
// further, so a continued upload never encrypts other bytes than the run
// that began it.
func (s *syncer) encodeAndPut(ctx context.Context, f *os.File, fi fs.FileInfo, path string, sum []byte, fopts format.Options,
	states chan<- *format.StreamState, put func(io.Reader) (store.Archive, error), buf []byte) encodeResult {
	if states != nil {
		defer close(states)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return encodeResult{encErr: fmt.Errorf("rewinding: %w", err)}
	}
	pr, pw := io.Pipe()
	type putResult struct {
		arch store.Archive
		err  error
	}
	putDone := make(chan putResult, 1)
	go func() {
		a, err := put(pr)
		pr.CloseWithError(err)
		putDone <- putResult{a, err}
	}()
	h2 := s.cfg.contentHash()
	encErr := func() error {
		w, err := format.NewWriter(putSink{pw}, format.FileInfo{Path: path, Size: fi.Size(), Mode: format.KeptMode(fi.Mode()), ModTime: fi.ModTime()}, fopts)
		if err != nil {
			return err
		}
		if states != nil {
			var sp *format.StreamState // nil: not encrypting
			if st, ok := w.StreamState(); ok {
				sp = &st
			}
			states <- sp
		}
		src := io.TeeReader(io.LimitReader(f, fi.Size()), h2)
		for {
			n, rerr := src.Read(buf)
			if n > 0 {
				if err := stillSame(f, fi); err != nil {
					w.Close()
					return err
				}
				if _, werr := w.Write(buf[:n]); werr != nil {
					w.Close()
					return werr
				}
				s.cfg.observer().Progress(int64(n))
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				w.Close()
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
	res := encodeResult{arch: pres.arch, putErr: pres.err, encErr: encErr}
	if res.encErr == nil && res.putErr == nil && (!bytes.Equal(h2.Sum(nil), sum) || stillSame(f, fi) != nil) {
		res.encErr = ErrChanged
	}
	return res
}

// putSink is the encoder's end of the pipe to Put: a failed write means
// Put ended, and says so.
type putSink struct{ w *io.PipeWriter }

func (p putSink) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil {
		err = fmt.Errorf("%w: %w", errPutFailed, err)
	}
	return n, err
}

// abortQuietly aborts a multipart upload that will not be continued, and
// reports whether it is gone from the store.
func (s *syncer) abortQuietly(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.cfg.Store.AbortUpload(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.log().Warn("could not abort an unfinished upload; the next sync tries again", "upload", id, "err", err)
		return false
	}
	return true
}

// recordDedup records path as a new version whose content lives in an
// archive the target already holds.
func (s *syncer) recordDedup(fi fs.FileInfo, path, hexSum string, from catalog.Version) (string, int64, error) {
	v := catalog.Version{
		TargetID: s.cfg.Target.ID, Path: path, Size: fi.Size(),
		MTime: float64(fi.ModTime().UnixNano()) / 1e9, MTimeNS: fi.ModTime().UnixNano(),
		Mode: format.UnixMode(fi.Mode()), ArchiveID: from.ArchiveID, Location: from.Location,
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
// stays noted, and verify lists the archive as stored by an interrupted run.
func (s *syncer) abandon(pid int64, ids []string) {
	// A fresh context: the run's may be the reason the upload failed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range ids {
		if err := s.cfg.Store.Delete(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.cfg.log().Warn("could not delete an archive of a failed upload; it stays in the store, and grsync verify lists it", "archive", id, "err", err)
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
