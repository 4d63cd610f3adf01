package s3store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
)

// objectState is what HeadObject says about an archive's object.
type objectState struct {
	size         int64
	class        string
	needsRestore bool           // GLACIER, DEEP_ARCHIVE, or an Intelligent-Tiering archive tier
	deep         bool           // DEEP_ARCHIVE or the Deep Archive Access tier: no Expedited
	tiering      bool           // an Intelligent-Tiering archive tier: restores take no Days
	restore      *restoreStatus // the x-amz-restore header; nil if absent
	description  string
	hasDesc      bool // description holds a valid grsync description
	created      time.Time
	lock         store.Lock // its Object Lock retention, as far as the credentials may see it
	versionID    string     // the current version's id; "" in a bucket never versioned
}

// head fetches archive id's state; a missing object wraps store.ErrNotFound.
func (s *Store) head(ctx context.Context, id string) (objectState, error) {
	if !validID(id) {
		return objectState{}, fmt.Errorf("archive %q: invalid archive id: %w", id, store.ErrNotFound)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(id))})
	if isNotFound(err) {
		return objectState{}, fmt.Errorf("archive %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return objectState{}, fmt.Errorf("archive %s: %w", id, s.classify(ctx, err))
	}
	st := objectState{size: aws.ToInt64(out.ContentLength), class: string(out.StorageClass), created: timeOrNow(out.LastModified),
		lock: lockFromHead(out), versionID: aws.ToString(out.VersionId)}
	if st.class == "" {
		st.class = "STANDARD"
	}
	switch {
	case archived(st.class):
		st.needsRestore, st.deep = true, st.class == "DEEP_ARCHIVE"
	case out.ArchiveStatus != "":
		st.needsRestore, st.tiering = true, true
		st.deep = out.ArchiveStatus == types.ArchiveStatusDeepArchiveAccess
	}
	if h := aws.ToString(out.Restore); h != "" {
		rs, err := parseRestore(h)
		if err != nil {
			return objectState{}, store.Permanent(fmt.Errorf("archive %s: %w", id, err))
		}
		st.restore = &rs
	}
	desc, err := descriptionFrom(out.Metadata)
	st.description, st.hasDesc = desc, err == nil
	return st, nil
}

// readable reports whether the object's bytes can be read at now: nil, or
// an error wrapping store.ErrNotReady or store.ErrExpired.
func (st objectState) readable(id string, now time.Time) error {
	switch {
	case !st.needsRestore:
		return nil
	case st.restore == nil:
		return fmt.Errorf("archive %s is in %s and not restored: %w", id, st.class, store.ErrNotReady)
	case st.restore.Ongoing:
		return fmt.Errorf("archive %s: restore in progress: %w", id, store.ErrNotReady)
	case !st.restore.Expiry.IsZero() && now.After(st.restore.Expiry):
		return fmt.Errorf("archive %s: restored copy expired at %s: %w", id, st.restore.Expiry.Format(time.RFC3339), store.ErrExpired)
	}
	return nil
}

