package vault

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/store"
)

// ListUploads lists the vault's unfinished multipart uploads, following
// the service's pagination.
func (s *Store) ListUploads(ctx context.Context) ([]store.Upload, error) {
	const op = "list uploads"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	var ups []store.Upload
	pages := glacier.NewListMultipartUploadsPaginator(s.client, &glacier.ListMultipartUploadsInput{
		AccountId: s.account(), VaultName: s.vault(),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.Fail(op, withCtx(ctx, classify(err)))
		}
		for _, u := range page.UploadsList {
			up := store.Upload{
				ID:          deref(u.MultipartUploadId),
				Description: deref(u.ArchiveDescription),
				PartSize:    u.PartSizeInBytes,
			}
			if t, ok := parseTime(u.CreationDate); ok {
				up.Created = t
			}
			ups = append(ups, up)
		}
	}
	return ups, nil
}

// AbortUpload abandons an unfinished multipart upload; an unknown id is
// store.ErrNotFound.
func (s *Store) AbortUpload(ctx context.Context, id string) error {
	const op = "abort upload"
	if err := s.Begin(ctx); err != nil {
		return s.Fail(op, err)
	}
	_, err := s.client.AbortMultipartUpload(ctx, &glacier.AbortMultipartUploadInput{
		AccountId: s.account(), VaultName: s.vault(), UploadId: aws.String(id),
	})
	if err != nil {
		return s.Fail(op, fmt.Errorf("upload %s: %w", id, withCtx(ctx, classify(err))))
	}
	return nil
}

// Delete deletes an archive; an unknown id is store.ErrNotFound. A
// refusal (AccessDeniedException: credentials under an append-only
// policy, or a Vault Lock or vault access policy that denies the deletion)
// is a permanent store.ErrAccessDenied, not a configuration error, so that
// callers record what could not be deleted and go on.
func (s *Store) Delete(ctx context.Context, id string) error {
	const op = "delete"
	if err := s.Begin(ctx); err != nil {
		return s.Fail(op, err)
	}
	_, err := s.client.DeleteArchive(ctx, &glacier.DeleteArchiveInput{
		AccountId: s.account(), VaultName: s.vault(), ArchiveId: aws.String(id),
	})
	if err != nil && apiCode(err) == codeAccessDenied && ctx.Err() == nil {
		return s.Fail(op, store.Permanent(fmt.Errorf("archive %s: the credentials or the vault's policies (an append-only IAM policy, a Vault Lock) do not allow deleting it: %w: %w",
			id, store.ErrAccessDenied, err)))
	}
	if err != nil {
		return s.Fail(op, fmt.Errorf("archive %s: %w", id, withCtx(ctx, classify(err))))
	}
	return nil
}
