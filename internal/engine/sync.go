package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/catalog"
)

// ErrChanged means a file changed while it was being read; it was not
// recorded as backed up and the next run picks it up.
var ErrChanged = errors.New("file changed while it was being read; not recorded, the next run will back it up")

// errVanished means a file the walk found was deleted before it could be
// opened: like a file deleted before the walk reached it, it is simply gone.
var errVanished = errors.New("deleted before it could be read")

// ChangingPolicy says what to do with a file that changes while it is read,
// again when it is tried a second time at the end of the run.
type ChangingPolicy int

const (
	// ChangingFail reports the file as failed and records nothing: the
	// backup never holds a file that mixes two states. The default.
	ChangingFail ChangingPolicy = iota
	// ChangingStore stores the bytes as they were read and records the
	// version flagged "changed while read" (a log or mailbox that is
	// always being written is better backed up torn than never).
	ChangingStore
)

// Default pack sizes (docs/DESIGN.md, "Packs"): 64 MiB objects keep the
// per-object costs of cold storage (a request to store and one to restore,
// 40 KB of billed overhead in GLACIER and DEEP_ARCHIVE) below 0.1% of what
// the data costs, while one file's restore still reads at most one pack.
const DefaultPackSize = 64 << 20

// SyncOptions says what to back up.
type SyncOptions struct {
	Sources []string  // absolute, cleaned paths of files or folders
	Exclude *Excluder // may be nil
	Own     OwnFiles  // grsync's own files, always left out
	DryRun  bool      // count what would be uploaded, change nothing
	// Stop, when closed or cancelled, stops the sync from starting new files;
	// files in flight finish (or are abandoned when the main context ends).
	Stop <-chan struct{}
	// ChangingFiles is the policy for files that change while read, twice.
	ChangingFiles ChangingPolicy
	// Snapshots says when the run ends with a catalogue snapshot and how
	// many the store keeps.
	Snapshots SnapshotPolicy
}

// SyncResult is the summary of a sync.
type SyncResult struct {
	Uploaded      int   // files whose content (or part of it) was stored
	UploadedBytes int64 // bytes of content stored (before compression)
	StoredBytes   int64 // bytes of the objects stored (after compression and encryption)
	Objects       int   // objects (packs) stored
	Deduplicated  int   // files whose content the target held already
	Unchanged     int   // files the catalogue already has with the same size and mtime
	MetaChanged   int   // files whose mode or owner alone changed (recorded, no upload)
	ChangedStored int   // files that changed while read, stored as read (--changing-files=store)
	Folders       int   // folder versions recorded: new or changed mode, times or owner (a dry run: to record)
	Symlinks      int   // symlink versions recorded: new or changed (a dry run: to record)
	Deleted       int   // files gone from the source, marked deleted
	Skipped       int   // FIFOs, sockets, devices
	Pending       int   // dry run: files that would be uploaded
	PendingBytes  int64 // dry run: their bytes
	Failures      []Failure
	Interrupted   bool // stopped early by the user
	// DeletedFolders and DeletedSymlinks count the folders and symlinks
	// gone from the source, marked deleted.
	DeletedFolders, DeletedSymlinks int
	// LeftOut counts grsync's own files and folders found in the sources
	// and left out, by kind (LeftCatalog, LeftStore, LeftTemp).
	LeftOut map[string]int
	// Snapshot says whether the run stored a catalogue snapshot;
	// SnapshotErr why it could not (the next run tries again).
	Snapshot    SnapshotResult
	SnapshotErr error
	// Undeleted are objects the run stored, could not use, and could not
	// delete either (append-only credentials, or an Object Lock): they are
	// recorded as objects no version needs, for prune.
	Undeleted []Undeleted
	// Locks is what the run did to keep the Object Lock of what the
	// target's kept versions need from running out (see ExtendLocks).
	Locks LockResult
}

// Undeleted is an object a sync could not delete.
type Undeleted struct {
	ArchiveID string
	Size      int64
	// Locked: the store's Object Lock refused, until Until; otherwise the
	// credentials may not delete (an append-only policy).
	Locked bool
	Until  time.Time
}

type syncer struct {
	cfg       *Config
	opt       SyncOptions
	recipient age.Recipient // nil: not encrypting
	packSize  int64         // 0: one pack per file
	run       int64         // this run's id in the catalogue
	class     string        // storage class of the store's new objects

	index    *contentIndex
	bufs     buffers
	hashers  sync.Pool // content hashes (keyOf)
	recorder *recorder
	records  *recordsSpool // the run's version records, written as packs commit
	chunkers *chunkers
	packers  packers
	lanes    lanes          // shared packs, unless NoPacking
	uploads  sync.WaitGroup // packs whose upload has not been settled
	planner  *planner       // set by walkAndStore

	mu       sync.Mutex
	res      SyncResult
	vanished map[string]bool // found by the walk, deleted before being read
	retry    []entry         // files that changed while read: tried again at the end
	fatalErr error           // the catalogue failed: the run stops
}

