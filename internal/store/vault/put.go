package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
	"github.com/aws/smithy-go/middleware"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// cleanupTimeout bounds the requests that clean up after a failed Put (an
// abort, a delete). They run on a fresh context, so that a cancelled Put
// still cleans up.
const cleanupTimeout = time.Minute

// errBadDescription is returned (marked permanent) for descriptions that
// store.ValidDescription rejects.
var errBadDescription = fmt.Errorf("invalid description: it must be printable ASCII (0x20..0x7e) of at most %d bytes", store.MaxDescription)

// errSpaceDescription is returned (marked permanent) for descriptions that
// begin or end with a space: Glacier takes the description from an HTTP
// header, whose leading and trailing spaces never reach the service, so the
// archive would be listed with another description than the one given.
var errSpaceDescription = errors.New("invalid description: Glacier cannot store a description that begins or ends with a space")

// Put stores body as a new archive. It reads the first part (PartSize,
// raised as the size hint requires) into memory: a body that ends within
// it is sent with a single UploadArchive, a longer one as a multipart
// upload with Concurrency parts in flight. A Put holds at most
// PartSize × (Concurrency + 1) bytes of the body. A failed or cancelled
// Put aborts its multipart upload.
func (s *Store) Put(ctx context.Context, body io.Reader, description string) (store.Archive, error) {
	const op = "put"
	if err := s.beginPut(ctx, description); err != nil {
		return store.Archive{}, s.Fail(op, err)
	}
	partSize := choosePartSize(s.cfg.PartSize, store.SizeHint(ctx), s.maxParts)
	a, err := s.put(ctx, body, description, int(partSize), nil)
	if err != nil {
		return store.Archive{}, s.Fail(op, err)
	}
	return a, nil
}

// PutResumable is Put for uploads a later run can continue (see
// store.Resumer). A new upload goes as with Put; a multipart one is handed
// to opt.Started once the vault has given it an id, and is left in the
// vault when it fails for a reason a later run may not meet (a body error,
// a transient failure, cancellation). With opt.Resume set, it continues
// that upload: ListParts says which parts the vault holds; each is read
// from body again and its tree hash compared with the vault's instead of
// being sent.
func (s *Store) PutResumable(ctx context.Context, body io.Reader, description string, opt store.ResumeOptions) (store.Archive, error) {
	return s.PutResumableWith(opt,
		func() error { return s.beginPut(ctx, description) },
		func() (store.Archive, error) {
			partSize := choosePartSize(s.cfg.PartSize, store.SizeHint(ctx), s.maxParts)
			return s.put(ctx, body, description, int(partSize), &opt)
		},
		func(ref store.UploadRef) (store.Archive, error) {
			return s.resume(ctx, body, description, ref, opt.Skipped)
		})
}

// beginPut checks that a Put may start with description.
func (s *Store) beginPut(ctx context.Context, description string) error {
	if err := s.BeginPut(ctx, description, errBadDescription); err != nil {
		return err
	}
	if strings.HasPrefix(description, " ") || strings.HasSuffix(description, " ") {
		return store.Permanent(errSpaceDescription)
	}
	return nil
}

// put reads up to two parts ahead to choose between a single and a
// multipart upload: a body of exactly one part still goes in one request.
// opt is set for a resumable upload (see uploadMultipart).
func (s *Store) put(ctx context.Context, body io.Reader, desc string, partSize int, opt *store.ResumeOptions) (store.Archive, error) {
	first := s.bufs.get(partSize)
	n, eof, err := readPart(ctx, body, first, 0)
	if err != nil {
		s.bufs.put(first)
		return store.Archive{}, err
	}
	if eof {
		defer s.bufs.put(first)
		return s.uploadSingle(ctx, first[:n], desc)
	}
	second := s.bufs.get(partSize)
	m, eof, err := readPart(ctx, body, second, int64(n))
	if err != nil {
		s.bufs.put(first)
		s.bufs.put(second)
		return store.Archive{}, err
	}
	if m == 0 {
		s.bufs.put(second)
		defer s.bufs.put(first)
		return s.uploadSingle(ctx, first[:n], desc)
	}
	return s.uploadMultipart(ctx, body, desc, partSize, [][]byte{first[:n], second[:m]}, eof, opt)
}

