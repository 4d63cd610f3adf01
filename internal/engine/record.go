package engine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/grsync/grsync/internal/catalog"
)

// The record stage: versions are recorded only after everything they refer
// to is stored, one transaction per stored pack (with the versions that
// pack completes) and one per batch of versions that need no upload
// (unchanged content, a new mode, a folder, a symlink). A crash loses at
// most what no transaction covered yet; the next run does it again.

// recordBatchMax is how many versions that need no upload wait before they
// are committed; recordFlushEvery bounds how long they wait.
const (
	recordBatchMax   = 2000
	recordFlushEvery = 2 * time.Second
)

// errPackFailed: a version's content was in a pack whose upload failed.
var errPackFailed = errors.New("its content was in a pack whose upload failed")

// recorder collects versions and commits them when what they refer to is
// stored. Safe for concurrent use.
type recorder struct {
	cat     committer
	records *recordsSpool // told of each committed batch (its version records), when set

	mu        sync.Mutex
	ready     []*recordItem // pieces all committed: commit with the next batch
	lastFlush time.Time
	err       error // a failed commit: the catalogue cannot be trusted to take more
}

// recordItem is a version on its way to the catalogue. done is called once,
// after its transaction commits (nil) or when it cannot be recorded.
type recordItem struct {
	v    *catalog.NewVersion
	wait map[*pack]bool // packs holding its pieces, not committed yet
	done func(error)
}

// committer is what the recorder needs of the catalogue (a
// *catalog.Catalog; tests slow it down).
type committer interface {
	Commit(b *catalog.Batch) error
}

func newRecorder(cat committer, now time.Time) *recorder {
	return &recorder{cat: cat, lastFlush: now}
}

// add records v once the packs of its pieces (those not committed yet) are
// stored. packs lists them; blobs already committed have their ID.
func (r *recorder) add(v *catalog.NewVersion, packs []*pack, done func(error)) {
	it := &recordItem{v: v, done: done}
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		done(err)
		return
	}
	for _, p := range packs {
		if p.rec.failed != nil {
			for q := range it.wait {
				q.forget(it)
			}
			r.mu.Unlock()
			done(fmt.Errorf("%w: %w", errPackFailed, p.rec.failed))
			return
		}
		if !p.rec.committed {
			if it.wait == nil {
				it.wait = map[*pack]bool{}
			}
			it.wait[p] = true
			p.rec.waiters[it] = true
		}
	}
	if len(it.wait) > 0 {
		r.mu.Unlock()
		return
	}
	r.ready = append(r.ready, it)
	r.mu.Unlock()
}

// due reports whether the versions that need no upload should be committed.
func (r *recorder) due(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ready) >= recordBatchMax || (len(r.ready) > 0 && now.Sub(r.lastFlush) >= recordFlushEvery)
}

// flush commits the versions that wait for nothing, with extra (tombstones).
// The commit runs without the recorder's lock, so workers adding versions
// do not wait for it.
func (r *recorder) flush(now time.Time, deleted []catalog.Version) error {
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return err
	}
	items := r.ready
	r.ready = nil
	r.lastFlush = now
	r.mu.Unlock()
	b := &catalog.Batch{Deleted: deleted, Records: r.records.batch()}
	for _, it := range items {
		b.Versions = append(b.Versions, it.v)
	}
	err := r.cat.Commit(b)
	if err == nil {
		r.records.committed(b.Records)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.err == nil {
			r.err = fmt.Errorf("recording in the catalogue: %w", err)
		}
		err = r.err
	}
	for _, it := range items {
		it.done(err)
	}
	return err
}

// stored commits a pack just stored, with its blobs, and every version it
// completes (those waiting on no other pack), in one transaction. settled
// is the pack's upload note, forgotten in the same transaction.
//
// The transaction runs without the recorder's lock: at a pack's end it is
// most of a second of a 50,000-file backup's CPU, and workers adding
// versions (add) would otherwise all wait for it. Meanwhile the pack is
// neither committed nor failed: versions that find its content then wait
// on it as before, and versions it holds with other packs keep waiting on
// it too (their blobs in it have no id until it commits), so no other
// pack's transaction can record them first.
func (r *recorder) stored(p *pack, obj *catalog.NewObject, settled int64) error {
	r.mu.Lock()
	waiters := p.finish()
	if r.err != nil {
		defer r.mu.Unlock()
		p.rec.failed = r.err
		r.failAll(waiters, r.err)
		return r.err
	}
	var complete, others []*recordItem
	for _, it := range waiters {
		if len(it.wait) == 1 {
			complete = append(complete, it)
		} else {
			others = append(others, it)
		}
	}
	b := &catalog.Batch{Objects: []*catalog.NewObject{obj}, Records: r.records.batch()}
	if settled != 0 {
		b.Settled = []int64{settled}
	}
	for _, it := range complete {
		b.Versions = append(b.Versions, it.v)
	}
	r.mu.Unlock()
	err := r.cat.Commit(b)
	if err == nil {
		r.records.committed(b.Records)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Versions that found the pack's content while it was committed.
	others = append(others, p.finish()...)
	if err != nil {
		if r.err == nil {
			r.err = fmt.Errorf("recording in the catalogue: %w", err)
		}
		p.rec.failed = r.err
		r.failAll(waiters, r.err)
		r.failAll(others, r.err)
		return r.err
	}
	p.rec.committed = true
	for _, it := range complete {
		it.wait = nil
		it.done(nil)
	}
	// The others no longer wait on p; those that waited on nothing else
	// (their other packs committed meanwhile) go with the next batch.
	for _, it := range others {
		if it.wait == nil { // failed through another pack
			continue
		}
		delete(it.wait, p)
		if len(it.wait) == 0 {
			r.ready = append(r.ready, it)
		}
	}
	return nil
}

// failed reports that pack p could not be stored: every version waiting on
// it fails (and stops waiting on its other packs).
func (r *recorder) failed(p *pack, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.rec.failed = cause
	r.failAll(p.finish(), fmt.Errorf("%w: %w", errPackFailed, cause))
}

func (r *recorder) failAll(items []*recordItem, err error) {
	for _, it := range items {
		if it.wait == nil { // failed already through another pack
			continue
		}
		for q := range it.wait {
			q.forget(it)
		}
		it.wait = nil
		it.done(err)
	}
}

// packRecord is a pack's state as the recorder sees it; guarded by the
// recorder's mutex.
type packRecord struct {
	waiters   map[*recordItem]bool
	committed bool  // stored and recorded: its blobs have ids
	failed    error // not stored: versions using it fail
}

// finish takes the pack's waiters; the caller sets committed or failed.
func (p *pack) finish() []*recordItem {
	out := make([]*recordItem, 0, len(p.rec.waiters))
	for it := range p.rec.waiters {
		out = append(out, it)
	}
	p.rec.waiters = map[*recordItem]bool{}
	return out
}

// forget drops it from the pack's waiters.
func (p *pack) forget(it *recordItem) { delete(p.rec.waiters, it) }
