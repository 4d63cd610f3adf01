package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Request starts a retrieval. Without Options.RetrievalDelay it is ready at
// once and has no JobID; with it, a job file records when it will be ready.
func (s *Store) Request(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	const op = "request"
	if err := s.Begin(ctx); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	switch r.Tier {
	case "", store.TierExpedited, store.TierStandard, store.TierBulk:
	default:
		return store.Retrieval{}, s.Fail(op, store.Permanent(fmt.Errorf("unknown retrieval tier %q", r.Tier)))
	}
	if err := store.CheckRange(r); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	job := jobMeta{Tier: string(r.Tier), Requested: s.opt.Now().UTC()}
	job.ReadyAt = job.Requested.Add(s.opt.RetrievalDelay)
	out := r.Whole() // every archive is read whole: a range is ignored
	switch r.Kind {
	case store.KindArchive:
		m, err := s.loadMeta(r.ArchiveID)
		if err != nil {
			return store.Retrieval{}, s.Fail(op, err)
		}
		job.Kind, job.ArchiveID = jobKindArchive, r.ArchiveID
		out.Size, out.TreeHash = m.Size, m.TreeHash
	case store.KindInventory:
		if r.ArchiveID != "" {
			return store.Retrieval{}, s.Fail(op, store.Permanent(errors.New("an inventory retrieval takes no archive id")))
		}
		job.Kind = jobKindInventory
		out.Size, out.TreeHash = -1, ""
	default:
		return store.Retrieval{}, s.Fail(op, store.Permanent(fmt.Errorf("unknown retrieval kind %d", r.Kind)))
	}
	out.Requested, out.Expires = job.Requested, time.Time{}
	out.JobID, out.Ready = "", true
	if s.opt.RetrievalDelay > 0 {
		data, err := json.Marshal(job)
		if err != nil {
			return store.Retrieval{}, s.Fail(op, err)
		}
		out.JobID, out.Ready = newID(), false
		if err := writeFileSync(s.jobPath(out.JobID), data, os.O_CREATE|os.O_EXCL); err != nil {
			return store.Retrieval{}, s.Fail(op, err)
		}
	}
	return out, nil
}

// Poll returns the retrieval's current state.
func (s *Store) Poll(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	const op = "poll"
	if err := s.Begin(ctx); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	out, err := s.state(r)
	if err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	return out, nil
}

// state resolves r against its job file (if any) and the archive's
// metadata, and reports whether it is ready.
func (s *Store) state(r store.Retrieval) (store.Retrieval, error) {
	out := r.Whole()
	if r.JobID == "" {
		if s.opt.RetrievalDelay > 0 {
			return store.Retrieval{}, fmt.Errorf("retrieval without a job id (call Request first): %w", store.ErrNotFound)
		}
		out.Ready = true
	} else {
		job, err := s.loadJob(r.JobID)
		if err != nil {
			return store.Retrieval{}, err
		}
		kind := store.KindArchive
		if job.Kind == jobKindInventory {
			kind = store.KindInventory
		}
		if r.Kind != kind || (r.ArchiveID != "" && r.ArchiveID != job.ArchiveID) {
			return store.Retrieval{}, store.Permanent(fmt.Errorf("job %s is for a different retrieval", r.JobID))
		}
		out.ArchiveID, out.Tier, out.Requested = job.ArchiveID, store.Tier(job.Tier), job.Requested
		out.Ready = !s.opt.Now().Before(job.ReadyAt)
	}
	switch out.Kind {
	case store.KindArchive:
		m, err := s.readMeta(out.ArchiveID)
		if err != nil {
			return store.Retrieval{}, err
		}
		out.Size, out.TreeHash = m.Size, m.TreeHash
	case store.KindInventory:
		out.Size, out.TreeHash = -1, ""
	default:
		return store.Retrieval{}, store.Permanent(fmt.Errorf("unknown retrieval kind %d", r.Kind))
	}
	return out, nil
}

func (s *Store) loadJob(id string) (jobMeta, error) {
	if !validID(id) {
		return jobMeta{}, fmt.Errorf("job %q: invalid job id: %w", id, store.ErrNotFound)
	}
	data, err := os.ReadFile(s.jobPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return jobMeta{}, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return jobMeta{}, err
	}
	j, err := parseJobMeta(data)
	if err != nil {
		return jobMeta{}, store.Permanent(fmt.Errorf("job %s: %w", id, err))
	}
	return j, nil
}

// ReadRange returns length bytes (to the end if length < 0) from offset off
// of a ready archive retrieval. A range outside the archive is a permanent
// error. The reader fails with io.ErrUnexpectedEOF if the file is shorter
// than its metadata says.
func (s *Store) ReadRange(ctx context.Context, r store.Retrieval, off, length int64) (io.ReadCloser, error) {
	const op = "read"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	if r.Kind != store.KindArchive {
		return nil, s.Fail(op, store.Permanent(errors.New("not an archive retrieval")))
	}
	st, err := s.state(r)
	if err != nil {
		return nil, s.Fail(op, err)
	}
	if !st.Ready {
		return nil, s.Fail(op, fmt.Errorf("archive %s: %w", st.ArchiveID, store.ErrNotReady))
	}
	size := st.Size
	if off < 0 || off > size || (length >= 0 && length > size-off) {
		return nil, s.Fail(op, store.Permanent(fmt.Errorf("archive %s: range offset %d length %d is outside its %d bytes", st.ArchiveID, off, length, size)))
	}
	if length < 0 {
		length = size - off
	}
	f, err := os.Open(s.archivePath(st.ArchiveID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, s.Fail(op, fmt.Errorf("archive %s: %w", st.ArchiveID, store.ErrNotFound))
	}
	if err != nil {
		return nil, s.Fail(op, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, s.Fail(op, err)
	}
	return &rangeReader{ctx: ctx, f: f, left: length, what: s.Location() + ": read: archive " + st.ArchiveID}, nil
}

// rangeReader reads a bounded range of an archive file.
type rangeReader struct {
	ctx  context.Context
	f    *os.File
	left int64
	what string // names the store, operation and archive in errors
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", r.what, err)
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.f.Read(p)
	r.left -= int64(n)
	switch {
	case err == io.EOF && r.left > 0:
		return n, store.Permanent(fmt.Errorf("%s: file is %d bytes shorter than its metadata says: %w", r.what, r.left, io.ErrUnexpectedEOF))
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		return n, fmt.Errorf("%s: %w", r.what, err)
	}
	return n, nil
}

func (r *rangeReader) Close() error { return r.f.Close() }

// Inventory lists every archive (in id order) of a ready inventory
// retrieval and returns the time the listing was taken. An error returned
// by fn is returned unchanged.
func (s *Store) Inventory(ctx context.Context, r store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	const op = "inventory"
	if err := s.Begin(ctx); err != nil {
		return time.Time{}, s.Fail(op, err)
	}
	if r.Kind != store.KindInventory {
		return time.Time{}, s.Fail(op, store.Permanent(errors.New("not an inventory retrieval")))
	}
	st, err := s.state(r)
	if err != nil {
		return time.Time{}, s.Fail(op, err)
	}
	if !st.Ready {
		return time.Time{}, s.Fail(op, store.ErrNotReady)
	}
	taken := s.opt.Now().UTC()
	var fnErr error
	err = s.walkArchives(ctx, func(a store.Archive) error {
		fnErr = fn(a)
		return fnErr
	})
	switch {
	case err != nil && fnErr != nil:
		return time.Time{}, fnErr
	case err != nil:
		return time.Time{}, s.Fail(op, err)
	}
	return taken, nil
}
