package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// uploadMultipart sends the parts already read (ahead) and the rest of
// body as one multipart upload, and aborts the upload if anything fails.
// eof says whether body already ended after ahead. For a resumable upload
// (opt set) it hands the upload's ref to opt.Started before the first part,
// and leaves the upload after a failure a later run may continue.
func (s *Store) uploadMultipart(ctx context.Context, body io.Reader, desc string, partSize int, ahead [][]byte, eof bool, opt *store.ResumeOptions) (store.Archive, error) {
	init, err := s.client.InitiateMultipartUpload(ctx, &glacier.InitiateMultipartUploadInput{
		AccountId:          s.account(),
		VaultName:          s.vault(),
		ArchiveDescription: optional(desc),
		PartSize:           aws.String(strconv.Itoa(partSize)),
	})
	if err != nil || init.UploadId == nil || *init.UploadId == "" {
		for _, b := range ahead {
			s.bufs.put(b)
		}
		if err == nil {
			err = errors.New("the service returned no upload id")
		}
		return store.Archive{}, fmt.Errorf("start multipart upload: %w", withCtx(ctx, classify(err)))
	}
	id := *init.UploadId
	s.log.Debug("multipart upload started", "store", s.Location(), "upload", id, "part_size", partSize)
	u := &upload{s: s, id: id, partSize: partSize, resumable: opt != nil}
	if opt != nil && opt.Started != nil {
		if err := opt.Started(store.UploadRef{ID: id, PartSize: int64(partSize)}); err != nil {
			for _, b := range ahead {
				s.bufs.put(b)
			}
			return store.Archive{}, s.abortAfterFailure(ctx, id, fmt.Errorf("multipart upload %s started: %w", id, err))
		}
	}
	a, err := u.run(ctx, body, desc, ahead, eof)
	return u.settle(ctx, a, err)
}

// abortAfterFailure aborts the upload of a failed Put on a fresh context,
// and returns err, joined with the abort's failure if any.
func (s *Store) abortAfterFailure(ctx context.Context, id string, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, aerr := s.client.AbortMultipartUpload(ctx, &glacier.AbortMultipartUploadInput{
		AccountId: s.account(), VaultName: s.vault(), UploadId: &id,
	})
	if aerr != nil && !isNotFound(aerr) {
		s.log.Warn("could not abort a failed upload", "store", s.Location(), "upload", id, "err", aerr)
		return errors.Join(err, fmt.Errorf("aborting multipart upload %s failed; it stays billed until aborted (grsync uploads lists it): %w", id, aerr))
	}
	s.log.Debug("multipart upload aborted", "store", s.Location(), "upload", id)
	return err
}

// upload is one multipart upload in progress.
type upload struct {
	s        *Store
	id       string
	partSize int
	// resumable uploads outlive failures a later run may not meet (see
	// store.KeepUpload); a body error lets the parts in flight finish.
	resumable bool
	// held is set when continuing an upload: the parts the vault holds.
	held    *store.HeldParts[heldPart, partBuf]
	skipped func(int64) // told about each held part that compared equal

	mu     sync.Mutex
	hashes []treehash.Digest // tree hash of each part, by index
	err    error             // the first failure
	cancel context.CancelCauseFunc
}

// partBuf is one part read from the body and not sent yet.
type partBuf struct {
	index int
	off   int64
	buf   []byte
}

// settle passes on what run returned, after aborting the upload if it
// failed and is not to be left for a later run.
func (u *upload) settle(ctx context.Context, a store.Archive, err error) (store.Archive, error) {
	switch {
	case err == nil:
		return a, nil
	case u.resumable && store.KeepUpload(ctx, err):
		u.s.log.Debug("multipart upload left for a later run to continue", "store", u.s.Location(), "upload", u.id, "err", err)
		return store.Archive{}, err
	}
	return store.Archive{}, u.s.abortAfterFailure(ctx, u.id, err)
}

// setErr records the first failure and stops the other parts.
func (u *upload) setErr(err error) { u.fail(err, true) }

// fail records the first failure; stop cancels the parts in flight.
func (u *upload) fail(err error, stop bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = err
		if stop {
			u.cancel(err)
		}
	}
}

func (u *upload) firstErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// setHash records the tree hash of part index.
func (u *upload) setHash(index int, h treehash.Digest) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.hashes[index] = h
}

