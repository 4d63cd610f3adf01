package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// errBadDescription is returned (marked permanent) for descriptions that
// store.ValidDescription rejects.
var errBadDescription = fmt.Errorf("invalid description: it must be printable ASCII (0x20..0x7e) of at most %d bytes, without spaces at the ends", store.MaxDescription)

// errChecksum is wrapped when S3 reports a checksum other than the one
// computed from the bytes sent.
var errChecksum = errors.New("checksum mismatch")

// cleanupTimeout bounds the requests that undo a failed Put.
const cleanupTimeout = 30 * time.Second

// Put stores body as a new object with a fresh random id: in one PutObject
// if it is at most the part size, else as a parallel multipart upload. See
// the package documentation for checksums, memory use and cleanup.
func (s *Store) Put(ctx context.Context, body io.Reader, description string) (store.Archive, error) {
	const op = "put"
	if err := s.BeginPut(ctx, description, errBadDescription); err != nil {
		return store.Archive{}, s.Fail(op, err)
	}
	a, err := s.put(ctx, body, description, nil)
	if err != nil {
		return store.Archive{}, s.Fail(op, err)
	}
	return a, nil
}

// PutResumable is Put for uploads a later run can continue (see
// store.Resumer). A new upload goes as with Put; a multipart one is handed
// to opt.Started once S3 has given it an id and its sidecar is written,
// and is left in the bucket when it fails for a reason a later run may not
// meet (a body error, a transient failure, cancellation). With opt.Resume
// set, it continues that upload: ListParts says which parts S3 holds; each
// is read from body again and compared with S3's SHA-256 checksum of it
// (or, where S3 reports none, with an ETag that is the part's MD5) instead
// of being sent. A held part that can be compared neither way is sent
// again, which replaces it.
func (s *Store) PutResumable(ctx context.Context, body io.Reader, description string, opt store.ResumeOptions) (store.Archive, error) {
	return s.PutResumableWith(opt,
		func() error { return s.BeginPut(ctx, description, errBadDescription) },
		func() (store.Archive, error) { return s.put(ctx, body, description, &opt) },
		func(ref store.UploadRef) (store.Archive, error) {
			return s.resume(ctx, body, description, ref, opt.Skipped)
		})
}

// put reads the first part, and a second one if the first filled up, to
// choose between one PutObject and a multipart upload. opt is set for a
// resumable upload (see putMultipart).
func (s *Store) put(ctx context.Context, body io.Reader, description string, opt *store.ResumeOptions) (store.Archive, error) {
	id := newID()
	until := s.newLockUntil()
	partSize := s.partSizeFor(store.SizeHint(ctx))
	pool := newBufPool(s.cfg.Concurrency + 1)
	src := s.newBodyReader(ctx, body)

	first, err := pool.get(ctx)
	if err != nil {
		return store.Archive{}, err
	}
	first, eof, err := src.fill(first, partSize, true)
	if err != nil {
		return store.Archive{}, err
	}
	if eof {
		return s.putSingleSpare(ctx, id, description, first, src, until)
	}
	second, err := pool.get(ctx)
	if err != nil {
		return store.Archive{}, err
	}
	second, eof, err = src.fill(second, partSize, true)
	if err != nil {
		return store.Archive{}, err
	}
	if len(second) == 0 {
		s.keepSpare(second)
		return s.putSingleSpare(ctx, id, description, first, src, until)
	}
	a, err := s.putMultipart(ctx, id, description, partSize, pool, src, []chunk{{1, first}, {2, second}}, eof, opt, until)
	// Every part's request has ended: the pool holds the buffers of the
	// parts sent (nil for those of failed requests, which may still be
	// read).
	for {
		select {
		case b := <-pool.free:
			s.keepSpare(b)
			continue
		default:
		}
		break
	}
	return a, err
}

// putSingleSpare is putSingle, then keeps data's buffer for later Puts
// unless the request failed (the SDK might still read it).
func (s *Store) putSingleSpare(ctx context.Context, id, description string, data []byte, src *bodyReader, until time.Time) (store.Archive, error) {
	a, err := s.putSingle(ctx, id, description, data, src, until)
	if err == nil {
		s.keepSpare(data)
	}
	return a, err
}