// Request starts a retrieval. An inventory, and an archive in a class that
// is read directly (STANDARD ... GLACIER_IR), is ready at once with JobID
// "". An archive in GLACIER or DEEP_ARCHIVE gets JobID "restore:KEY"; a
// restore in progress or done is reused, otherwise RestoreObject is sent
// with the tier (default Config.Tier) and days (default Config.RestoreDays).
// Expedited for a DEEP_ARCHIVE object is a *store.ConfigError, raised
// before a restore request is sent.
func (s *Store) Request(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	const op = "request"
	if err := s.Begin(ctx); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	if err := store.CheckRange(r); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	out := r.Whole() // S3 restores whole objects: a range is ignored
	out.Requested, out.Expires, out.TreeHash = time.Now().UTC(), time.Time{}, ""
	switch r.Kind {
	case store.KindInventory:
		if r.ArchiveID != "" {
			return store.Retrieval{}, s.Fail(op, store.Permanent(errors.New("an inventory retrieval takes no archive id")))
		}
		out.JobID, out.Ready, out.Size = "", true, -1
		return out, nil
	case store.KindArchive:
	default:
		return store.Retrieval{}, s.Fail(op, store.Permanent(fmt.Errorf("unknown retrieval kind %d", r.Kind)))
	}

	tier := r.Tier
	if tier == "" {
		tier = s.cfg.Tier
	}
	tier, err := checkTier(tier)
	if err != nil {
		return store.Retrieval{}, s.Fail(op, store.Permanent(err))
	}
	days := r.Days
	switch {
	case days == 0:
		days = s.cfg.RestoreDays
	case days < 0:
		return store.Retrieval{}, s.Fail(op, store.Permanent(fmt.Errorf("restore days %d is negative", days)))
	}
	st, err := s.head(ctx, r.ArchiveID)
	if err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	out.Size = st.size
	if !st.needsRestore {
		out.JobID, out.Ready = "", true
		return out, nil
	}
	out.JobID = s.restoreJobID(r.ArchiveID)
	if st.restore != nil {
		if st.restore.Ongoing {
			out.Ready = false
			return out, nil
		}
		if err := st.readable(r.ArchiveID, time.Now()); err == nil {
			out.Ready, out.Expires = true, st.restore.Expiry
			return out, nil
		}
	}
	if st.deep && tier == store.TierExpedited {
		ce := errNoExpedited()
		ce.Err = fmt.Errorf("archive %s: %w", r.ArchiveID, ce.Err)
		return store.Retrieval{}, s.Fail(op, ce)
	}
	req := &types.RestoreRequest{GlacierJobParameters: &types.GlacierJobParameters{Tier: types.Tier(tier)}}
	if !st.tiering {
		req.Days = aws.Int32(int32(min(days, 1<<30)))
	}
	_, err = s.client.RestoreObject(ctx, &s3.RestoreObjectInput{
		Bucket:         aws.String(s.cfg.Bucket),
		Key:            aws.String(s.objectKey(r.ArchiveID)),
		RestoreRequest: req,
	})
	code, _ := apiError(err)
	switch {
	case err == nil, code == "RestoreAlreadyInProgress":
		s.cfg.Logger.Debug("s3 store: restore requested", "location", s.Location(), "archive", r.ArchiveID, "tier", tier, "days", days, "already", err != nil)
	case isNotFound(err):
		return store.Retrieval{}, s.Fail(op, fmt.Errorf("archive %s: %w", r.ArchiveID, store.ErrNotFound))
	default:
		return store.Retrieval{}, s.Fail(op, fmt.Errorf("archive %s: restore: %w", r.ArchiveID, s.classify(ctx, err)))
	}
	out.Ready = false
	return out, nil
}

// Poll returns the retrieval's state from HeadObject: Ready and Expires from
// the x-amz-restore header. A restored copy that expired (or vanished after
// a restore was requested) is store.ErrExpired; an archived object with no
// restore and no JobID is store.ErrNotFound, as for any unknown job.
func (s *Store) Poll(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	const op = "poll"
	if err := s.Begin(ctx); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	out := r.Whole()
	switch r.Kind {
	case store.KindInventory:
		if r.ArchiveID != "" || r.JobID != "" {
			return store.Retrieval{}, s.Fail(op, fmt.Errorf("inventory job %q: %w", r.JobID, store.ErrNotFound))
		}
		out.Ready, out.Size = true, -1
		return out, nil
	case store.KindArchive:
	default:
		return store.Retrieval{}, s.Fail(op, store.Permanent(fmt.Errorf("unknown retrieval kind %d", r.Kind)))
	}
	if err := s.checkJob(r); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	st, err := s.head(ctx, r.ArchiveID)
	if err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	out.Size, out.Expires = st.size, time.Time{}
	switch err := st.readable(r.ArchiveID, time.Now()); {
	case err == nil:
		out.Ready = true
		if st.restore != nil {
			out.Expires = st.restore.Expiry
		}
	case st.restore == nil && r.JobID == "":
		return store.Retrieval{}, s.Fail(op, fmt.Errorf("archive %s: no restore was requested (call Request): %w", r.ArchiveID, store.ErrNotFound))
	case st.restore == nil:
		return store.Retrieval{}, s.Fail(op, fmt.Errorf("archive %s: the restored copy is gone; request it again: %w", r.ArchiveID, store.ErrExpired))
	case errors.Is(err, store.ErrNotReady):
		out.Ready = false
	default:
		return store.Retrieval{}, s.Fail(op, err)
	}
	return out, nil
}

// checkJob fails with store.ErrNotFound when r carries a JobID this store
// did not make for r.ArchiveID.
func (s *Store) checkJob(r store.Retrieval) error {
	if !validID(r.ArchiveID) {
		return fmt.Errorf("archive %q: invalid archive id: %w", r.ArchiveID, store.ErrNotFound)
	}
	if r.JobID != "" && r.JobID != s.restoreJobID(r.ArchiveID) {
		return fmt.Errorf("restore job %q: %w", r.JobID, store.ErrNotFound)
	}
	return nil
}
