package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

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
	digest [sha256.Size]byte
}

// putMultipart uploads the chunks already read and the rest of the body as
// a multipart upload, parts in parallel, and completes and verifies it. On
// failure it aborts the upload with a fresh short context.
func (s *Store) putMultipart(ctx context.Context, id, description string, partSize int64, pool *bufPool, src *bodyReader, first []chunk, eof bool) (_ store.Archive, err error) {
	uploadID, err := s.startMultipart(ctx, id, description, partSize)
	if err != nil {
		return store.Archive{}, err
	}
	key := s.objectKey(id)
	completed := false
	defer func() {
		switch {
		case err == nil:
		case completed:
			s.deleteQuietly(ctx, key)
		default:
			s.abortQuietly(ctx, id, uploadID)
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
	for range s.cfg.Concurrency {
		wg.Go(func() {
			for c := range jobs {
				r, err := s.uploadPart(gctx, key, uploadID, c)
				if err != nil {
					pool.put(nil)
					cancel(err)
					continue
				}
				pool.put(c.data)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	perr := s.produceParts(gctx, jobs, pool, src, partSize, first, eof)
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
	digests := make([]byte, 0, len(results)*sha256.Size)
	for i, r := range results {
		parts[i] = r.part
		digests = append(digests, r.digest[:]...)
	}
	whole := sha256.Sum256(digests)
	want := base64.StdEncoding.EncodeToString(whole[:]) + "-" + strconv.Itoa(len(parts))

	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.cfg.Bucket),
		Key:             aws.String(key),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return store.Archive{}, fmt.Errorf("complete upload of %d parts: %w", len(parts), s.classify(ctx, err))
	}
	completed = true
	if got := aws.ToString(out.ChecksumSHA256); got != "" && !sameComposite(got, want) {
		return store.Archive{}, fmt.Errorf("complete upload: S3 reports SHA-256 %s, computed %s: %w", got, want, errChecksum)
	}
	s.removeUploadSidecar(ctx, id)
	return s.verify(ctx, id, description, src, want)
}

// sameComposite compares composite checksums "BASE64-N"; a missing "-N"
// on either side is not held against it.
func sameComposite(got, want string) bool {
	g, gn, gok := strings.Cut(got, "-")
	w, wn, wok := strings.Cut(want, "-")
	return g == w && (!gok || !wok || gn == wn)
}

// produceParts sends the first chunks and then the rest of the body to
// the workers, one part-sized buffer from pool at a time.
func (s *Store) produceParts(ctx context.Context, jobs chan<- chunk, pool *bufPool, src *bodyReader, partSize int64, first []chunk, eof bool) error {
	send := func(c chunk) error {
		select {
		case jobs <- c:
			return nil
		case <-ctx.Done():
			pool.put(c.data)
			return context.Cause(ctx)
		}
	}
	num := int32(0)
	for _, c := range first {
		if err := send(c); err != nil {
			return err
		}
		num = c.num
	}
	for !eof {
		buf, err := pool.get(ctx)
		if err != nil {
			return err
		}
		buf, eof, err = src.fill(buf, partSize, false)
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
			return fmt.Errorf("the body is larger than %d parts of %d bytes; give a size hint (store.WithSizeHint) so larger parts are chosen", MaxParts, partSize)
		}
		num++
		if err := send(chunk{num, buf}); err != nil {
			return err
		}
	}
	return nil
}

// uploadPart uploads one part with its SHA-256 checksum and checks the
// checksum S3 reports back.
func (s *Store) uploadPart(ctx context.Context, key, uploadID string, c chunk) (partResult, error) {
	r := partResult{digest: sha256.Sum256(c.data)}
	sum := base64.StdEncoding.EncodeToString(r.digest[:])
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:            aws.String(s.cfg.Bucket),
		Key:               aws.String(key),
		UploadId:          aws.String(uploadID),
		PartNumber:        aws.Int32(c.num),
		Body:              bytes.NewReader(c.data),
		ContentLength:     aws.Int64(int64(len(c.data))),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(sum),
	})
	if err != nil {
		return partResult{}, fmt.Errorf("upload part %d: %w", c.num, s.classify(ctx, err))
	}
	if got := aws.ToString(out.ChecksumSHA256); got != "" && got != sum {
		return partResult{}, fmt.Errorf("upload part %d: S3 reports SHA-256 %s, sent %s: %w", c.num, got, sum, errChecksum)
	}
	r.part = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(c.num), ChecksumSHA256: aws.String(sum)}
	return r, nil
}
