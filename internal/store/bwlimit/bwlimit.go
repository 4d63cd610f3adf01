// Package bwlimit wraps a store.Store so that the bytes it sends and
// receives (Put and PutResumable bodies, ReadRange streams) flow at no
// more than a given rate, shared by every transfer through the same
// Limiter: all files and all parts in flight together (--bwlimit).
//
// The limit is applied where the wrapper sees the bytes: as a body is read
// by the store, and as a range is read from it. Parts of a continued
// upload that the store already holds are read from the body too (to be
// compared) but not sent: their bytes are credited back, so they do not
// count against the rate after the first part.
package bwlimit

import (
	"context"
	"io"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/grsync/grsync/internal/store"
)

// Limiter is a rate shared by every transfer that uses it.
type Limiter struct {
	l     *rate.Limiter
	burst int
}

// NewLimiter allows bytesPerSecond (at least 1) on average, in bursts of at
// most a quarter second's worth (at least 1 KiB, at most 1 MiB).
func NewLimiter(bytesPerSecond int64) *Limiter {
	bytesPerSecond = max(bytesPerSecond, 1)
	burst := int(min(max(bytesPerSecond/4, 1024), 1<<20))
	return &Limiter{l: rate.NewLimiter(rate.Limit(bytesPerSecond), burst), burst: burst}
}

// Rate is the limit in bytes per second.
func (l *Limiter) Rate() float64 { return float64(l.l.Limit()) }

// Reader returns r limited by l. Reads wait for the limiter after reading,
// so a read never asks for more than the burst at once; ctx cancels the
// wait.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	lr := &reader{ctx: ctx, r: r, l: l}
	if s, ok := r.(io.Seeker); ok {
		return &seekReader{reader: lr, s: s}
	}
	return lr
}

type reader struct {
	ctx    context.Context
	r      io.Reader
	l      *Limiter
	credit atomic.Int64 // bytes that may pass without waiting
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) > r.l.burst {
		p = p[:r.l.burst]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		owe := int64(n)
		if c := r.credit.Load(); c > 0 {
			use := min(c, owe)
			r.credit.Add(-use)
			owe -= use
		}
		if owe > 0 {
			if werr := r.l.l.WaitN(r.ctx, int(owe)); werr != nil && err == nil {
				return n, werr
			}
		}
	}
	return n, err
}

// seekReader keeps the body seekable, so the retry wrapper above can
// rewind it and stores below can measure it.
type seekReader struct {
	*reader
	s io.Seeker
}

func (s *seekReader) Seek(off int64, whence int) (int64, error) { return s.s.Seek(off, whence) }

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// Store is the limiting wrapper returned by New.
type Store struct {
	store.Store
	l *Limiter
}

// New wraps s so that its transfers share l. The wrapper implements
// store.Resumer and store.Locker exactly when s does (lock calls move no
// data and pass through).
func New(s store.Store, l *Limiter) store.Store {
	st := &Store{Store: s, l: l}
	var w store.Store = st
	if rs, ok := s.(store.Resumer); ok {
		w = &resumer{Store: st, rs: rs}
	}
	if lk, ok := s.(store.Locker); ok {
		return store.WithLocker(w, lk)
	}
	return w
}

// Put sends body at the limited rate.
func (s *Store) Put(ctx context.Context, body io.Reader, description string) (store.Archive, error) {
	return s.Store.Put(ctx, s.l.Reader(ctx, body), description)
}

// ReadRange returns a stream read at the limited rate.
func (s *Store) ReadRange(ctx context.Context, r store.Retrieval, off, length int64) (io.ReadCloser, error) {
	rc, err := s.Store.ReadRange(ctx, r, off, length)
	if err != nil {
		return nil, err
	}
	return readCloser{Reader: s.l.Reader(ctx, rc), c: rc}, nil
}

type resumer struct {
	*Store
	rs store.Resumer
}

var _ store.Resumer = (*resumer)(nil)

// PutResumable sends body at the limited rate; the bytes of parts the
// store already holds, which are read but not sent, are credited back.
func (r *resumer) PutResumable(ctx context.Context, body io.Reader, description string, opt store.ResumeOptions) (store.Archive, error) {
	lr := &reader{ctx: ctx, r: body, l: r.l}
	skipped := opt.Skipped
	opt.Skipped = func(n int64) {
		lr.credit.Add(n)
		if skipped != nil {
			skipped(n)
		}
	}
	return r.rs.PutResumable(ctx, lr, description, opt)
}
