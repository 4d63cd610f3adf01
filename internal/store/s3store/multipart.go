package s3store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
)

// bufPool hands out at most n part buffers at a time. Buffers are made
// lazily by the caller (a nil buffer comes out until then) and reused.
type bufPool struct{ free chan []byte }

func newBufPool(n int) *bufPool {
	p := &bufPool{free: make(chan []byte, n)}
	for range n {
		p.free <- nil
	}
	return p
}

// get waits for a free buffer, which may be nil.
func (p *bufPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// put returns a buffer got from get; a buffer that may still be read by a
// failed request is returned as nil, so it is never written again.
func (p *bufPool) put(b []byte) { p.free <- b }

// chunk is one part's bytes.
type chunk struct {
	num  int32
	data []byte
}

// partResult is what an uploaded part contributes to the completion.
type partResult struct {
	part   types.CompletedPart
	digest []byte // raw, of the upload's checksum algorithm
}

// putMultipart uploads the chunks already read and the rest of the body as
// a multipart upload, parts in parallel, and completes and verifies it. On
// failure it aborts the upload with a fresh short context. For a resumable
// upload (opt set) it hands the upload's ref to opt.Started before the
// first part, and leaves the upload after a failure a later run may
// continue.
func (s *Store) putMultipart(ctx context.Context, id, description string, partSize int64, pool *bufPool, src *bodyReader, first []chunk, eof bool, opt *store.ResumeOptions, until time.Time) (store.Archive, error) {
	uploadID, err := s.startMultipart(ctx, id, description, partSize, uploadAlg, until)
	if err != nil {
		return store.Archive{}, err
	}
	if opt != nil && opt.Started != nil {
		if err := opt.Started(store.UploadRef{ID: uploadHandle(id, uploadID), PartSize: partSize}); err != nil {
			s.abortQuietly(ctx, id, uploadID)
			return store.Archive{}, fmt.Errorf("multipart upload %s started: %w", uploadHandle(id, uploadID), err)
		}
	}
	m := &multipart{s: s, id: id, uploadID: uploadID, partSize: partSize, alg: uploadAlg, resumable: opt != nil, until: until}
	return m.run(ctx, description, pool, src, first, eof)
}

// multipart is one multipart upload in progress.
type multipart struct {
	s        *Store
	id       string // the archive's
	uploadID string // S3's
	partSize int64
	alg      checksumAlg // every part's, as the upload was created with
	// resumable uploads outlive failures a later run may not meet (see
	// store.KeepUpload).
	resumable bool
	// held is set when continuing an upload: the parts S3 holds.
	held    *store.HeldParts[heldPart, chunk]
	skipped func(int64) // told about each held part that compared equal
	// until is the Object Lock retention the object must end up with
	// (zero: none). CreateMultipartUpload carries it; verify checks it.
	until time.Time
}

// run uploads the chunks already read and the rest of the body, Concurrency
// parts at a time, and completes and verifies the upload. On failure it
// aborts the upload, unless it is resumable and may be continued.
func (m *multipart) run(ctx context.Context, description string, pool *bufPool, src *bodyReader, first []chunk, eof bool) (_ store.Archive, err error) {
	s := m.s
	key := s.objectKey(m.id)
	completed, version := false, ""
	defer func() {
		switch {
		case err == nil:
		case completed:
			s.deleteQuietly(ctx, key, version)
		case m.resumable && store.KeepUpload(ctx, err):
			s.cfg.Logger.Debug("s3 store: multipart upload left for a later run to continue",
				"location", s.Location(), "upload", uploadHandle(m.id, m.uploadID), "err", err)
		default:
			s.abortQuietly(ctx, m.id, m.uploadID)
		}
	}()

	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan chunk)
	var (
		mu      sync.Mutex
		results []partResult
		wg      sync.WaitGroup
	)
	record := func(r partResult) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}
	for range s.cfg.Concurrency {
		wg.Go(func() {
			for c := range jobs {
				r, err := s.uploadPart(gctx, key, m.uploadID, m.alg, c)
				if err != nil {
					pool.put(nil)
					cancel(err)
					continue
				}
				pool.put(c.data)
				record(r)
			}
		})
	}
	perr := m.produceParts(gctx, jobs, pool, src, first, eof, record)
	close(jobs)
	wg.Wait()
	if perr != nil {
		return store.Archive{}, perr
	}
	if cause := context.Cause(gctx); cause != nil {
		return store.Archive{}, cause
	}

	slices.SortFunc(results, func(a, b partResult) int { return int(*a.part.PartNumber - *b.part.PartNumber) })
	parts := make([]types.CompletedPart, len(results))
	digests := make([][]byte, len(results))
	for i, r := range results {
		parts[i] = r.part
		digests[i] = r.digest
	}
	want := m.alg.composite(digests)

	// If-None-Match: * as for a single PutObject: a completion never
	// replaces an object, and a 412 can only be a retried completion
	// whose reply was lost.
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.cfg.Bucket),
		Key:             aws.String(key),
		UploadId:        aws.String(m.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfNoneMatch:     aws.String("*"),
	})
	if err != nil && errPreconditionFailed(err) && ctx.Err() == nil {
		s.cfg.Logger.Debug("s3 store: CompleteMultipartUpload answered 412; checking whether an earlier attempt completed it", "location", s.Location(), "archive", m.id)
		a, verr := s.verify(ctx, m.id, description, src, m.alg, want, m.until)
		if verr != nil {
			return store.Archive{}, fmt.Errorf("complete upload of %d parts: %w (and the object there is not this upload: %v)", len(parts), s.classify(ctx, err), verr)
		}
		s.removeUploadSidecar(ctx, m.id)
		return a, nil
	}
	if err != nil {
		return store.Archive{}, fmt.Errorf("complete upload of %d parts: %w", len(parts), s.classify(ctx, err))
	}
	completed, version = true, aws.ToString(out.VersionId)
	if got := m.alg.pick(out.ChecksumCRC32, out.ChecksumSHA256); got != "" && !sameComposite(got, want) {
		return store.Archive{}, fmt.Errorf("complete upload: S3 reports %s %s, computed %s: %w", m.alg, got, want, errChecksum)
	}
	s.removeUploadSidecar(ctx, m.id)
	return s.verify(ctx, m.id, description, src, m.alg, want, m.until)
}

