package s3store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
)

// uploadSidecar is the JSON body of PREFIX/grsync-uploads/<id>: what S3
// cannot tell about a multipart upload until it is complete. Description is
// encoded as in the object's metadata.
type uploadSidecar struct {
	Description string `json:"description"`
	PartSize    int64  `json:"part_size"`
	// Checksum is the upload's checksum algorithm (checksumAlg); sidecars
	// without it are of SHA-256 uploads.
	Checksum string `json:"checksum,omitempty"`
}

// maxSidecar bounds how much of a sidecar is read.
const maxSidecar = 64 << 10

// startMultipart records, then creates, the multipart upload of archive
// id, locked until until (zero: no lock) once complete, and returns the
// S3 upload id. The sidecar (its description and part size, which S3's
// listing of uploads does not give) is written first: an upload that exists
// always has one, so a process killed at any moment never leaves an upload
// nobody can tell the owner of. Every part then goes with its SHA-256
// checksum, which S3 requires (or a Content-MD5) of uploads to a locked
// object.
func (s *Store) startMultipart(ctx context.Context, id, description string, partSize int64, alg checksumAlg, until time.Time) (string, error) {
	body, err := json.Marshal(uploadSidecar{Description: descriptionMetadata(description)[descMetaKey], PartSize: partSize, Checksum: string(alg)})
	if err == nil {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.cfg.Bucket),
			Key:           aws.String(s.uploadKey(id)),
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
			ContentType:   aws.String("application/json"),
			StorageClass:  types.StorageClassStandard,
			IfNoneMatch:   aws.String("*"), // 412: an earlier attempt wrote it
		})
		if errPreconditionFailed(err) && ctx.Err() == nil {
			err = nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("record multipart upload: %w", s.classify(ctx, err))
	}
	mode, retain := s.lockFields(until)
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:                    aws.String(s.cfg.Bucket),
		Key:                       aws.String(s.objectKey(id)),
		StorageClass:              types.StorageClass(s.classFor(ctx)),
		Metadata:                  descriptionMetadata(description),
		ChecksumAlgorithm:         alg.sdk(),
		ObjectLockMode:            mode,
		ObjectLockRetainUntilDate: retain,
	})
	if err != nil {
		s.removeUploadSidecar(ctx, id)
		return "", fmt.Errorf("start multipart upload: %w", s.classify(ctx, err))
	}
	uploadID := aws.ToString(out.UploadId)
	if uploadID == "" {
		s.removeUploadSidecar(ctx, id)
		return "", errors.New("start multipart upload: S3 returned no upload id")
	}
	return uploadID, nil
}

// abortQuietly aborts a failed upload and removes its sidecar, with a
// fresh short context so that a cancelled Put still cleans up. Failures
// are logged: ListUploads shows what is left.
func (s *Store) abortQuietly(ctx context.Context, id, uploadID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.cfg.Bucket),
		Key:      aws.String(s.objectKey(id)),
		UploadId: aws.String(uploadID),
	})
	if err != nil && !isNotFound(err) {
		s.cfg.Logger.Warn("s3 store: could not abort a failed upload; it is still billed until aborted",
			"location", s.Location(), "upload", uploadHandle(id, uploadID), "err", err)
	}
	s.removeUploadSidecar(ctx, id)
}

// removeUploadSidecar deletes the sidecar of archive id's upload (its
// version, in a versioned bucket). Sidecars are written without a lock.
// Append-only credentials may not delete it: it stays (about 100 bytes),
// which is expected and only logged at debug level.
func (s *Store) removeUploadSidecar(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	err := s.removeKey(ctx, s.uploadKey(id), "")
	if code, status := apiError(err); code == "AccessDenied" || status == 403 {
		s.cfg.Logger.Debug("s3 store: may not remove an upload's sidecar (append-only credentials); it stays", "location", s.Location(), "key", s.uploadKey(id))
		return
	}
	if err != nil {
		s.cfg.Logger.Warn("s3 store: could not remove an upload's sidecar", "location", s.Location(), "key", s.uploadKey(id), "err", err)
	}
}

// uploadHandle is the store.Upload id of S3 upload uploadID of archive id.
func uploadHandle(id, uploadID string) string { return id + ":" + uploadID }