// keepSpare keeps a part buffer for a later Put, if there is room.
func (s *Store) keepSpare(b []byte) {
	if cap(b) < 1<<20 { // small bodies' buffers are not worth keeping
		return
	}
	select {
	case s.spare <- b[:0]:
	default:
	}
}

// takeSpare returns a kept buffer of at least limit bytes, or nil.
func (s *Store) takeSpare(limit int64) []byte {
	for {
		select {
		case b := <-s.spare:
			if int64(cap(b)) >= limit {
				return b
			}
			continue // from a smaller part size: dropped
		default:
			return nil
		}
	}
}

// partSizeFor returns the configured part size, raised so that a body of
// hint bytes plus 1% and 64 KiB fits in MaxParts parts, in whole MiB.
func (s *Store) partSizeFor(hint int64) int64 {
	ps := s.cfg.PartSize
	if hint > 0 {
		need := hint + hint/100 + 64<<10
		per := (need + MaxParts - 1) / MaxParts
		per = (per + 1<<20 - 1) &^ (1<<20 - 1)
		ps = max(ps, per)
	}
	return min(ps, MaxPartSize)
}

// putSingle uploads data in one PutObject, with its Object Lock retention
// (until; zero for none) in the same request, and verifies it. The
// request carries If-None-Match: * so that it can never replace an
// object: an append-only policy may demand it (see internal/iampolicy). A
// 412 can then only be the SDK retrying a PutObject whose reply was lost,
// and verify decides whether the object is the one sent.
func (s *Store) putSingle(ctx context.Context, id, description string, data []byte, src *bodyReader, until time.Time) (a store.Archive, err error) {
	if err := ctx.Err(); err != nil {
		return store.Archive{}, err
	}
	key := s.objectKey(id)
	alg := uploadAlg
	sum := alg.digest(data)
	want := encode(sum)
	var version string
	cleanup := true
	defer func() {
		if err != nil && cleanup {
			s.deleteQuietly(ctx, key, version)
		}
	}()
	mode, retain := s.lockFields(until)
	in := &s3.PutObjectInput{
		Bucket:                    aws.String(s.cfg.Bucket),
		Key:                       aws.String(key),
		Body:                      bytes.NewReader(data),
		ContentLength:             aws.Int64(int64(len(data))),
		StorageClass:              types.StorageClass(s.classFor(ctx)),
		Metadata:                  descriptionMetadata(description),
		ChecksumAlgorithm:         alg.sdk(),
		IfNoneMatch:               aws.String("*"),
		ObjectLockMode:            mode,
		ObjectLockRetainUntilDate: retain,
	}
	in.ChecksumCRC32, in.ChecksumSHA256 = alg.set(want)
	out, err := s.client.PutObject(ctx, in, knownPayloadHash(alg, sum))
	switch {
	case err != nil && errPreconditionFailed(err) && ctx.Err() == nil:
		// Someone else's object would never be deleted here.
		cleanup = false
		s.cfg.Logger.Debug("s3 store: PutObject answered 412; checking whether an earlier attempt stored the object", "location", s.Location(), "archive", id)
		return s.verify(ctx, id, description, src, alg, want, until)
	case err != nil:
		return store.Archive{}, fmt.Errorf("upload %d bytes: %w", len(data), s.classify(ctx, err))
	}
	version = aws.ToString(out.VersionId)
	if got := alg.pick(out.ChecksumCRC32, out.ChecksumSHA256); got != "" && got != want {
		return store.Archive{}, fmt.Errorf("upload %d bytes: S3 reports %s %s, sent %s: %w", len(data), alg, got, want, errChecksum)
	}
	return s.verify(ctx, id, description, src, alg, want, until)
}

// verify checks with HeadObject that the new object has the size and
// checksum (alg) of what was read from the body, and, when the store
// locks, a retention until until or later (setting it if S3 reports
// none), and returns the archive.
func (s *Store) verify(ctx context.Context, id, description string, src *bodyReader, alg checksumAlg, want string, until time.Time) (store.Archive, error) {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(s.cfg.Bucket),
		Key:          aws.String(s.objectKey(id)),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return store.Archive{}, fmt.Errorf("verify upload: %w", s.classify(ctx, err))
	}
	if size := aws.ToInt64(head.ContentLength); size != src.n {
		return store.Archive{}, fmt.Errorf("verify upload: S3 holds %d bytes, %d were sent", size, src.n)
	}
	switch got := alg.pick(head.ChecksumCRC32, head.ChecksumSHA256); {
	case got == "":
		s.cfg.Logger.Warn("s3 store: the object has no "+alg.String()+" checksum to verify", "location", s.Location(), "archive", id)
	case !sameComposite(got, want):
		return store.Archive{}, fmt.Errorf("verify upload: S3 reports %s %s, computed %s: %w", alg, got, want, errChecksum)
	}
	lock, err := s.ensureLock(ctx, id, head, until)
	if err != nil {
		return store.Archive{}, fmt.Errorf("verify upload: %w", err)
	}
	created := time.Now().UTC()
	if head.LastModified != nil {
		created = head.LastModified.UTC()
	}
	return store.Archive{ID: id, Description: description, Size: src.n, Created: created, TreeHash: src.th.Digest().String(), Lock: lock}, nil
}

