package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/store"
)

// refTagPrefix starts the vault tag of every ref: ref "marker" is the tag
// "grsync-ref-marker". Other tags are the user's and are left alone (they
// count towards the vault's 50 tags, though).
const refTagPrefix = "grsync-ref-"

// notImplemented reports whether err is the answer of a service that does
// not implement the operation at all: HTTP 404 without an AWS error code
// (moto answers the vault tag operations with an HTML "Not Found" page).
// AWS itself answers a missing vault with ResourceNotFoundException, which
// is not this.
func notImplemented(err error) bool {
	return httpStatus(err) == 404 && apiCode(err) == ""
}

// refsError maps an error of a tag operation: a service without vault
// tags is store.ErrRefsUnsupported, anything else as classify says.
func refsError(ctx context.Context, op string, err error) error {
	if notImplemented(err) {
		return fmt.Errorf("%w: the service does not implement vault tags (%s answered HTTP 404 without an AWS error code): %v",
			store.ErrRefsUnsupported, op, err)
	}
	return withCtx(ctx, classify(err))
}

// tags returns the vault's refs, read from its tags.
func (s *Store) tags(ctx context.Context) (map[string]string, error) {
	out, err := s.client.ListTagsForVault(ctx, &glacier.ListTagsForVaultInput{AccountId: s.account(), VaultName: s.vault()})
	if err != nil {
		return nil, refsError(ctx, "ListTagsForVault", err)
	}
	refs := make(map[string]string)
	for k, v := range out.Tags {
		name, ok := strings.CutPrefix(k, refTagPrefix)
		if !ok || !store.ValidRefName(name) || !store.ValidRefValue(v) {
			continue
		}
		refs[name] = v
	}
	return refs, nil
}

// Refs lists the vault's tags (ListTagsForVault) and returns those named
// "grsync-ref-NAME" as refs. A service that does not implement vault tags
// gives store.ErrRefsUnsupported.
func (s *Store) Refs(ctx context.Context) (map[string]string, error) {
	const op = "refs"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	refs, err := s.tags(ctx)
	if err != nil {
		return nil, s.Fail(op, err)
	}
	return refs, nil
}

// SetRef sets the vault tag "grsync-ref-NAME" (AddTagsToVault). A vault
// that already has 50 tags, its own and refs together, refuses a new one
// (LimitExceededException, a permanent error).
func (s *Store) SetRef(ctx context.Context, name, value string) error {
	const op = "set ref"
	if err := s.BeginRef(ctx, name, &value); err != nil {
		return s.Fail(op, err)
	}
	refs, err := s.tags(ctx)
	if err != nil {
		return s.Fail(op, err)
	}
	_, has := refs[name]
	if err := store.RoomForRef(len(refs), has, name); err != nil {
		return s.Fail(op, err)
	}
	_, err = s.client.AddTagsToVault(ctx, &glacier.AddTagsToVaultInput{
		AccountId: s.account(), VaultName: s.vault(), Tags: map[string]string{refTagPrefix + name: value},
	})
	if err != nil {
		return s.Fail(op, fmt.Errorf("ref %s: %w", name, refsError(ctx, "AddTagsToVault", err)))
	}
	return nil
}

// DeleteRef removes the vault tag "grsync-ref-NAME" (RemoveTagsFromVault,
// which ignores absent keys: the tags are listed first, so that an absent
// ref is store.ErrNotFound).
func (s *Store) DeleteRef(ctx context.Context, name string) error {
	const op = "delete ref"
	if err := s.BeginRef(ctx, name, nil); err != nil {
		return s.Fail(op, err)
	}
	refs, err := s.tags(ctx)
	if err != nil {
		return s.Fail(op, err)
	}
	if _, ok := refs[name]; !ok {
		return s.Fail(op, fmt.Errorf("ref %s: %w", name, store.ErrNotFound))
	}
	_, err = s.client.RemoveTagsFromVault(ctx, &glacier.RemoveTagsFromVaultInput{
		AccountId: s.account(), VaultName: s.vault(), TagKeys: []string{refTagPrefix + name},
	})
	if err != nil {
		return s.Fail(op, fmt.Errorf("ref %s: %w", name, refsError(ctx, "RemoveTagsFromVault", err)))
	}
	return nil
}

// Empty reports whether the vault holds no archive, as DescribeVault
// counts them. Glacier updates that count with its daily inventory, so an
// archive uploaded in the last day or so may not be counted yet.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	const op = "describe"
	if err := s.Begin(ctx); err != nil {
		return false, s.Fail(op, err)
	}
	out, err := s.client.DescribeVault(ctx, &glacier.DescribeVaultInput{AccountId: s.account(), VaultName: s.vault()})
	if err != nil {
		return false, s.Fail(op, withCtx(ctx, classify(err)))
	}
	return out.NumberOfArchives == 0 && out.SizeInBytes == 0, nil
}