// run reads the body part by part and uploads up to Concurrency parts at
// once, then completes the upload. The buffers in flight plus the one
// being filled are at most Concurrency + 1. When continuing an upload,
// the parts the vault holds are compared instead of sent, and the parts
// that wait meanwhile (see store.HeldParts) are at most Concurrency.
func (u *upload) run(ctx context.Context, body io.Reader, desc string, ahead [][]byte, eof bool) (store.Archive, error) {
	s := u.s
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u.cancel = cancel

	// Parts smaller than a tree-hash leaf (tests only) are not nodes of
	// the archive's tree: hash the whole stream instead.
	var whole *treehash.Hash
	if u.partSize < treehash.LeafSize {
		whole = treehash.New()
	}
	slots := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	// send uploads p once a slot is free; it reports false (and releases
	// p's buffer) if the upload failed meanwhile.
	send := func(p partBuf) bool {
		select {
		case slots <- struct{}{}:
		case <-pctx.Done():
			s.bufs.put(p.buf)
			u.setErr(pctx.Err())
			return false
		}
		wg.Go(func() {
			defer func() { <-slots }()
			defer s.bufs.put(p.buf)
			h, err := u.sendPart(pctx, p.index, p.off, p.buf)
			if err != nil {
				u.setErr(err)
				return
			}
			u.setHash(p.index, h)
		})
		return true
	}
	var total int64
	index := 0
parts:
	for ; ; index++ {
		var buf []byte
		switch {
		case len(ahead) > 0:
			buf, ahead = ahead[0], ahead[1:]
		case eof:
			break parts
		default:
			b := s.bufs.get(u.partSize)
			n, end, err := readPart(pctx, body, b, total)
			eof = end
			if err != nil || n == 0 {
				s.bufs.put(b)
				if err != nil {
					// A resumable upload keeps the parts in flight.
					u.fail(err, !u.resumable)
				}
				break parts
			}
			buf = b[:n]
		}
		if index >= s.maxParts {
			s.bufs.put(buf)
			u.setErr(store.Permanent(fmt.Errorf("the archive needs more than %d parts of %d bytes "+
				"(the size hint was missing or too small)", s.maxParts, u.partSize)))
			break
		}
		if whole != nil {
			whole.Write(buf)
		}
		p := partBuf{index: index, off: total, buf: buf}
		total += int64(len(buf))
		u.mu.Lock()
		u.hashes = append(u.hashes, treehash.Digest{})
		u.mu.Unlock()

		var sum treehash.Digest
		ready, held, err := u.held.Next(index, p, func(h heldPart) error {
			sum = treehash.Sum(buf)
			return h.check(p, sum)
		})
		if held {
			s.bufs.put(buf)
		}
		if err != nil {
			u.setErr(err)
			break
		}
		if held {
			u.setHash(index, sum)
			if u.skipped != nil {
				u.skipped(int64(len(buf)))
			}
		}
		for i, q := range ready {
			if !send(q) {
				for _, r := range ready[i+1:] {
					s.bufs.put(r.buf)
				}
				break parts
			}
		}
	}
	wg.Wait()
	for _, b := range ahead {
		s.bufs.put(b)
	}
	waiting, endErr := u.held.End(index)
	for _, q := range waiting {
		s.bufs.put(q.buf)
	}
	if err := u.firstErr(); err != nil {
		return store.Archive{}, withCtx(ctx, err)
	}
	if endErr != nil {
		return store.Archive{}, endErr
	}

	var sum treehash.Digest
	if whole != nil {
		sum = whole.Digest()
	} else {
		var ok bool
		if sum, ok = treehash.Combine(int64(u.partSize), u.hashes); !ok {
			return store.Archive{}, fmt.Errorf("part size %d cannot combine tree hashes", u.partSize)
		}
	}
	hex := sum.String()
	out, err := s.client.CompleteMultipartUpload(ctx, &glacier.CompleteMultipartUploadInput{
		AccountId:   s.account(),
		VaultName:   s.vault(),
		UploadId:    &u.id,
		ArchiveSize: aws.String(strconv.FormatInt(total, 10)),
		Checksum:    &hex,
	})
	if err != nil {
		return store.Archive{}, fmt.Errorf("complete multipart upload of %d parts, %d bytes: %w", len(u.hashes), total, withCtx(ctx, classify(err)))
	}
	a, err := s.finish(ctx, out.ArchiveId, out.Checksum, hex, total, desc, out.ResultMetadata)
	if err == nil {
		s.log.Debug("multipart upload completed", "store", s.Location(), "archive", a.ID, "parts", len(u.hashes), "bytes", total)
	}
	return a, err
}

// sendPart uploads one part with its tree hash. On a retry the SDK
// rewinds the reader, so the very same bytes are sent again.
func (u *upload) sendPart(ctx context.Context, index int, off int64, data []byte) (treehash.Digest, error) {
	sum := treehash.Sum(data)
	hex := sum.String()
	rng := fmt.Sprintf("bytes %d-%d/*", off, off+int64(len(data))-1)
	out, err := u.s.client.UploadMultipartPart(ctx, &glacier.UploadMultipartPartInput{
		AccountId: u.s.account(),
		VaultName: u.s.vault(),
		UploadId:  &u.id,
		Range:     &rng,
		Checksum:  &hex,
		Body:      bytes.NewReader(data),
	})
	if err != nil {
		return sum, fmt.Errorf("upload part %d (%s): %w", index, rng, withCtx(ctx, classify(err)))
	}
	if out.Checksum != nil && !strings.EqualFold(*out.Checksum, hex) {
		return sum, store.Permanent(fmt.Errorf("upload part %d (%s): the service computed tree hash %s, but the part's is %s", index, rng, *out.Checksum, hex))
	}
	return sum, nil
}
