package s3store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/store"
)

// inventoryConcurrency bounds the HeadObject requests one Inventory has in
// flight.
const inventoryConcurrency = 16

// describeBatch is how many listed objects Inventory describes before it
// hands them to its callback.
const describeBatch = 4 * inventoryConcurrency

// Inventory lists the objects under PREFIX/grsync/ with ListObjectsV2 and
// reads each one's description with HeadObject (16 at a time, 64 before fn
// sees them; metadata is readable even for archived objects). It returns the time the
// listing started. Objects without a valid description are not grsync
// archives and are skipped with a warning. An error returned by fn is
// returned unchanged.
func (s *Store) Inventory(ctx context.Context, r store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	const op = "inventory"
	if err := s.Begin(ctx); err != nil {
		return time.Time{}, s.Fail(op, err)
	}
	if r.Kind != store.KindInventory || r.ArchiveID != "" {
		return time.Time{}, s.Fail(op, store.Permanent(errors.New("not an inventory retrieval")))
	}
	if r.JobID != "" {
		return time.Time{}, s.Fail(op, fmt.Errorf("inventory job %q: %w", r.JobID, store.ErrNotFound))
	}
	taken := time.Now().UTC()
	dir := s.cfg.Prefix + archivesDir
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(dir)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return time.Time{}, s.Fail(op, s.classify(ctx, err))
		}
		var listed []store.Archive
		for _, o := range page.Contents {
			id, ok := strings.CutPrefix(aws.ToString(o.Key), dir)
			if !ok || !validID(id) {
				continue
			}
			listed = append(listed, store.Archive{ID: id, Size: aws.ToInt64(o.Size), Created: timeOrNow(o.LastModified)})
		}
		// Described a batch at a time, so that a caller that stops early
		// (an error from fn) has not paid for a whole page of HeadObjects.
		for len(listed) > 0 {
			batch := listed[:min(len(listed), describeBatch)]
			listed = listed[len(batch):]
			keep, err := s.describe(ctx, batch)
			if err != nil {
				return time.Time{}, s.Fail(op, err)
			}
			for i, a := range batch {
				if !keep[i] {
					continue
				}
				if err := fn(a); err != nil {
					return time.Time{}, err
				}
			}
		}
	}
	return taken, nil
}

// describe fills in the descriptions of batch with parallel HeadObjects and
// reports which entries are grsync archives still present.
func (s *Store) describe(ctx context.Context, batch []store.Archive) ([]bool, error) {
	keep := make([]bool, len(batch))
	errs := make([]error, len(batch))
	sem := make(chan struct{}, inventoryConcurrency)
	var wg sync.WaitGroup
	for i := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			st, err := s.head(ctx, batch[i].ID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// deleted while we were listing
			case err != nil:
				errs[i] = err
			case !st.hasDesc:
				s.cfg.Logger.Warn("s3 store: object without a grsync description skipped", "location", s.Location(), "key", s.objectKey(batch[i].ID))
			default:
				batch[i].Description, batch[i].Lock, keep[i] = st.description, st.lock, true
			}
		})
	}
	wg.Wait()
	return keep, errors.Join(errs...)
}

// Delete removes archive id's object for good. An unknown id is
// store.ErrNotFound: S3's DeleteObject succeeds for missing keys, so
// HeadObject asks first; it also says the object's lock and version. An
// object whose Object Lock holds is store.ErrLocked, and nothing is sent.
// In a versioned bucket (every bucket with Object Lock) the version is
// deleted (DeleteObject with its VersionId, which needs
// s3:DeleteObjectVersion): a DeleteObject without one would only add a
// delete marker, hiding the object while its bytes stay billed. A refusal
// is store.ErrAccessDenied (an append-only policy) or store.ErrLocked.
func (s *Store) Delete(ctx context.Context, id string) error {
	const op = "delete"
	if err := s.Begin(ctx); err != nil {
		return s.Fail(op, err)
	}
	st, err := s.head(ctx, id)
	if err != nil {
		return s.Fail(op, err)
	}
	if st.lock.Holds(time.Now()) {
		return s.Fail(op, store.Permanent(fmt.Errorf("archive %s is under S3 Object Lock (%s) and cannot be deleted before then: %w", id, st.lock, store.ErrLocked)))
	}
	in := &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(id))}
	if st.versionID != "" {
		in.VersionId = aws.String(st.versionID)
	}
	if _, err := s.client.DeleteObject(ctx, in); err != nil {
		return s.Fail(op, fmt.Errorf("archive %s: %w", id, s.deleteError(ctx, err, st.lock)))
	}
	return nil
}