// Sync backs up opt.Sources to cfg.Store. Per-file problems are collected
// in the result; the returned error is for problems that stop the whole run.
func Sync(ctx context.Context, cfg *Config, opt SyncOptions) (SyncResult, error) {
	s := &syncer{cfg: cfg, opt: opt, vanished: map[string]bool{}, packSize: cfg.packSize(), class: cfg.Class}
	s.bufs.chunk = newSizedPool()
	s.bufs.tiny.size, s.bufs.small.size = tinyFileMax, int(min(cfg.packThreshold(), maxWholeBuffer))
	if cfg.Encrypt {
		if cfg.Key == nil {
			return s.res, errors.New("encryption is on but no key was given")
		}
		s.recipient = cfg.Key.AgeIdentity().Recipient()
	}
	if !opt.DryRun {
		if err := s.begin(ctx); err != nil {
			return s.res, err
		}
		if sp, err := newRecordsSpool(cfg); err != nil {
			cfg.log().Warn("could not start the version records; the next run stores them", "err", err)
		} else {
			s.records, s.recorder.records = sp, sp
			defer sp.close()
			sp.start()
		}
	}
	states, incomplete, err := s.walkAndStore(ctx)
	defer s.planner.done() // the states live until the deletions are found
	if err != nil {
		return s.res, err
	}
	if opt.DryRun {
		return s.res, nil
	}
	if !s.res.Interrupted && len(s.retry) > 0 {
		s.retryChanged(ctx)
	}
	for _, pk := range s.packers.all {
		pk.shut()
	}
	s.uploads.Wait()
	if s.stopped(ctx) {
		s.res.Interrupted = true
	}
	var gone []catalog.Version
	if !s.res.Interrupted {
		gone = s.deletedPaths(states, incomplete)
	}
	if err := s.recorder.flush(cfg.now(), gone); err != nil {
		return s.res, err
	}
	if err := s.fatal(nil); err != nil {
		return s.res, err
	}
	for _, g := range gone {
		switch g.Kind {
		case catalog.KindDir:
			s.res.DeletedFolders++
		case catalog.KindSymlink:
			s.res.DeletedSymlinks++
		default:
			s.res.Deleted++
		}
	}
	if err := cfg.Catalog.EndRun(s.run, cfg.now(), !s.res.Interrupted && len(incomplete) == 0); err != nil {
		return s.res, fmt.Errorf("recording the end of the run: %w", err)
	}
	// The store gets what changed, so that it alone can give every version back.
	if ctx.Err() == nil && s.records != nil {
		if _, err := s.records.store(ctx, s.run); err != nil {
			cfg.log().Warn("could not store the version records; the next run stores them", "err", err)
		}
	}
	// A snapshot of the catalogue when one is due (the one it replaces
	// then needs no lock extension).
	if ctx.Err() == nil && !s.res.Interrupted {
		s.res.Snapshot, s.res.SnapshotErr = MaintainSnapshots(ctx, cfg, opt.Snapshots)
		if s.res.SnapshotErr != nil {
			cfg.log().Warn("could not store a catalogue snapshot; the next run tries again", "err", s.res.SnapshotErr)
		}
	}
	// Then the locks of what the kept versions need are kept from running
	// out (a run stopped early leaves that to the next one).
	if ctx.Err() == nil && !s.res.Interrupted {
		lr, err := ExtendLocks(ctx, cfg, LockOptions{})
		s.res.Locks = lr
		if err != nil {
			return s.res, err
		}
	}
	sort.Slice(s.res.Undeleted, func(i, j int) bool { return s.res.Undeleted[i].ArchiveID < s.res.Undeleted[j].ArchiveID })
	sort.Slice(s.res.Failures, func(i, j int) bool { return s.res.Failures[i].Path < s.res.Failures[j].Path })
	return s.res, nil
}

