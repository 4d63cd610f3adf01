package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

var _ store.Resumer = (*Store)(nil)

// listPartsLimit is the most parts ListParts returns per page; Glacier
// allows 1,000 (and returns 50 without a limit).
const listPartsLimit = 1000

// heldPart is a part of a continued upload that the vault holds, as
// ListParts reports it.
type heldPart struct {
	size int64
	hash treehash.Digest
}

// check compares the part read from the body again (whose tree hash is
// sum) with what the vault holds at its place.
func (h heldPart) check(p partBuf, sum treehash.Digest) error {
	if int64(len(p.buf)) != h.size || sum != h.hash {
		return fmt.Errorf("the vault holds %d bytes with tree hash %s at byte %d, the body has %d bytes with tree hash %s there",
			h.size, h.hash, p.off, len(p.buf), sum)
	}
	return nil
}

// resume continues the multipart upload ref names with the parts of body
// that the vault does not hold yet, and completes it.
func (s *Store) resume(ctx context.Context, body io.Reader, desc string, ref store.UploadRef, skipped func(int64)) (store.Archive, error) {
	held, err := s.heldParts(ctx, ref, desc)
	if err != nil {
		return store.Archive{}, fmt.Errorf("multipart upload %s: %w", ref.ID, err)
	}
	h, err := store.NewHeldParts[heldPart, partBuf](held, s.cfg.Concurrency)
	if err != nil {
		return store.Archive{}, fmt.Errorf("multipart upload %s: %w", ref.ID, err)
	}
	s.log.Debug("continuing multipart upload", "store", s.Location(), "upload", ref.ID, "held_parts", len(held))
	u := &upload{s: s, id: ref.ID, partSize: int(ref.PartSize), resumable: true, held: h, skipped: skipped}
	a, err := u.run(ctx, body, desc, nil, false)
	return u.settle(ctx, a, err)
}

// heldParts lists the parts the vault holds of upload ref (following the
// pagination), by index. An upload the vault does not know (never made,
// aborted, or expired after 24 hours without a part), one made with
// another part size or description, and parts the vault could not have
// taken from this store are store.ErrCannotResume.
func (s *Store) heldParts(ctx context.Context, ref store.UploadRef, desc string) (map[int]heldPart, error) {
	if ref.ID == "" {
		return nil, store.CannotResume("no upload id: %w", store.ErrNotFound)
	}
	if ref.PartSize <= 0 || ref.PartSize > MaxPartSize {
		return nil, store.CannotResume("part size %d is out of range", ref.PartSize)
	}
	held := make(map[int]heldPart)
	pages := glacier.NewListPartsPaginator(s.client, &glacier.ListPartsInput{
		AccountId: s.account(), VaultName: s.vault(), UploadId: aws.String(ref.ID),
		Limit: aws.Int32(listPartsLimit),
	})
	for first := true; pages.HasMorePages(); first = false {
		page, err := pages.NextPage(ctx)
		if err != nil {
			err = withCtx(ctx, classify(err))
			if errors.Is(err, store.ErrNotFound) {
				return nil, store.CannotResume("list parts: %w", err)
			}
			return nil, fmt.Errorf("list parts: %w", err)
		}
		if first {
			if page.PartSizeInBytes != ref.PartSize {
				return nil, store.CannotResume("it was made with parts of %d bytes, not %d", page.PartSizeInBytes, ref.PartSize)
			}
			if got := deref(page.ArchiveDescription); got != desc {
				return nil, store.CannotResume("it was made for the description %.60q, not %.60q", got, desc)
			}
		}
		for _, p := range page.Parts {
			index, part, err := parsePart(deref(p.RangeInBytes), deref(p.SHA256TreeHash), ref.PartSize)
			if err == nil && index >= s.maxParts {
				err = fmt.Errorf("part %d is beyond the limit of %d parts", index, s.maxParts)
			}
			if err != nil {
				return nil, store.CannotResume("%w", err)
			}
			held[index] = part
		}
	}
	return held, nil
}

// parsePart reads a part's "first-last" byte range and tree hash as
// ListParts reports them, and returns its index.
func parsePart(rng, hash string, partSize int64) (int, heldPart, error) {
	a, b, ok := strings.Cut(rng, "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || first < 0 || last < first || first%partSize != 0 || last-first >= partSize {
		return 0, heldPart{}, fmt.Errorf("the vault lists a part with range %q, which is not one of parts of %d bytes", rng, partSize)
	}
	sum, err := treehash.ParseHex(hash)
	if err != nil {
		return 0, heldPart{}, fmt.Errorf("the vault lists the part at byte %d with tree hash %q: %w", first, hash, err)
	}
	return int(first / partSize), heldPart{size: last - first + 1, hash: sum}, nil
}