// ListUploads lists the unfinished multipart uploads under the prefix,
// oldest first, with the description and part size from their sidecars.
// It also removes the sidecars whose upload is gone (completed or aborted
// by a process killed before it removed the sidecar), so that none
// outlives its upload.
func (s *Store) ListUploads(ctx context.Context) ([]store.Upload, error) {
	const op = "list uploads"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	// Sidecars are listed before uploads. A sidecar is written just before
	// its upload is created, so one listed here whose upload the listing
	// below lacks belongs to an upload that has ended, or was never created
	// (a run killed in between). One catalogue writes to a prefix at a
	// time (the store marker ties a store to its key; two machines backing
	// up to one prefix at the same moment are not supported), so no other
	// run is between the two steps now.
	sidecars, serr := s.sidecarIDs(ctx)
	live := map[string]bool{}
	var out []store.Upload
	pages := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(s.cfg.Prefix + archivesDir),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.Fail(op, s.classify(ctx, err))
		}
		for _, u := range page.Uploads {
			id, ok := strings.CutPrefix(aws.ToString(u.Key), s.cfg.Prefix+archivesDir)
			if !ok || !validID(id) || aws.ToString(u.UploadId) == "" {
				continue
			}
			live[id] = true
			up := store.Upload{ID: uploadHandle(id, aws.ToString(u.UploadId)), Created: aws.ToTime(u.Initiated).UTC()}
			sc, err := s.readSidecar(ctx, id)
			switch {
			case err == nil:
				up.Description, up.PartSize = sc.Description, sc.PartSize
			case ctx.Err() != nil:
				return nil, s.Fail(op, ctx.Err())
			default:
				s.cfg.Logger.Debug("s3 store: upload without a readable sidecar", "location", s.Location(), "upload", up.ID, "err", err)
			}
			out = append(out, up)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	if serr != nil {
		s.cfg.Logger.Debug("s3 store: cannot list upload sidecars", "location", s.Location(), "err", serr)
	}
	for _, id := range sidecars {
		if !live[id] {
			s.removeUploadSidecar(ctx, id)
		}
	}
	return out, nil
}

// sidecarIDs lists the archive ids that have an upload sidecar.
func (s *Store) sidecarIDs(ctx context.Context) ([]string, error) {
	var ids []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(s.cfg.Prefix + uploadsDir),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return ids, s.classify(ctx, err)
		}
		for _, o := range page.Contents {
			if id, ok := strings.CutPrefix(aws.ToString(o.Key), s.cfg.Prefix+uploadsDir); ok && validID(id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// readSidecar reads and checks the sidecar of archive id's upload. A
// sidecar that holds no valid record is errBadSidecar.
func (s *Store) readSidecar(ctx context.Context, id string) (uploadSidecar, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.uploadKey(id))})
	if err != nil {
		return uploadSidecar{}, err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxSidecar))
	if err != nil {
		return uploadSidecar{}, err
	}
	var sc uploadSidecar
	if err := json.Unmarshal(data, &sc); err != nil {
		return uploadSidecar{}, fmt.Errorf("%w: %w", errBadSidecar, err)
	}
	if sc.Description, err = descriptionFrom(map[string]string{descMetaKey: sc.Description}); err != nil {
		return uploadSidecar{}, fmt.Errorf("%w: %w", errBadSidecar, err)
	}
	if _, ok := algOf(sc.Checksum); !ok {
		return uploadSidecar{}, fmt.Errorf("%w: unknown checksum algorithm %q", errBadSidecar, sc.Checksum)
	}
	return sc, nil
}

// errBadSidecar is wrapped when an upload's sidecar holds no valid record.
var errBadSidecar = errors.New("invalid upload sidecar")

// AbortUpload aborts an unfinished upload (an id from ListUploads) and
// removes its sidecar.
func (s *Store) AbortUpload(ctx context.Context, id string) error {
	const op = "abort upload"
	if err := s.Begin(ctx); err != nil {
		return s.Fail(op, err)
	}
	archiveID, uploadID, ok := strings.Cut(id, ":")
	if !ok || !validID(archiveID) || uploadID == "" {
		return s.Fail(op, fmt.Errorf("upload %q: %w", id, store.ErrNotFound))
	}
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.cfg.Bucket),
		Key:      aws.String(s.objectKey(archiveID)),
		UploadId: aws.String(uploadID),
	})
	if isNotFound(err) {
		// Gone already (completed, or aborted by someone else): its
		// sidecar must not outlive it.
		s.removeUploadSidecar(ctx, archiveID)
		return s.Fail(op, fmt.Errorf("upload %s: %w", id, store.ErrNotFound))
	}
	if err != nil {
		return s.Fail(op, s.classify(ctx, err))
	}
	s.removeUploadSidecar(ctx, archiveID)
	return nil
}

// timeOrNow returns *t in UTC, or now when t is nil.
func timeOrNow(t *time.Time) time.Time {
	if t == nil {
		return time.Now().UTC()
	}
	return t.UTC()
}
