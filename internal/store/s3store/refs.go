package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
)

// refsDir holds one small object per ref: PREFIX grsync-refs/<name>, its
// body the value, always in the STANDARD class so it is read at once.
const refsDir = "grsync-refs/"

func (s *Store) refKey(name string) string { return s.cfg.Prefix + refsDir + name }

// refNames lists the ref objects' names (ListObjectsV2); keys that are not
// valid ref names are not refs.
func (s *Store) refNames(ctx context.Context) ([]string, error) {
	dir := s.cfg.Prefix + refsDir
	var names []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(dir)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.classify(ctx, err)
		}
		for _, o := range page.Contents {
			if name, ok := strings.CutPrefix(aws.ToString(o.Key), dir); ok && store.ValidRefName(name) {
				names = append(names, name)
			}
		}
	}
	return names, nil
}

// Refs lists PREFIX grsync-refs/ and reads each ref object (at most
// store.MaxRefs GETs). A ref deleted while it is being read is left out.
func (s *Store) Refs(ctx context.Context) (map[string]string, error) {
	const op = "refs"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	names, err := s.refNames(ctx)
	if err != nil {
		return nil, s.Fail(op, err)
	}
	refs := make(map[string]string, len(names))
	for _, name := range names {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.refKey(name))})
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, s.Fail(op, fmt.Errorf("ref %s: %w", name, s.classify(ctx, err)))
		}
		data, err := io.ReadAll(io.LimitReader(out.Body, store.MaxRefValue+1))
		out.Body.Close()
		if err != nil {
			return nil, s.Fail(op, fmt.Errorf("ref %s: %w", name, s.classify(ctx, err)))
		}
		if !store.ValidRefValue(string(data)) {
			return nil, s.Fail(op, store.Permanent(fmt.Errorf("ref %s: the object %s does not hold a valid ref value", name, s.refKey(name))))
		}
		refs[name] = string(data)
	}
	return refs, nil
}

// SetRef writes the object PREFIX grsync-refs/<name> (one PutObject,
// STANDARD class, with the target's Object Lock if it has one; S3
// replaces an object atomically).
func (s *Store) SetRef(ctx context.Context, name, value string) error {
	const op = "set ref"
	if err := s.BeginRef(ctx, name, &value); err != nil {
		return s.Fail(op, err)
	}
	names, err := s.refNames(ctx)
	if err != nil {
		return s.Fail(op, err)
	}
	if err := store.RoomForRef(len(names), slices.Contains(names, name), name); err != nil {
		return s.Fail(op, err)
	}
	// On a locked target a ref is locked like an archive: each write is a
	// version of its own, kept for the lock's days whatever a stolen key
	// does to the current one (the marker and the catalogue pointers).
	mode, retain := s.lockFields(s.newLockUntil())
	sum := sha256.Sum256([]byte(value))
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(s.cfg.Bucket),
		Key:                       aws.String(s.refKey(name)),
		Body:                      bytes.NewReader([]byte(value)),
		ContentLength:             aws.Int64(int64(len(value))),
		ContentType:               aws.String("text/plain"),
		StorageClass:              types.StorageClassStandard,
		ChecksumAlgorithm:         types.ChecksumAlgorithmSha256,
		ChecksumSHA256:            aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		ObjectLockMode:            mode,
		ObjectLockRetainUntilDate: retain,
	})
	if err != nil {
		return s.Fail(op, fmt.Errorf("ref %s: %w", name, s.classify(ctx, err)))
	}
	return nil
}

// DeleteRef removes the ref's object. S3's DeleteObject succeeds for
// missing keys, so HeadObject asks first.
func (s *Store) DeleteRef(ctx context.Context, name string) error {
	const op = "delete ref"
	if err := s.BeginRef(ctx, name, nil); err != nil {
		return s.Fail(op, err)
	}
	key := aws.String(s.refKey(name))
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: key}); err != nil {
		if isNotFound(err) {
			return s.Fail(op, fmt.Errorf("ref %s: %w", name, store.ErrNotFound))
		}
		return s.Fail(op, fmt.Errorf("ref %s: %w", name, s.classify(ctx, err)))
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: key}); err != nil {
		return s.Fail(op, fmt.Errorf("ref %s: %w", name, s.classify(ctx, err)))
	}
	return nil
}
