package vault

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
	"github.com/aws/aws-sdk-go-v2/service/glacier/types"

	"github.com/grsync/grsync/internal/store"
)

// emptyInventoryJob is the JobID of the inventory of a vault that has no
// inventory yet (it never held an archive). Real job ids never hold ':'.
const emptyInventoryJob = "grsync:empty-vault"

// expirySlack: a job the service no longer knows is taken as expired (not
// as never having existed) from this long before its 24 hours are up.
const expirySlack = time.Hour

// Request initiates a retrieval job: archive-retrieval of r.ArchiveID at
// r.Tier ("" is Standard), or inventory-retrieval in JSON. The result has
// JobID and Requested set and is not ready yet, except for the inventory of
// a vault Glacier has no inventory for (one that never held an archive):
// that one is ready at once and lists no archives.
func (s *Store) Request(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	const op = "request"
	if err := s.Begin(ctx); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	if err := store.CheckRange(r); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	params := &types.JobParameters{}
	what := "inventory"
	switch r.Kind {
	case store.KindArchive:
		if r.ArchiveID == "" {
			return store.Retrieval{}, s.Fail(op, store.Permanent(errors.New("an archive retrieval needs an archive id")))
		}
		tier := r.Tier
		switch tier {
		case "":
			tier = store.TierStandard
		case store.TierExpedited, store.TierStandard, store.TierBulk:
		default:
			return store.Retrieval{}, s.Fail(op, store.Permanent(fmt.Errorf("unknown retrieval tier %q", r.Tier)))
		}
		what = "archive " + r.ArchiveID
		params.Type = aws.String("archive-retrieval")
		params.ArchiveId = aws.String(r.ArchiveID)
		params.Tier = aws.String(string(tier))
		if r.Ranged() {
			what += fmt.Sprintf(" bytes %d-%d", r.Offset, r.Offset+r.Length-1)
			params.RetrievalByteRange = aws.String(fmt.Sprintf("%d-%d", r.Offset, r.Offset+r.Length-1))
		}
	case store.KindInventory:
		if r.ArchiveID != "" {
			return store.Retrieval{}, s.Fail(op, store.Permanent(errors.New("an inventory retrieval takes no archive id")))
		}
		params.Type = aws.String("inventory-retrieval")
		params.Format = aws.String("JSON")
	default:
		return store.Retrieval{}, s.Fail(op, store.Permanent(fmt.Errorf("unknown retrieval kind %d", r.Kind)))
	}
	out, err := s.client.InitiateJob(ctx, &glacier.InitiateJobInput{
		AccountId: s.account(), VaultName: s.vault(), JobParameters: params,
	})
	if err != nil {
		if r.Kind == store.KindInventory && isNotFound(err) {
			res, err := s.emptyInventory(ctx, r)
			if err != nil {
				return store.Retrieval{}, s.Fail(op, err)
			}
			return res, nil
		}
		return store.Retrieval{}, s.Fail(op, fmt.Errorf("%s: %w", what, withCtx(ctx, classify(err))))
	}
	if out.JobId == nil || *out.JobId == "" {
		return store.Retrieval{}, s.Fail(op, fmt.Errorf("%s: the service returned no job id", what))
	}
	res := r
	res.JobID = *out.JobId
	res.Ready = false
	res.Size = -1
	res.TreeHash = ""
	res.Requested = responseTime(out.ResultMetadata)
	res.Expires = time.Time{}
	s.log.Debug("retrieval job initiated", "store", s.Location(), "what", what, "job", res.JobID)
	return res, nil
}

// emptyInventory answers an inventory request the service refused with
// ResourceNotFoundException: if the vault exists, it has no inventory yet
// and so lists no archives; if it does not, that is a configuration error.
func (s *Store) emptyInventory(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	out, err := s.client.DescribeVault(ctx, &glacier.DescribeVaultInput{AccountId: s.account(), VaultName: s.vault()})
	if err != nil {
		if isNotFound(err) {
			return store.Retrieval{}, &store.ConfigError{
				Err:  fmt.Errorf("vault %q does not exist in region %s: %w", s.cfg.Vault, s.region, err),
				Hint: "check --vault and --region",
			}
		}
		return store.Retrieval{}, fmt.Errorf("inventory: %w", withCtx(ctx, classify(err)))
	}
	now := responseTime(out.ResultMetadata)
	s.log.Info("the vault has no inventory yet (it never held an archive); listing it as empty", "store", s.Location())
	res := r
	res.JobID = emptyInventoryJob
	res.Ready = true
	res.Size = 0
	res.TreeHash = ""
	res.Requested = now
	res.Expires = now.Add(JobOutputLifetime)
	return res, nil
}

// Poll asks the service (DescribeJob) for the retrieval's state: Ready once
// the job succeeded, Size and TreeHash of the output, Expires 24 hours after
// completion. A failed job is a permanent error; a job the service does not
// know is store.ErrExpired when its output's 24 hours are (about) over,
// else store.ErrNotFound.
func (s *Store) Poll(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	const op = "poll"
	if err := s.Begin(ctx); err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	out, err := s.state(ctx, r)
	if err != nil {
		return store.Retrieval{}, s.Fail(op, err)
	}
	return out, nil
}