// begin cleans up after dead runs and notes this run.
func (s *syncer) begin(ctx context.Context) error {
	cfg := s.cfg
	if n, err := AbortDeadUploads(ctx, cfg, nil); err != nil {
		cfg.log().Warn("could not clean up after an interrupted run", "err", err)
	} else if n > 0 {
		cfg.observer().Notice(cfg.Store.Location(), fmt.Sprintf("aborted %s left by an interrupted run", countOf(n, "unfinished upload")))
	}
	if a, err := AdoptOrphans(ctx, cfg); err != nil {
		cfg.log().Warn("could not look for objects an interrupted run stored", "err", err)
	} else if a.Adopted > 0 {
		cfg.observer().Notice(cfg.Store.Location(), fmt.Sprintf("recorded %s an interrupted run stored but had not recorded (their content is not sent again)",
			countOf(a.Adopted, "object")))
	}
	run, err := cfg.Catalog.BeginRun(cfg.Target.ID, cfg.now())
	if err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	s.run = run
	if s.index, err = newContentIndex(cfg.Catalog, cfg.Target.ID); err != nil {
		return err
	}
	if s.chunkers, err = newChunkers(cfg); err != nil {
		return err
	}
	s.recorder = newRecorder(cfg.Catalog, cfg.now())
	return nil
}

// fatal records the first error that stops the run (when err is not nil)
// and returns it.
func (s *syncer) fatal(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.fatalErr == nil {
		s.fatalErr = err
	}
	return s.fatalErr
}

func (s *syncer) stopped(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-s.opt.Stop:
		return true
	default:
		return s.fatal(nil) != nil
	}
}

// walkAndStore walks the sources, compares every entry with the
// catalogue's latest state and hands what changed to the workers. It
// returns the states, the paths seen and the folders not fully listed.
func (s *syncer) walkAndStore(ctx context.Context) (map[string]catalog.State, []string, error) {
	cfg, opt := s.cfg, s.opt
	pl := newPlanner(cfg, opt.Sources)
	s.planner = pl
	work := make(chan fileWork, cfg.jobs()*4)
	var wg sync.WaitGroup
	for i := 0; i < cfg.jobs(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx, work)
		}()
	}

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
	consider := func(e entry) error {
		ready, err := pl.take(e)
		if err != nil {
			return err
		}
		for _, e := range ready {
			if err := s.dispatch(walkCtx, pl, e, work); err != nil {
				return err
			}
		}
		return nil
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
		if ev.exclude != "" {
			cfg.log().Debug("excluded", "path", ev.path, "pattern", ev.exclude)
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
		var pending []entry
		if pending, werr = pl.flush(); werr == nil {
			for _, e := range pending {
				if werr = s.dispatch(walkCtx, pl, e, work); werr != nil {
					break
				}
			}
		}
	}
	obs.Scanned()
	close(work)
	wg.Wait()
	if _, err := pl.flush(); err != nil && werr == nil { // the walk ended early: still wait for the loader
		werr = err
	}
	if werr != nil {
		if errors.Is(werr, context.Canceled) && s.stopped(ctx) {
			s.res.Interrupted = true
		} else if !errors.Is(werr, context.Canceled) {
			return nil, nil, fmt.Errorf("walking the sources: %w", werr)
		}
	}
	if s.stopped(ctx) {
		s.res.Interrupted = true
	}
	return pl.states, wres.incomplete, nil
}

// dispatch acts on the plan for entry e: counts it, records a folder or
// symlink, or gives a file to the workers.
func (s *syncer) dispatch(ctx context.Context, pl *planner, e entry, work chan<- fileWork) error {
	obs := s.cfg.observer()
	act, known := pl.plan(e)
	switch act {
	case actUnchanged:
		if e.kind() == catalog.KindFile {
			s.cfg.log().Debug("unchanged: same size and modification time as in the catalogue", "path", e.path)
			s.count(func(r *SyncResult) { r.Unchanged++ })
		}
		return nil
	case actEntry:
		if s.opt.DryRun {
			s.res.countEntry(e.kind())
		} else {
			s.recordEntry(e)
		}
		return nil
	case actMeta:
		if s.opt.DryRun {
			s.res.MetaChanged++
			return nil
		}
	case actContent:
		if s.opt.DryRun {
			s.res.Pending++
			s.res.PendingBytes += e.info.Size()
			obs.Found(1, e.info.Size())
			obs.Done(e.path, "would upload", nil)
			return nil
		}
	}
	obs.Found(1, e.info.Size())
	select {
	case work <- fileWork{e: e, known: known}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deletedPaths returns tombstones for the paths under the sources that
// the catalogue has and the walk did not see (or that vanished), except
// under folders that could not be fully listed.
func (s *syncer) deletedPaths(states map[string]catalog.State, incomplete []string) []catalog.Version {
	var gone []catalog.Version
	for p, st := range states {
		if st.Deleted {
			continue
		}
		if st.Seen && !s.vanished[p] {
			continue
		}
		if !underAny(p, s.opt.Sources) || underAny(p, incomplete) {
			continue
		}
		gone = append(gone, catalog.Version{TargetID: s.cfg.Target.ID, Path: p, Kind: st.Kind, Deleted: true, Timestamp: s.cfg.now(), RunID: s.run})
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Path < gone[j].Path })
	return gone
}

// countOf is "1 upload", "2 uploads".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
