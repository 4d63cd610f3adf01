package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
)

// maxResumes bounds how often one ReadRange reader reopens the object after
// its connection failed midway.
const maxResumes = 5

// ReadRange returns length bytes (to the end if length < 0) from offset off
// of a ready archive retrieval, with a ranged GetObject (a whole-object read
// is not ranged, so the SDK checks the object's checksum where S3 has one
// for it). The range is checked against r.Size when it is known, else
// against HeadObject. If the connection fails midway, the reader resumes
// where it stopped, up to 5 times, insisting on the same ETag.
// Reading an archived object that is not restored fails with
// store.ErrNotReady, as S3 answers InvalidObjectState.
func (s *Store) ReadRange(ctx context.Context, r store.Retrieval, off, length int64) (io.ReadCloser, error) {
	const op = "read"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	if r.Kind != store.KindArchive {
		return nil, s.Fail(op, store.Permanent(errors.New("not an archive retrieval")))
	}
	if err := s.checkJob(r); err != nil {
		return nil, s.Fail(op, err)
	}
	size := r.Size
	n, err := rangeLength(r.ArchiveID, off, length, size)
	if size < 0 || (err == nil && n == 0) {
		// The size is unknown, or nothing is to be read: ask S3 whether the
		// object is there and readable.
		st, herr := s.head(ctx, r.ArchiveID)
		if herr != nil {
			return nil, s.Fail(op, herr)
		}
		if herr := st.readable(r.ArchiveID, time.Now()); herr != nil {
			return nil, s.Fail(op, herr)
		}
		size = st.size
		n, err = rangeLength(r.ArchiveID, off, length, size)
	}
	if err != nil {
		return nil, s.Fail(op, err)
	}
	if n == 0 {
		return http.NoBody, nil
	}
	or := &objectReader{
		s: s, ctx: ctx, id: r.ArchiveID, key: s.objectKey(r.ArchiveID),
		pos: off, end: off + n, whole: off == 0 && n == size,
		what: s.Location() + ": " + op + ": archive " + r.ArchiveID,
	}
	if err := or.open(); err != nil {
		return nil, err
	}
	return or, nil
}

// rangeLength checks a range against an archive of size bytes (size < 0:
// unknown, only off is checked) and returns its length.
func rangeLength(id string, off, length, size int64) (int64, error) {
	bad := off < 0 || (size >= 0 && (off > size || length > size-off))
	if bad {
		return 0, store.Permanent(fmt.Errorf("archive %s: range offset %d length %d is outside its %d bytes", id, off, length, size))
	}
	if length < 0 {
		return size - off, nil
	}
	return length, nil
}

// objectReader streams [pos, end) of an object and resumes after failures.
type objectReader struct {
	s        *Store
	ctx      context.Context
	id, key  string
	etag     string // of the first response; later ones must match
	pos, end int64
	whole    bool // the range is the whole object
	body     io.ReadCloser
	resumes  int
	what     string // names the store, operation and archive in errors
}

// open issues the GetObject for [pos, end).
func (o *objectReader) open() error {
	in := &s3.GetObjectInput{
		Bucket:       aws.String(o.s.cfg.Bucket),
		Key:          aws.String(o.key),
		ChecksumMode: types.ChecksumModeEnabled,
	}
	if !o.whole || o.etag != "" {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", o.pos, o.end-1))
	}
	if o.etag != "" {
		in.IfMatch = aws.String(o.etag)
	}
	out, err := o.s.client.GetObject(o.ctx, in)
	if err != nil {
		code, status := apiError(err)
		switch {
		case isNotFound(err):
			return fmt.Errorf("%s: %w", o.what, store.ErrNotFound)
		case code == "InvalidObjectState":
			return fmt.Errorf("%s: the object is archived and not restored: %w", o.what, store.ErrNotReady)
		case status == http.StatusRequestedRangeNotSatisfiable || code == "InvalidRange":
			return store.Permanent(fmt.Errorf("%s: range %d-%d: %w", o.what, o.pos, o.end-1, err))
		case status == http.StatusPreconditionFailed:
			return store.Permanent(fmt.Errorf("%s: the object changed while it was read: %w", o.what, err))
		}
		return fmt.Errorf("%s: %w", o.what, o.s.classify(o.ctx, err))
	}
	if got := aws.ToInt64(out.ContentLength); out.ContentLength != nil && got != o.end-o.pos {
		out.Body.Close()
		return fmt.Errorf("%s: S3 sent %d bytes for a range of %d", o.what, got, o.end-o.pos)
	}
	if o.etag == "" {
		o.etag = aws.ToString(out.ETag)
	}
	o.body = out.Body
	return nil
}

// Read reads from the current response, and on a failure before the end
// reopens the rest of the range.
func (o *objectReader) Read(p []byte) (int, error) {
	for {
		if o.pos >= o.end {
			return 0, io.EOF
		}
		if o.body == nil {
			if err := o.open(); err != nil {
				return 0, err
			}
		}
		if int64(len(p)) > o.end-o.pos {
			p = p[:o.end-o.pos]
		}
		n, err := o.body.Read(p)
		o.pos += int64(n)
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && o.pos == o.end:
			return n, io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		o.body.Close()
		o.body = nil
		if cerr := o.ctx.Err(); cerr != nil {
			return n, fmt.Errorf("%s: %w", o.what, cerr)
		}
		if o.pos >= o.end || o.resumes >= maxResumes {
			// An error at the very end (the SDK's checksum check) cannot be
			// read around; neither can one that keeps coming back.
			return n, fmt.Errorf("%s: at byte %d: %w", o.what, o.pos, err)
		}
		o.resumes++
		o.s.cfg.Logger.Debug("s3 store: resuming read", "location", o.s.Location(), "archive", o.id, "at", o.pos, "err", err)
		if err := sleepCtx(o.ctx, time.Duration(o.resumes)*200*time.Millisecond); err != nil {
			return n, fmt.Errorf("%s: %w", o.what, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Close closes the current response, if any.
func (o *objectReader) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	o.pos = o.end
	return err
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