// state describes r's job and merges what the service says into r.
func (s *Store) state(ctx context.Context, r store.Retrieval) (store.Retrieval, error) {
	if r.JobID == "" {
		return store.Retrieval{}, fmt.Errorf("retrieval without a job id (call Request first): %w", store.ErrNotFound)
	}
	if r.JobID == emptyInventoryJob {
		if r.Kind != store.KindInventory {
			return store.Retrieval{}, store.Permanent(fmt.Errorf("job %s is an inventory, not an archive retrieval", r.JobID))
		}
		if !r.Expires.IsZero() && time.Now().After(r.Expires) {
			return store.Retrieval{}, fmt.Errorf("inventory of an empty vault taken %v: %w", r.Requested, store.ErrExpired)
		}
		out := r
		out.Ready, out.Size = true, 0
		return out, nil
	}
	d, err := s.client.DescribeJob(ctx, &glacier.DescribeJobInput{
		AccountId: s.account(), VaultName: s.vault(), JobId: aws.String(r.JobID),
	})
	if err != nil {
		if isNotFound(err) && !r.Expires.IsZero() && time.Now().After(r.Expires.Add(-expirySlack)) {
			return store.Retrieval{}, fmt.Errorf("job %s: its output was kept until %v: %w", r.JobID, r.Expires, store.ErrExpired)
		}
		return store.Retrieval{}, fmt.Errorf("job %s: %w", r.JobID, withCtx(ctx, classify(err)))
	}
	return mergeJob(r, d)
}

// mergeJob returns r updated with the job description d.
func mergeJob(r store.Retrieval, d *glacier.DescribeJobOutput) (store.Retrieval, error) {
	out := r
	switch {
	case r.Kind == store.KindArchive && d.Action == types.ActionCodeArchiveRetrieval:
		id := deref(d.ArchiveId)
		if r.ArchiveID != "" && id != "" && id != r.ArchiveID {
			return store.Retrieval{}, store.Permanent(fmt.Errorf("job %s retrieves archive %s, not %s", r.JobID, id, r.ArchiveID))
		}
		if id != "" {
			out.ArchiveID = id
		}
		// AWS always reports the archive's tree hash; moto reports none
		// and a size of 0 whatever the archive's: the size is unknown.
		out.Size = -1
		if d.ArchiveSHA256TreeHash != nil && d.ArchiveSizeInBytes != nil {
			out.Size = *d.ArchiveSizeInBytes
		}
		var err error
		if out.Offset, out.Length, err = jobRange(d.RetrievalByteRange, out.Size); err != nil {
			return store.Retrieval{}, store.Permanent(fmt.Errorf("job %s: %w", r.JobID, err))
		}
		if r.Ranged() && !out.Covers(r.Offset, r.Length) {
			return store.Retrieval{}, store.Permanent(fmt.Errorf("job %s retrieves bytes %d-%d of archive %s, not the %d-%d asked for",
				r.JobID, out.Offset, out.Offset+out.Length-1, out.ArchiveID, r.Offset, r.Offset+r.Length-1))
		}
		out.TreeHash = strings.ToLower(deref(d.SHA256TreeHash))
		if out.TreeHash == "" && d.RetrievalByteRange == nil {
			out.TreeHash = strings.ToLower(deref(d.ArchiveSHA256TreeHash))
		}
	case r.Kind == store.KindInventory && d.Action == types.ActionCodeInventoryRetrieval:
		out.Size = -1
		if d.Completed && d.InventorySizeInBytes != nil {
			out.Size = *d.InventorySizeInBytes
		}
		out.TreeHash = ""
	default:
		return store.Retrieval{}, store.Permanent(fmt.Errorf("job %s is a %s job, not the retrieval asked for", r.JobID, d.Action))
	}
	if out.Tier == "" && d.Tier != nil && r.Kind == store.KindArchive {
		out.Tier = store.Tier(*d.Tier)
	}
	if t, ok := parseTime(d.CreationDate); ok {
		out.Requested = t
	}
	if d.StatusCode == types.StatusCodeFailed {
		return store.Retrieval{}, store.Permanent(fmt.Errorf("job %s failed: %s", r.JobID, deref(d.StatusMessage)))
	}
	out.Ready = d.Completed && d.StatusCode == types.StatusCodeSucceeded
	out.Expires = time.Time{}
	if t, ok := parseTime(d.CompletionDate); ok && d.Completed {
		out.Expires = t.Add(JobOutputLifetime)
	}
	return out, nil
}

// jobRange reads the RetrievalByteRange "FIRST-LAST" of an archive
// retrieval job on an archive of size bytes (-1: unknown) as an offset
// and a length, (0, 0) for the whole archive. AWS reports it for every
// archive job, "0-(size-1)" when no range was given; a service that
// ignores ranges reports none (moto), and its output is the whole archive.
func jobRange(v *string, size int64) (int64, int64, error) {
	if v == nil || *v == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(*v, "-")
	first, err1 := parseDecimal(a)
	last, err2 := parseDecimal(b)
	if !ok || err1 != nil || err2 != nil || last < first || last == math.MaxInt64 || (size >= 0 && last >= size) {
		return 0, 0, fmt.Errorf("the service reports a malformed RetrievalByteRange %q", *v)
	}
	if first == 0 && last == size-1 {
		return 0, 0, nil
	}
	return first, last - first + 1, nil
}

// parseTime parses an ISO 8601 date of the Glacier API.
func parseTime(s *string) (time.Time, bool) {
	if s == nil {
		return time.Time{}, false
	}
	return parseDate(*s)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
