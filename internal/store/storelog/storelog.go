// Package storelog wraps a store.Store and logs every request at debug
// level: the operation, its duration, the bytes it moved, the archive or
// job id, and its error. It never logs an archive's description (which,
// unencrypted, holds a file name) nor a body's content; ids are the
// store's own, random ones. Placed below the retry wrapper, it logs every
// attempt, so a slow or failing run shows what each request cost.
package storelog

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/grsync/grsync/internal/store"
)

const msg = "store request"

// Store is the logging wrapper returned by New.
type Store struct {
	s   store.Store
	log *slog.Logger
}

// New wraps s. The wrapper implements store.Resumer and store.Locker
// exactly when s does.
func New(s store.Store, log *slog.Logger) store.Store {
	st := &Store{s: s, log: log}
	var w store.Store = st
	if rs, ok := s.(store.Resumer); ok {
		w = &resumer{Store: st, rs: rs}
	}
	if lk, ok := s.(store.Locker); ok {
		return store.WithLocker(w, &locks{s: st, l: lk})
	}
	return w
}

// locks logs the calls of a store.Locker.
type locks struct {
	s *Store
	l store.Locker
}

func (k *locks) LockPolicy() store.LockPolicy { return k.l.LockPolicy() }

func (k *locks) Retention(ctx context.Context, id string) (store.Lock, error) {
	start := time.Now()
	l, err := k.l.Retention(ctx, id)
	k.s.done(ctx, "retention", start, err, "archive", id, "lock", l.String())
	return l, err
}

func (k *locks) ExtendRetention(ctx context.Context, id string, until time.Time) (store.Lock, error) {
	start := time.Now()
	l, err := k.l.ExtendRetention(ctx, id, until)
	k.s.done(ctx, "extend retention", start, err, "archive", id, "until", until.UTC().Format(time.RFC3339), "lock", l.String())
	return l, err
}

func (s *Store) done(ctx context.Context, op string, start time.Time, err error, attrs ...any) {
	attrs = append([]any{"op", op, "duration", time.Since(start).Round(time.Microsecond)}, attrs...)
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.DebugContext(ctx, msg, attrs...)
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type seekCounter struct {
	*counter
	s io.Seeker
}

func (s *seekCounter) Seek(off int64, whence int) (int64, error) { return s.s.Seek(off, whence) }

// count wraps body, keeping it seekable when it was.
func count(body io.Reader) (io.Reader, *counter) {
	c := &counter{r: body}
	if s, ok := body.(io.Seeker); ok {
		return &seekCounter{counter: c, s: s}, c
	}
	return c, c
}

func (s *Store) Location() string { return s.s.Location() }
func (s *Store) Close() error     { return s.s.Close() }

func (s *Store) Put(ctx context.Context, body io.Reader, description string) (store.Archive, error) {
	start := time.Now()
	b, c := count(body)
	a, err := s.s.Put(ctx, b, description)
	s.done(ctx, "put", start, err, "archive", a.ID, "body_bytes", c.n.Load(), "stored_bytes", a.Size)
	return a, err
}

func (s *Store) Delete(ctx context.Context, id string) error {
	start := time.Now()
	err := s.s.Delete(ctx, id)
	s.done(ctx, "delete", start, err, "archive", id)
	return err
}

func kind(r store.Retrieval) string {
	if r.Kind == store.KindInventory {
		return "inventory"
	}
	return "archive"
}

func (s *Store) Request(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	start := time.Now()
	out, err := s.s.Request(ctx, r)
	s.done(ctx, "request", start, err, "kind", kind(r), "archive", r.ArchiveID, "tier", string(r.Tier), "job", out.JobID, "ready", out.Ready)
	return out, err
}

func (s *Store) Poll(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	start := time.Now()
	out, err := s.s.Poll(ctx, r)
	s.done(ctx, "poll", start, err, "kind", kind(r), "archive", r.ArchiveID, "job", r.JobID, "ready", out.Ready)
	return out, err
}

func (s *Store) ReadRange(ctx context.Context, r store.Retrieval, off, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := s.s.ReadRange(ctx, r, off, length)
	s.done(ctx, "read open", start, err, "archive", r.ArchiveID, "offset", off, "length", length)
	if err != nil {
		return nil, err
	}
	return &readCloser{rc: rc, s: s, ctx: ctx, start: time.Now(), id: r.ArchiveID}, nil
}

// readCloser logs the read when it is closed: bytes and time taken.
type readCloser struct {
	rc    io.ReadCloser
	s     *Store
	ctx   context.Context
	start time.Time
	id    string
	n     int64
	err   error
}

func (r *readCloser) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func (r *readCloser) Close() error {
	err := r.rc.Close()
	r.s.done(r.ctx, "read", r.start, r.err, "archive", r.id, "bytes", r.n)
	return err
}

func (s *Store) Inventory(ctx context.Context, r store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	start := time.Now()
	n := 0
	t, err := s.s.Inventory(ctx, r, func(a store.Archive) error { n++; return fn(a) })
	s.done(ctx, "inventory", start, err, "job", r.JobID, "archives", n)
	return t, err
}

func (s *Store) ListUploads(ctx context.Context) ([]store.Upload, error) {
	start := time.Now()
	ups, err := s.s.ListUploads(ctx)
	s.done(ctx, "list uploads", start, err, "uploads", len(ups))
	return ups, err
}

func (s *Store) AbortUpload(ctx context.Context, id string) error {
	start := time.Now()
	err := s.s.AbortUpload(ctx, id)
	s.done(ctx, "abort upload", start, err, "upload", id)
	return err
}

// Refs, SetRef and DeleteRef log the ref names, not their values.
func (s *Store) Refs(ctx context.Context) (map[string]string, error) {
	start := time.Now()
	refs, err := s.s.Refs(ctx)
	s.done(ctx, "refs", start, err, "refs", len(refs))
	return refs, err
}

func (s *Store) SetRef(ctx context.Context, name, value string) error {
	start := time.Now()
	err := s.s.SetRef(ctx, name, value)
	s.done(ctx, "set ref", start, err, "ref", name)
	return err
}

func (s *Store) DeleteRef(ctx context.Context, name string) error {
	start := time.Now()
	err := s.s.DeleteRef(ctx, name)
	s.done(ctx, "delete ref", start, err, "ref", name)
	return err
}

type resumer struct {
	*Store
	rs store.Resumer
}

var _ store.Resumer = (*resumer)(nil)

func (r *resumer) PutResumable(ctx context.Context, body io.Reader, description string, opt store.ResumeOptions) (store.Archive, error) {
	start := time.Now()
	b, c := count(body)
	var skipped atomic.Int64
	inner := opt.Skipped
	opt.Skipped = func(n int64) {
		skipped.Add(n)
		if inner != nil {
			inner(n)
		}
	}
	started := opt.Started
	var upload string
	if started != nil {
		opt.Started = func(u store.UploadRef) error {
			upload = u.ID
			return started(u)
		}
	}
	if opt.Resume != nil {
		upload = opt.Resume.ID
	}
	a, err := r.rs.PutResumable(ctx, b, description, opt)
	r.done(ctx, "put resumable", start, err, "archive", a.ID, "upload", upload, "continued", opt.Resume != nil,
		"body_bytes", c.n.Load(), "skipped_bytes", skipped.Load(), "stored_bytes", a.Size)
	return a, err
}
