package retry

import (
	"context"
	"fmt"
	"io"

	"github.com/grsync/grsync/internal/store"
)

// ReadRange opens the range with retries. When the returned stream fails
// midway with a transient error, the reader reopens the rest of the range
// (from off plus the bytes already delivered) under the same policy.
func (r *Store) ReadRange(ctx context.Context, req store.Retrieval, off, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := r.p.run(ctx, r.Location(), "read", func(int) error {
		var err error
		rc, err = r.s.ReadRange(ctx, req, off, length)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return &resumingReader{st: r, ctx: ctx, req: req, off: off, length: length, rc: rc}, nil
}

// resumingReader reads a range and resumes it after transient failures.
type resumingReader struct {
	st        *Store
	ctx       context.Context
	req       store.Retrieval
	off       int64 // start of the range
	length    int64 // of the range; < 0 means to the end
	delivered int64
	rc        io.ReadCloser // nil after a failure, until reopened
	err       error         // sticky, once retrying gave up
}

func (rr *resumingReader) Read(p []byte) (int, error) {
	if rr.err != nil {
		return 0, rr.err
	}
	if rr.done() {
		return 0, io.EOF
	}
	var n int
	var eof error
	err := rr.st.p.run(rr.ctx, rr.st.Location(), "read", func(int) error {
		if rr.rc == nil {
			rest := int64(-1)
			if rr.length >= 0 {
				rest = rr.length - rr.delivered
			}
			rc, err := rr.st.s.ReadRange(rr.ctx, rr.req, rr.off+rr.delivered, rest)
			if err != nil {
				return err
			}
			rr.rc = rc
		}
		var err error
		n, err = rr.rc.Read(p)
		rr.delivered += int64(n)
		if err == nil || err == io.EOF {
			eof = err
			return nil
		}
		rr.drop()
		if n > 0 {
			return nil // hand over these bytes; the next Read reopens
		}
		return err
	}, nil)
	if err != nil {
		rr.err = fmt.Errorf("%w (after %d bytes of the range)", err, rr.delivered)
		return 0, rr.err
	}
	return n, eof
}

// done reports whether the whole range has been delivered, so that a
// failure right at its end needs no reopening.
func (rr *resumingReader) done() bool {
	switch {
	case rr.rc != nil:
		return false
	case rr.length >= 0:
		return rr.delivered >= rr.length
	case rr.req.Size >= 0 && rr.req.Ready:
		return rr.off+rr.delivered >= rr.req.Size
	}
	return false
}

// drop closes the current stream so that the next attempt reopens.
func (rr *resumingReader) drop() {
	if rr.rc != nil {
		_ = rr.rc.Close()
		rr.rc = nil
	}
}

func (rr *resumingReader) Close() error {
	if rr.rc == nil {
		return nil
	}
	err := rr.rc.Close()
	rr.rc = nil
	return err
}
