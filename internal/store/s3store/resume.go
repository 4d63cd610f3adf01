package s3store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/store"
)

var _ store.Resumer = (*Store)(nil)

// heldPart is a part of a continued upload that S3 holds, as ListParts
// reports it: its checksums (base64; S3 gives the one of the upload's
// algorithm) and md5, the part's plain MD5 (hex) when its ETag is one, as
// S3 gives it without SSE-KMS or SSE-C. Only parts that can be compared
// one way or the other are kept (comparable).
type heldPart struct {
	size     int64
	etag     string // as S3 gave it, for the completion
	crc, sha string
	md5      string
}

// checksum is the part's checksum of algorithm alg, "" if S3 gave none.
func (h heldPart) checksum(alg checksumAlg) string {
	if alg == algSHA256 {
		return h.sha
	}
	return h.crc
}

// check compares chunk c, read from the body again, with the part S3 holds
// in its place, in an upload made with checksum algorithm alg, and returns
// what the part contributes to the completion.
func (h heldPart) check(alg checksumAlg, c chunk) (partResult, error) {
	digest := alg.digest(c.data)
	sum := encode(digest)
	switch held := h.checksum(alg); {
	case int64(len(c.data)) != h.size:
		return partResult{}, fmt.Errorf("S3 holds %d bytes, the body has %d", h.size, len(c.data))
	case held != "" && held != sum:
		return partResult{}, fmt.Errorf("S3 holds %s %s, the body's is %s", alg, held, sum)
	case held == "":
		if m := md5.Sum(c.data); hex.EncodeToString(m[:]) != h.md5 {
			return partResult{}, fmt.Errorf("S3 holds MD5 %s, the body's is %x", h.md5, m)
		}
	}
	return partResult{part: alg.completed(c.num, aws.String(h.etag), sum), digest: digest}, nil
}

// resume continues the multipart upload ref names with the parts of body
// that S3 does not hold (or cannot vouch for) yet, and completes it.
func (s *Store) resume(ctx context.Context, body io.Reader, description string, ref store.UploadRef, skipped func(int64)) (store.Archive, error) {
	id, uploadID, ok := strings.Cut(ref.ID, ":")
	if !ok || !validID(id) || uploadID == "" {
		return store.Archive{}, store.CannotResume("upload %q: %w", ref.ID, store.ErrNotFound)
	}
	held, err := s.heldParts(ctx, id, uploadID)
	var alg checksumAlg
	if err == nil {
		alg, err = s.checkSidecar(ctx, id, description, ref.PartSize)
	}
	if err == nil {
		held = s.comparable(id, uploadID, held, alg)
	}
	if err != nil {
		return store.Archive{}, fmt.Errorf("upload %s: %w", ref.ID, err)
	}
	h, err := store.NewHeldParts[heldPart, chunk](held, s.cfg.Concurrency)
	if err != nil {
		return store.Archive{}, fmt.Errorf("upload %s: %w", ref.ID, err)
	}
	s.cfg.Logger.Debug("s3 store: continuing multipart upload", "location", s.Location(), "upload", ref.ID, "held_parts", len(held))
	// The lock was asked for when the upload was created, by an earlier
	// run; the object must still end up locked for the full duration from
	// now (verify extends the lock if needed).
	m := &multipart{s: s, id: id, uploadID: uploadID, partSize: ref.PartSize, alg: alg, resumable: true, held: h, skipped: skipped, until: s.newLockUntil()}
	return m.run(ctx, description, newBufPool(s.cfg.Concurrency+1), s.newBodyReader(ctx, body), nil, false)
}

// heldParts lists the parts S3 holds of an upload (following the
// pagination), by index from 0. An upload S3 does not know is
// store.ErrCannotResume.
func (s *Store) heldParts(ctx context.Context, id, uploadID string) (map[int]heldPart, error) {
	held := make(map[int]heldPart)
	pages := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{
		Bucket:   aws.String(s.cfg.Bucket),
		Key:      aws.String(s.objectKey(id)),
		UploadId: aws.String(uploadID),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if isNotFound(err) {
			return nil, store.CannotResume("list parts: %w: %w", store.ErrNotFound, err)
		}
		if err != nil {
			return nil, fmt.Errorf("list parts: %w", s.classify(ctx, err))
		}
		for _, p := range page.Parts {
			num := aws.ToInt32(p.PartNumber)
			if num < 1 || num > MaxParts {
				return nil, store.CannotResume("S3 lists part number %d", num)
			}
			etag := aws.ToString(p.ETag)
			held[int(num)-1] = heldPart{size: aws.ToInt64(p.Size), etag: etag, md5: plainMD5(etag),
				crc: aws.ToString(p.ChecksumCRC32), sha: aws.ToString(p.ChecksumSHA256)}
		}
	}
	return held, nil
}

// comparable keeps the held parts of an upload made with checksum
// algorithm alg that can be compared: by their checksum of alg, else by
// an ETag that is a plain MD5. The others are sent again.
func (s *Store) comparable(id, uploadID string, held map[int]heldPart, alg checksumAlg) map[int]heldPart {
	for i, h := range held {
		if h.checksum(alg) == "" && h.md5 == "" {
			s.cfg.Logger.Debug("s3 store: a held part has no checksum to compare; it is sent again",
				"location", s.Location(), "upload", uploadHandle(id, uploadID), "part", i+1, "etag", h.etag)
			delete(held, i)
		}
	}
	return held
}

// plainMD5 returns the MD5 an ETag holds (32 hex digits, quoted or not), in
// lower case, or "" if it is something else (SSE-KMS and SSE-C ETags are).
func plainMD5(etag string) string {
	e := strings.ToLower(strings.Trim(etag, `"`))
	if len(e) != 2*md5.Size {
		return ""
	}
	if _, err := hex.DecodeString(e); err != nil {
		return ""
	}
	return e
}

// checkSidecar checks that archive id's upload was made for description
// with parts of partSize bytes, as its sidecar records, and returns the
// upload's checksum algorithm. A missing or invalid sidecar is
// store.ErrCannotResume.
func (s *Store) checkSidecar(ctx context.Context, id, description string, partSize int64) (checksumAlg, error) {
	sc, err := s.readSidecar(ctx, id)
	switch {
	case err == nil:
	case isNotFound(err):
		return "", store.CannotResume("its sidecar %s is missing", s.uploadKey(id))
	case errors.Is(err, errBadSidecar):
		return "", store.CannotResume("its sidecar %s: %w", s.uploadKey(id), err)
	default:
		return "", fmt.Errorf("read sidecar %s: %w", s.uploadKey(id), s.classify(ctx, err))
	}
	switch {
	case sc.PartSize != partSize || partSize <= 0 || partSize > MaxPartSize:
		return "", store.CannotResume("it was made with parts of %d bytes, not %d", sc.PartSize, partSize)
	case sc.Description != description:
		return "", store.CannotResume("it was made for the description %.60q, not %.60q", sc.Description, description)
	}
	alg, _ := algOf(sc.Checksum) // readSidecar checked it
	return alg, nil
}