// deleteQuietly removes key (version versionID, if known) after a failed
// Put, with a fresh short context so that a cancelled Put still cleans up.
// An object already locked cannot be removed: it stays, billed, until its
// lock ends, and a warning says so.
func (s *Store) deleteQuietly(ctx context.Context, key, versionID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.removeKey(ctx, key, versionID); err != nil {
		s.cfg.Logger.Warn("s3 store: could not remove the object of a failed upload (an Object Lock keeps it, billed, until the lock ends)", "location", s.Location(), "key", key, "err", err)
	}
}

// bodyReader reads the body in part-sized chunks, counts the bytes and
// feeds them to the tree hash. Its errors are store.BodyErrors, and say
// they came from the body.
type bodyReader struct {
	ctx    context.Context
	r      io.Reader
	th     *treehash.Hash
	allocs *atomic.Int64 // counts part-sized buffers allocated
	// takeSpare gives a part buffer a finished Put left (Store.takeSpare).
	takeSpare func(limit int64) []byte
	n         int64 // bytes read so far
	eof       bool
}

// newBodyReader returns a bodyReader of body for one Put.
func (s *Store) newBodyReader(ctx context.Context, body io.Reader) *bodyReader {
	return &bodyReader{ctx: ctx, r: body, th: treehash.New(), allocs: &s.bufAllocs, takeSpare: s.takeSpare}
}

// fill reads into buf[:0] until it holds limit bytes or the body ends, and
// reports whether it ended. When buf is too small, fill allocates: limit
// bytes at once, or with grow set 64 KiB first, doubling as needed, so that
// small bodies cost little memory.
func (b *bodyReader) fill(buf []byte, limit int64, grow bool) ([]byte, bool, error) {
	if b.eof {
		return buf[:0], true, nil
	}
	if int64(cap(buf)) < limit {
		if sp := b.takeSpare(limit); sp != nil {
			buf = sp
		} else {
			buf = b.alloc(nil, limit, grow)
		}
	}
	buf = buf[:0]
	for int64(len(buf)) < limit {
		if err := b.ctx.Err(); err != nil {
			return buf, false, err
		}
		if len(buf) == cap(buf) {
			buf = b.alloc(buf, limit, true)
		}
		n, err := b.r.Read(buf[len(buf):min(int64(cap(buf)), limit)])
		if n > 0 {
			b.th.Write(buf[len(buf) : len(buf)+n])
			b.n += int64(n)
			buf = buf[:len(buf)+n]
		}
		switch {
		case err == io.EOF:
			b.eof = true
			return buf, true, nil
		case err != nil:
			return buf, false, &store.BodyError{Err: fmt.Errorf("read body after %d bytes: %w", b.n, err)}
		}
	}
	return buf, false, nil
}

// alloc returns a buffer holding old's bytes with room for more: limit
// bytes, or with grow set twice old's capacity (at least 64 KiB, at most
// limit).
func (b *bodyReader) alloc(old []byte, limit int64, grow bool) []byte {
	size := limit
	if grow {
		size = min(limit, max(64<<10, 2*int64(cap(old))))
	}
	if size == limit {
		b.allocs.Add(1)
	}
	buf := make([]byte, len(old), size)
	copy(buf, old)
	return buf
}

// classFor is the storage class of a new object: the one the caller asked
// for with store.WithClass, else the store's.
func (s *Store) classFor(ctx context.Context) string {
	if c, ok := normalizeClass(store.Class(ctx)); ok && store.Class(ctx) != "" {
		return c
	}
	return s.cfg.StorageClass
}
