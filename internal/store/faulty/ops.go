package faulty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Put may fail before the call, or hand the wrapped store a body that
// breaks after a random number of bytes.
func (f *Store) Put(ctx context.Context, body io.Reader, description string) (store.Archive, error) {
	body, err := f.enterWithBody(ctx, OpPut, body)
	if err != nil {
		return store.Archive{}, err
	}
	return f.s.Put(ctx, body, description)
}

// enterWithBody enters a call of op that reads body, and returns the body
// to hand on: one that breaks midway if the dice say so.
func (f *Store) enterWithBody(ctx context.Context, op Op, body io.Reader) (io.Reader, error) {
	d, err := f.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	if d.breakAt >= 0 {
		body = &breakingReader{r: body, left: d.breakAt, f: f, op: op}
	}
	return body, nil
}

// PutResumable may fail before the call, or hand the wrapped store a body
// that breaks after a random number of bytes, as Put does (under
// OpResume). If the wrapped store is not a store.Resumer, it fails with a
// permanent error wrapping errors.ErrUnsupported, counting no call.
func (f *Store) PutResumable(ctx context.Context, body io.Reader, description string, opt store.ResumeOptions) (store.Archive, error) {
	rs, ok := f.s.(store.Resumer)
	if !ok {
		return store.Archive{}, store.Permanent(fmt.Errorf("%s: %s: resumable uploads: %w", f.s.Location(), OpResume, errors.ErrUnsupported))
	}
	body, err := f.enterWithBody(ctx, OpResume, body)
	if err != nil {
		return store.Archive{}, err
	}
	return rs.PutResumable(ctx, body, description, opt)
}

// ReadRange may fail before the call, or return a reader that breaks after
// a random number of bytes.
func (f *Store) ReadRange(ctx context.Context, r store.Retrieval, off, length int64) (io.ReadCloser, error) {
	d, err := f.enter(ctx, OpRead)
	if err != nil {
		return nil, err
	}
	rc, err := f.s.ReadRange(ctx, r, off, length)
	if err != nil || d.breakAt < 0 {
		return rc, err
	}
	return &breakingReadCloser{breakingReader{r: rc, left: d.breakAt, f: f, op: OpRead}, rc}, nil
}

// Delete may fail before the call, and is refused while SetAppendOnly is
// on.
func (f *Store) Delete(ctx context.Context, id string) error {
	if _, err := f.enter(ctx, OpDelete); err != nil {
		return err
	}
	if err := f.denyDelete(id); err != nil {
		return err
	}
	return f.s.Delete(ctx, id)
}

// LockPolicy is the wrapped store's, or no lock when it is no
// store.Locker.
func (f *Store) LockPolicy() store.LockPolicy {
	if lk, ok := f.s.(store.Locker); ok {
		return lk.LockPolicy()
	}
	return store.LockPolicy{}
}

// locker returns the wrapped store.Locker, or a permanent error wrapping
// errors.ErrUnsupported.
func (f *Store) locker() (store.Locker, error) {
	if lk, ok := f.s.(store.Locker); ok {
		return lk, nil
	}
	return nil, store.Permanent(fmt.Errorf("%s: %s: object lock: %w", f.s.Location(), OpLock, errors.ErrUnsupported))
}

// Retention may fail before the call.
func (f *Store) Retention(ctx context.Context, id string) (store.Lock, error) {
	lk, err := f.locker()
	if err != nil {
		return store.Lock{}, err
	}
	if _, err := f.enter(ctx, OpLock); err != nil {
		return store.Lock{}, err
	}
	return lk.Retention(ctx, id)
}

// ExtendRetention may fail before the call.
func (f *Store) ExtendRetention(ctx context.Context, id string, until time.Time) (store.Lock, error) {
	lk, err := f.locker()
	if err != nil {
		return store.Lock{}, err
	}
	if _, err := f.enter(ctx, OpLock); err != nil {
		return store.Lock{}, err
	}
	return lk.ExtendRetention(ctx, id, until)
}

// Request may fail before the call.
func (f *Store) Request(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	if _, err := f.enter(ctx, OpRequest); err != nil {
		return store.Retrieval{}, err
	}
	return f.s.Request(ctx, r)
}

// Poll may fail before the call.
func (f *Store) Poll(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	if _, err := f.enter(ctx, OpPoll); err != nil {
		return store.Retrieval{}, err
	}
	return f.s.Poll(ctx, r)
}

// Inventory may fail before the call.
func (f *Store) Inventory(ctx context.Context, r store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	if _, err := f.enter(ctx, OpInventory); err != nil {
		return time.Time{}, err
	}
	return f.s.Inventory(ctx, r, fn)
}

// ListUploads may fail before the call.
func (f *Store) ListUploads(ctx context.Context) ([]store.Upload, error) {
	if _, err := f.enter(ctx, OpUploads); err != nil {
		return nil, err
	}
	return f.s.ListUploads(ctx)
}

// AbortUpload may fail before the call.
func (f *Store) AbortUpload(ctx context.Context, id string) error {
	if _, err := f.enter(ctx, OpUploads); err != nil {
		return err
	}
	return f.s.AbortUpload(ctx, id)
}

// Refs may fail before the call.
func (f *Store) Refs(ctx context.Context) (map[string]string, error) {
	if _, err := f.enter(ctx, OpRefs); err != nil {
		return nil, err
	}
	return f.s.Refs(ctx)
}

// SetRef may fail before the call.
func (f *Store) SetRef(ctx context.Context, name, value string) error {
	if _, err := f.enter(ctx, OpRefs); err != nil {
		return err
	}
	return f.s.SetRef(ctx, name, value)
}

// DeleteRef may fail before the call.
func (f *Store) DeleteRef(ctx context.Context, name string) error {
	if _, err := f.enter(ctx, OpRefs); err != nil {
		return err
	}
	return f.s.DeleteRef(ctx, name)
}

// breakingReader passes left bytes through, then fails with ErrInjected
// on every later Read.
type breakingReader struct {
	r      io.Reader
	left   int64
	f      *Store
	op     Op
	done   int64
	broken bool
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.broken {
		return 0, b.err()
	}
	if b.left <= 0 {
		b.broken = true
		b.f.countBreak(b.op)
		return 0, b.err()
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	b.done += int64(n)
	return n, err
}

func (b *breakingReader) err() error {
	return fmt.Errorf("%s: %s: stream broke after %d bytes: %w", b.f.Location(), b.op, b.done, ErrInjected)
}

type breakingReadCloser struct {
	breakingReader
	c io.Closer
}

func (b *breakingReadCloser) Close() error { return b.c.Close() }