// maxEmptyReads is how many reads returning nothing and no error a body
// may make in a row before Put gives up on it.
const maxEmptyReads = 100

// readPart fills buf from body, checking ctx before every read. It reports
// how many bytes it read and whether the body ended. Read errors are
// store.BodyErrors that say how far into the body (done bytes before buf)
// they happened.
func readPart(ctx context.Context, body io.Reader, buf []byte, done int64) (n int, eof bool, err error) {
	empty := 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		m, rerr := body.Read(buf[n:])
		n += m
		switch {
		case rerr == io.EOF:
			return n, true, nil
		case rerr != nil:
			return n, false, &store.BodyError{Err: fmt.Errorf("read body after %d bytes: %w", done+int64(n), rerr)}
		case m == 0:
			if empty++; empty >= maxEmptyReads {
				return n, false, &store.BodyError{Err: fmt.Errorf("read body after %d bytes: %w", done+int64(n), io.ErrNoProgress)}
			}
		default:
			empty = 0
		}
	}
	return n, false, ctx.Err()
}

// uploadSingle sends data as one archive in one request.
func (s *Store) uploadSingle(ctx context.Context, data []byte, desc string) (store.Archive, error) {
	sum := treehash.Sum(data).String()
	out, err := s.client.UploadArchive(ctx, &glacier.UploadArchiveInput{
		AccountId:          s.account(),
		VaultName:          s.vault(),
		ArchiveDescription: optional(desc),
		Body:               bytes.NewReader(data),
		// Always set, also for an empty body, so that the SDK need not
		// hash the body again (and cannot get an empty one wrong).
		Checksum: &sum,
	})
	if err != nil {
		return store.Archive{}, fmt.Errorf("upload archive of %d bytes: %w", len(data), withCtx(ctx, classify(err)))
	}
	return s.finish(ctx, out.ArchiveId, out.Checksum, sum, int64(len(data)), desc, out.ResultMetadata)
}

// finish checks what the service answered to an upload and describes the
// new archive. If the service's tree hash differs from ours, the archive
// holds something else than was read from the body: it is deleted again.
func (s *Store) finish(ctx context.Context, id, checksum *string, sum string, size int64, desc string, md middleware.Metadata) (store.Archive, error) {
	if id == nil || *id == "" {
		return store.Archive{}, errors.New("the service returned no archive id")
	}
	if checksum != nil && !strings.EqualFold(*checksum, sum) {
		err := store.Permanent(fmt.Errorf("archive %s: the service computed tree hash %s, but the body's is %s", *id, *checksum, sum))
		if derr := s.discard(ctx, *id); derr != nil {
			return store.Archive{}, errors.Join(err, derr)
		}
		return store.Archive{}, fmt.Errorf("%w (the archive was deleted again)", err)
	}
	return store.Archive{
		ID:          *id,
		Description: desc,
		Size:        size,
		Created:     responseTime(md),
		TreeHash:    sum,
	}, nil
}

// discard deletes an archive a failed Put created, on a fresh context.
func (s *Store) discard(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := s.client.DeleteArchive(ctx, &glacier.DeleteArchiveInput{
		AccountId: s.account(), VaultName: s.vault(), ArchiveId: &id,
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting archive %s again failed, delete it yourself: %w", id, err)
	}
	return nil
}

// responseTime returns the Date of the response behind md (the service's
// clock, which also dates the archive), or now.
func responseTime(md middleware.Metadata) time.Time {
	if t, ok := awsmiddleware.GetServerTime(md); ok && !t.IsZero() {
		return t.UTC()
	}
	return time.Now().UTC()
}

// optional returns nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// withCtx makes sure an error that happened because ctx ended wraps ctx's
// error, whatever the SDK made of it.
func withCtx(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}