// sameComposite compares composite checksums "BASE64-N"; a missing "-N"
// on either side is not held against it.
func sameComposite(got, want string) bool {
	g, gn, gok := strings.Cut(got, "-")
	w, wn, wok := strings.Cut(want, "-")
	return g == w && (!gok || !wok || gn == wn)
}

// produceParts sends the first chunks and then the rest of the body to
// the workers, one part-sized buffer from pool at a time. When continuing
// an upload, a part S3 holds is compared and recorded instead of sent, and
// the parts that wait meanwhile (see store.HeldParts) keep their buffers.
func (m *multipart) produceParts(ctx context.Context, jobs chan<- chunk, pool *bufPool, src *bodyReader, first []chunk, eof bool, record func(partResult)) error {
	send := func(c chunk) error {
		select {
		case jobs <- c:
			return nil
		case <-ctx.Done():
			pool.put(c.data)
			return context.Cause(ctx)
		}
	}
	// take sends c, or compares it if S3 holds it, and sends what may go.
	take := func(c chunk) error {
		var r partResult
		ready, held, err := m.held.Next(int(c.num)-1, c, func(h heldPart) (err error) {
			r, err = h.check(m.alg, c)
			return err
		})
		if held {
			pool.put(c.data)
		}
		if err != nil {
			return err
		}
		if held {
			record(r)
			if m.skipped != nil {
				m.skipped(int64(len(c.data)))
			}
		}
		for i, c := range ready {
			if err := send(c); err != nil {
				for _, c := range ready[i+1:] {
					pool.put(c.data)
				}
				return err
			}
		}
		return nil
	}
	num := int32(0)
	err := func() error {
		for _, c := range first {
			if err := take(c); err != nil {
				return err
			}
			num = c.num
		}
		for !eof {
			buf, err := pool.get(ctx)
			if err != nil {
				return err
			}
			buf, eof, err = src.fill(buf, m.partSize, false)
			if err != nil {
				pool.put(buf)
				return err
			}
			if len(buf) == 0 {
				pool.put(buf)
				break
			}
			if num == MaxParts {
				pool.put(buf)
				return store.Permanent(fmt.Errorf("the body is larger than %d parts of %d bytes; give a size hint (store.WithSizeHint) so larger parts are chosen", MaxParts, m.partSize))
			}
			num++
			if err := take(chunk{num, buf}); err != nil {
				return err
			}
		}
		return nil
	}()
	waiting, endErr := m.held.End(int(num))
	for _, c := range waiting {
		pool.put(c.data)
	}
	if err != nil {
		return err
	}
	return endErr
}

// uploadPart uploads one part with its checksum (alg) and checks the
// checksum S3 reports back.
func (s *Store) uploadPart(ctx context.Context, key, uploadID string, alg checksumAlg, c chunk) (partResult, error) {
	r := partResult{digest: alg.digest(c.data)}
	sum := encode(r.digest)
	in := &s3.UploadPartInput{
		Bucket:            aws.String(s.cfg.Bucket),
		Key:               aws.String(key),
		UploadId:          aws.String(uploadID),
		PartNumber:        aws.Int32(c.num),
		Body:              bytes.NewReader(c.data),
		ContentLength:     aws.Int64(int64(len(c.data))),
		ChecksumAlgorithm: alg.sdk(),
	}
	in.ChecksumCRC32, in.ChecksumSHA256 = alg.set(sum)
	out, err := s.client.UploadPart(ctx, in, knownPayloadHash(alg, r.digest))
	if err != nil {
		return partResult{}, fmt.Errorf("upload part %d: %w", c.num, s.classify(ctx, err))
	}
	if got := alg.pick(out.ChecksumCRC32, out.ChecksumSHA256); got != "" && got != sum {
		return partResult{}, fmt.Errorf("upload part %d: S3 reports %s %s, sent %s: %w", c.num, alg, got, sum, errChecksum)
	}
	r.part = alg.completed(c.num, out.ETag, sum)
	return r, nil
}
