package engine

// The per-file stage of a sync: workers take the files the walk found
// changed, read each once, and give its content to the lanes (pack.go).

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"github.com/grsync/grsync/internal/catalog"
)

// worker stores the files it is given.
func (s *syncer) worker(ctx context.Context, work <-chan fileWork) {
	ln := s.workerLanes(ctx)
	for w := range work {
		if s.stopped(ctx) {
			s.count(func(r *SyncResult) { r.Interrupted = true })
			continue
		}
		s.file(ctx, ln, w)
		if s.packSize == 0 {
			ln.small.close() // one object per file
		}
		if s.recorder.due(s.cfg.now()) {
			if err := s.recorder.flush(s.cfg.now(), nil); err != nil {
				s.fatal(err)
			}
		}
	}
}

// retryChanged tries the files that changed while they were read once
// more, after everything else: a file written to now and then is often
// quiet by then.
func (s *syncer) retryChanged(ctx context.Context) {
	ln := s.workerLanes(ctx)
	files := s.retry
	s.retry = nil
	settleBy := time.Now().Add(retrySettleMax)
	for _, e := range files {
		if s.stopped(ctx) {
			s.res.Interrupted = true
			return
		}
		settle(ctx, e.openPath(), settleBy)
		s.file(ctx, ln, fileWork{e: e, retry: true})
		if s.packSize == 0 {
			ln.small.close()
		}
	}
}

// lanes are the packs a worker adds to: small files, and chunks.
type lanes struct{ small, large *packer }

// workerLanes returns the shared lanes, or with NoPacking a lane of the
// worker's own (both kinds of member go to it: one object per file).
func (s *syncer) workerLanes(ctx context.Context) lanes {
	if s.packSize == 0 {
		pk := s.packers.new(s, ctx)
		return lanes{pk, pk}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lanes.small == nil {
		s.lanes = lanes{s.packers.new(s, ctx), s.packers.new(s, ctx)}
	}
	return s.lanes
}

func (s *syncer) count(f func(*SyncResult)) {
	s.mu.Lock()
	f(&s.res)
	s.mu.Unlock()
}

func (s *syncer) fail(path string, err error) {
	s.mu.Lock()
	s.res.Failures = append(s.res.Failures, Failure{Path: path, Err: err})
	s.mu.Unlock()
	s.cfg.observer().Done(path, "failed", err)
}

// file backs up one file: its content (stored unless the target holds it)
// or, when only its mode or owner changed, a new version of what is stored.
func (s *syncer) file(ctx context.Context, ln lanes, w fileWork) {
	obs := s.cfg.observer()
	e := w.e
	obs.Start(e.path, e.info.Size())
	if done, err := s.sameContent(e, w.known); done || err != nil {
		if err != nil {
			s.fail(e.path, err)
		}
		return
	}
	r, err := s.storeFile(ctx, ln, w)
	if errors.Is(err, ErrChanged) {
		// Deleted while it was read (its link count, and so its ctime,
		// changed): gone, like a file deleted a moment earlier.
		if _, lerr := lstat(e.path); errors.Is(lerr, fs.ErrNotExist) {
			err = errVanished
		}
	}
	switch {
	case errors.Is(err, errVanished):
		s.mu.Lock()
		s.vanished[e.path] = true
		s.mu.Unlock()
		obs.Notice(e.path, "deleted before it could be read; nothing to back up")
		obs.Done(e.path, "vanished", nil)
		return
	case errors.Is(err, ErrChanged) && !w.retry:
		s.mu.Lock()
		s.retry = append(s.retry, e)
		s.mu.Unlock()
		obs.Notice(e.path, "changed while it was read; trying again at the end of the run")
		return
	case errors.Is(err, ErrChanged):
		s.fail(e.path, errChangedAgain)
		return
	case err != nil:
		s.fail(e.path, err)
		return
	}
	v := s.newVersion(e.path, r.fi, r.pieces)
	v.ContentHash = contentKeyHex(r.hash)
	status := "deduplicated"
	if r.uploaded || len(r.pieces) == 0 {
		status = "uploaded"
	}
	if r.changed {
		v.Flags |= catalog.FlagChangedWhileRead
	}
	s.recorder.add(v, r.packs, func(err error) {
		if err != nil {
			s.fail(e.path, err)
			return
		}
		s.count(func(res *SyncResult) {
			switch status {
			case "uploaded":
				res.Uploaded++
				res.UploadedBytes += r.bytes
			default:
				res.Deduplicated++
			}
			if r.changed {
				res.ChangedStored++
			}
		})
		if r.changed {
			obs.Notice(e.path, "changed while it was read: stored as read (--changing-files=store)")
		}
		obs.Done(e.path, status, nil)
	})
}

func contentKeyHex(h []byte) string {
	if len(h) == 0 {
		return ""
	}
	var k contentKey
	copy(k[:], h)
	return k.hex()
}

// A file retried at the end of a run waits until it has not changed for
// retrySettle (its ctime), all such waits of a run together at most
// retrySettleMax. A change is not one instant: a truncate shows its new
// size to readers a moment before its new ctime, so a retry right after it
// (the rest of a small run takes milliseconds) could see the file change
// again under it and fail it "twice".
const (
	retrySettle    = 200 * time.Millisecond
	retrySettleMax = 2 * time.Second
)

// settle waits, until by at the latest, for path's ctime to be retrySettle
// old.
func settle(ctx context.Context, path string, by time.Time) {
	for time.Now().Before(by) && ctx.Err() == nil {
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil {
			return
		}
		age := time.Since(time.Unix(st.Ctim.Unix()))
		if age >= retrySettle || age < 0 {
			return
		}
		time.Sleep(min(retrySettle-age, time.Until(by)))
	}
}
