package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Store is the retrying wrapper returned by New.
type Store struct {
	s store.Store
	p Policy
}

// New wraps s so that its calls are retried according to p. The wrapper
// implements store.Resumer and store.Locker exactly when s does, so
// callers may ask it as they would ask s.
func New(s store.Store, p Policy) store.Store {
	r := &Store{s: s, p: p.withDefaults()}
	var w store.Store = r
	if rs, ok := s.(store.Resumer); ok {
		w = &resumer{Store: r, rs: rs}
	}
	if lk, ok := s.(store.Locker); ok {
		return store.WithLocker(w, &locks{r: r, l: lk})
	}
	return w
}

// locks retries the calls of a store.Locker.
type locks struct {
	r *Store
	l store.Locker
}

// LockPolicy is the wrapped store's.
func (k *locks) LockPolicy() store.LockPolicy { return k.l.LockPolicy() }

// Retention retries.
func (k *locks) Retention(ctx context.Context, id string) (store.Lock, error) {
	var out store.Lock
	err := k.r.p.run(ctx, k.r.Location(), "retention", func(int) error {
		var err error
		out, err = k.l.Retention(ctx, id)
		return err
	}, nil)
	return out, err
}

// ExtendRetention retries: asking again for the same date changes nothing
// once an earlier attempt has set it.
func (k *locks) ExtendRetention(ctx context.Context, id string, until time.Time) (store.Lock, error) {
	var out store.Lock
	err := k.r.p.run(ctx, k.r.Location(), "extend retention", func(int) error {
		var err error
		out, err = k.l.ExtendRetention(ctx, id, until)
		return err
	}, nil)
	return out, err
}

// resumer is the retrying wrapper of a store that implements
// store.Resumer.
type resumer struct {
	*Store
	rs store.Resumer
}

var _ store.Resumer = (*resumer)(nil)

// PutResumable is passed on once, not retried: its body is read as it
// goes (often a pipe) and cannot be rewound. A failed upload is continued
// by the caller's next call instead, with the ref it got from
// opt.Started.
func (r *resumer) PutResumable(ctx context.Context, body io.Reader, description string, opt store.ResumeOptions) (store.Archive, error) {
	if err := ctx.Err(); err != nil {
		return store.Archive{}, r.fail("put", err)
	}
	return r.rs.PutResumable(ctx, body, description, opt)
}

// Location returns the wrapped store's location.
func (r *Store) Location() string { return r.s.Location() }

// Close closes the wrapped store.
func (r *Store) Close() error { return r.s.Close() }

// Put retries only when body can seek back to where it started, and never
// after the body itself failed to read.
func (r *Store) Put(ctx context.Context, body io.Reader, description string) (store.Archive, error) {
	seeker, ok := body.(io.Seeker)
	var start int64
	if ok {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			ok = false // a pipe or terminal behind an *os.File
		}
	}
	if !ok {
		if err := ctx.Err(); err != nil {
			return store.Archive{}, r.fail("put", err)
		}
		return r.s.Put(ctx, body, description)
	}
	rec := &recordingBody{r: body, s: seeker}
	var a store.Archive
	err := r.p.run(ctx, r.Location(), "put", func(attempt int) error {
		if attempt > 1 {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return store.Permanent(r.fail("put", err))
			}
			rec.err = nil
		}
		var err error
		a, err = r.s.Put(ctx, rec, description)
		return err
	}, func(error) bool { return rec.err != nil })
	return a, err
}

// recordingBody remembers the first error reading the caller's body, so
// that a Put failing because of it is not retried.
type recordingBody struct {
	r   io.Reader
	s   io.Seeker
	err error
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// Seek lets the wrapped store seek the body too (some measure its size).
func (b *recordingBody) Seek(off int64, whence int) (int64, error) { return b.s.Seek(off, whence) }

// Delete retries. "Not found" on a later attempt is returned, saying that
// an earlier attempt whose answer was lost may have deleted the archive.
func (r *Store) Delete(ctx context.Context, id string) error {
	return r.p.run(ctx, r.Location(), "delete", func(attempt int) error {
		err := r.s.Delete(ctx, id)
		if attempt > 1 && errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w (on attempt %d: an earlier, failed attempt may have done it)", err, attempt)
		}
		return err
	}, nil)
}

// Request retries. A lost answer may leave an extra job behind.
func (r *Store) Request(ctx context.Context, req store.Retrieval) (store.Retrieval, error) {
	var out store.Retrieval
	err := r.p.run(ctx, r.Location(), "request", func(int) error {
		var err error
		out, err = r.s.Request(ctx, req)
		return err
	}, nil)
	return out, err
}

// Poll retries.
func (r *Store) Poll(ctx context.Context, req store.Retrieval) (store.Retrieval, error) {
	var out store.Retrieval
	err := r.p.run(ctx, r.Location(), "poll", func(int) error {
		var err error
		out, err = r.s.Poll(ctx, req)
		return err
	}, nil)
	return out, err
}

// Inventory retries until fn has been called once; after that a failure is
// returned as is, so that fn never sees an archive twice. fn's own error is
// never retried.
func (r *Store) Inventory(ctx context.Context, req store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	var taken time.Time
	delivered := false
	var fnErr error
	err := r.p.run(ctx, r.Location(), "inventory", func(int) error {
		var err error
		taken, err = r.s.Inventory(ctx, req, func(a store.Archive) error {
			delivered = true
			fnErr = fn(a)
			return fnErr
		})
		return err
	}, func(error) bool { return delivered || fnErr != nil })
	return taken, err
}

// ListUploads retries.
func (r *Store) ListUploads(ctx context.Context) ([]store.Upload, error) {
	var out []store.Upload
	err := r.p.run(ctx, r.Location(), "list uploads", func(int) error {
		var err error
		out, err = r.s.ListUploads(ctx)
		return err
	}, nil)
	return out, err
}

// AbortUpload retries; "not found" on a later attempt is reported as for
// Delete.
func (r *Store) AbortUpload(ctx context.Context, id string) error {
	return r.p.run(ctx, r.Location(), "abort upload", func(attempt int) error {
		err := r.s.AbortUpload(ctx, id)
		if attempt > 1 && errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w (on attempt %d: an earlier, failed attempt may have done it)", err, attempt)
		}
		return err
	}, nil)
}

// fail names the store and the operation in err.
func (r *Store) fail(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", r.Location(), op, err)
}

// Refs retries.
func (r *Store) Refs(ctx context.Context) (map[string]string, error) {
	var out map[string]string
	err := r.p.run(ctx, r.Location(), "refs", func(int) error {
		var err error
		out, err = r.s.Refs(ctx)
		return err
	}, nil)
	return out, err
}

// SetRef retries: writing the same value again does no harm.
func (r *Store) SetRef(ctx context.Context, name, value string) error {
	return r.p.run(ctx, r.Location(), "set ref", func(int) error {
		return r.s.SetRef(ctx, name, value)
	}, nil)
}

// DeleteRef retries; "not found" on a later attempt is reported as for
// Delete.
func (r *Store) DeleteRef(ctx context.Context, name string) error {
	return r.p.run(ctx, r.Location(), "delete ref", func(attempt int) error {
		err := r.s.DeleteRef(ctx, name)
		if attempt > 1 && errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w (on attempt %d: an earlier, failed attempt may have done it)", err, attempt)
		}
		return err
	}, nil)
}
