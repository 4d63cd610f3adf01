package s3store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/store"
)

// LockMarginDays is the margin of the default retention: a new archive is
// locked for its class's minimum storage duration (at least LockMarginDays)
// plus LockMarginDays, and callers extend the lock of an archive a kept
// version still needs once less than LockMarginDays of it are left. The
// margin is how long syncs may stop (a laptop away, a failing cron job)
// before a lock runs out; see docs/COSTS.md for what it costs.
const LockMarginDays = 30

// MaxLockDays bounds Config.LockDays (100 years).
const MaxLockDays = 36500

var _ store.Locker = (*Store)(nil)

// DefaultLockDays is the retention of a new archive in class when
// Config.LockDays is 0: the class's minimum storage duration from the
// built-in price table (GLACIER 90, DEEP_ARCHIVE 180, the IA classes 30
// days), at least LockMarginDays, plus LockMarginDays. Within the minimum
// duration a lock costs nothing, since S3 bills those days even for an
// object deleted earlier. DEEP_ARCHIVE: 210 days; GLACIER and GLACIER_IR:
// 120; STANDARD_IA, ONEZONE_IA, STANDARD, INTELLIGENT_TIERING: 60.
func DefaultLockDays(class string) int {
	minDays := 0
	if c, ok := normalizeClass(class); ok {
		if cp, err := cost.Default().Class(cost.Class(c)); err == nil {
			minDays = cp.MinDays
		}
	}
	return max(minDays, LockMarginDays) + LockMarginDays
}

// checkLock checks ObjectLock and LockDays, and fills in the default.
func (c *Config) checkLock() error {
	bad := func(hint, format string, args ...any) error {
		return &store.ConfigError{Err: fmt.Errorf("s3 store: "+format, args...), Hint: hint}
	}
	if c.ObjectLock == "" {
		if c.LockDays != 0 {
			return bad("give --object-lock governance or --object-lock compliance with --lock-days", "a lock duration (%d days) without an object lock mode", c.LockDays)
		}
		return nil
	}
	mode, err := store.ParseLockMode(string(c.ObjectLock))
	if err != nil {
		return bad("use --object-lock governance or --object-lock compliance", "%v", err)
	}
	c.ObjectLock = mode
	switch {
	case c.LockDays == 0:
		c.LockDays = DefaultLockDays(c.StorageClass)
	case c.LockDays < 1 || c.LockDays > MaxLockDays:
		return bad(fmt.Sprintf("give --lock-days from 1 to %d (default for %s: %d)", MaxLockDays, c.StorageClass, DefaultLockDays(c.StorageClass)),
			"lock duration of %d days is out of range", c.LockDays)
	}
	return nil
}

// LockPolicy reports the lock new archives get.
func (s *Store) LockPolicy() store.LockPolicy {
	if s.cfg.ObjectLock == "" {
		return store.LockPolicy{}
	}
	return store.LockPolicy{Mode: s.cfg.ObjectLock, Days: s.cfg.LockDays}
}

// newLockUntil is the retain-until date of an archive stored now, or zero
// when the store writes no lock.
func (s *Store) newLockUntil() time.Time {
	if s.cfg.ObjectLock == "" {
		return time.Time{}
	}
	return ceilSecond(time.Now().Add(time.Duration(s.cfg.LockDays) * 24 * time.Hour))
}

// ceilSecond rounds t up to a whole second in UTC: S3 keeps retention
// dates to the second, and a lock must never end before the date asked.
func ceilSecond(t time.Time) time.Time {
	u := t.UTC().Truncate(time.Second)
	if u.Before(t) {
		u = u.Add(time.Second)
	}
	return u
}

// lockFields returns the Object Lock fields of a request that stores an
// object locked until until (no fields for a zero until).
func (s *Store) lockFields(until time.Time) (types.ObjectLockMode, *time.Time) {
	if until.IsZero() {
		return "", nil
	}
	return types.ObjectLockMode(s.cfg.ObjectLock), aws.Time(until)
}

// checkObjectLock makes sure, before anything is uploaded, that the bucket
// can hold locked objects: Object Lock enabled and versioning on.
func (s *Store) checkObjectLock(ctx context.Context) error {
	fail := func(err error, hint string) error {
		return &store.ConfigError{Err: fmt.Errorf("%s: open: %w", s.Location(), err), Hint: hint}
	}
	const enableHint = "turn Object Lock on for the bucket (versioning first): aws s3api put-bucket-versioning --bucket %[1]s --versioning-configuration Status=Enabled && " +
		"aws s3api put-object-lock-configuration --bucket %[1]s --object-lock-configuration ObjectLockEnabled=Enabled; " +
		"or use a bucket created with aws s3api create-bucket --object-lock-enabled-for-bucket; or leave out --object-lock"
	denied := func(err error, action string) error {
		return fail(fmt.Errorf("cannot check the bucket's %s: %w", action, err),
			"the credentials need s3:GetBucketObjectLockConfiguration and s3:GetBucketVersioning on the bucket: grsync iam-policy prints a policy with them")
	}
	out, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(s.cfg.Bucket)})
	code, status := apiError(err)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return s.Fail("open", ctx.Err())
	case code == "ObjectLockConfigurationNotFoundError":
		return fail(fmt.Errorf("--object-lock %s: bucket %q does not have Object Lock enabled", strings.ToLower(string(s.cfg.ObjectLock)), s.cfg.Bucket),
			fmt.Sprintf(enableHint, s.cfg.Bucket))
	case status == 403 || code == "AccessDenied":
		return denied(err, "Object Lock configuration")
	default:
		return s.Fail("open", fmt.Errorf("read the bucket's Object Lock configuration: %w", s.classify(ctx, err)))
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return fail(fmt.Errorf("--object-lock %s: bucket %q does not have Object Lock enabled", strings.ToLower(string(s.cfg.ObjectLock)), s.cfg.Bucket),
			fmt.Sprintf(enableHint, s.cfg.Bucket))
	}
	if r := out.ObjectLockConfiguration.Rule; r != nil && r.DefaultRetention != nil {
		s.cfg.Logger.Warn("s3 store: the bucket locks every new object by default; grsync's short-lived upload records (grsync-uploads/) will be locked too and stay until their lock ends",
			"location", s.Location(), "mode", r.DefaultRetention.Mode, "days", aws.ToInt32(r.DefaultRetention.Days), "years", aws.ToInt32(r.DefaultRetention.Years))
	}
	v, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(s.cfg.Bucket)})
	code, status = apiError(err)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return s.Fail("open", ctx.Err())
	case status == 403 || code == "AccessDenied":
		return denied(err, "versioning")
	default:
		return s.Fail("open", fmt.Errorf("read the bucket's versioning: %w", s.classify(ctx, err)))
	}
	if v.Status != types.BucketVersioningStatusEnabled {
		state := string(v.Status)
		if state == "" {
			state = "never enabled"
		}
		return fail(fmt.Errorf("--object-lock: versioning of bucket %q is %s, and locked objects need it on", s.cfg.Bucket, strings.ToLower(state)),
			fmt.Sprintf("turn versioning on: aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled", s.cfg.Bucket))
	}
	s.versioned = true
	return nil
}

// lockFromHead reads the Object Lock fields of a HeadObject reply. S3
// returns them only to credentials with s3:GetObjectRetention (and
// s3:GetObjectLegalHold for the hold).
func lockFromHead(out *s3.HeadObjectOutput) store.Lock {
	var l store.Lock
	if out.ObjectLockMode != "" && out.ObjectLockRetainUntilDate != nil {
		l.Mode = store.LockMode(out.ObjectLockMode)
		l.Until = out.ObjectLockRetainUntilDate.UTC()
	}
	l.LegalHold = out.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn
	return l
}

// Retention returns archive id's current lock (HeadObject).
func (s *Store) Retention(ctx context.Context, id string) (store.Lock, error) {
	const op = "retention"
	if err := s.Begin(ctx); err != nil {
		return store.Lock{}, s.Fail(op, err)
	}
	st, err := s.head(ctx, id)
	if err != nil {
		return store.Lock{}, s.Fail(op, err)
	}
	return st.lock, nil
}

// ExtendRetention makes archive id's lock last until at least until: a
// HeadObject reads the current lock, and a PutObjectRetention on the
// object's version sets the later date, in the object's own mode (or the
// configured one for an object without a lock). It never asks for an
// earlier date, so it needs no s3:BypassGovernanceRetention.
func (s *Store) ExtendRetention(ctx context.Context, id string, until time.Time) (store.Lock, error) {
	const op = "extend retention"
	if err := s.Begin(ctx); err != nil {
		return store.Lock{}, s.Fail(op, err)
	}
	st, err := s.head(ctx, id)
	if err != nil {
		return store.Lock{}, s.Fail(op, err)
	}
	want := ceilSecond(until)
	if st.lock.Mode != "" && !st.lock.Until.Before(want) {
		return st.lock, nil
	}
	mode := st.lock.Mode
	if mode == "" {
		mode = s.cfg.ObjectLock
	}
	if mode == "" {
		return store.Lock{}, s.Fail(op, store.Permanent(fmt.Errorf("archive %s has no lock, and the store has no lock mode to give it: configure --object-lock", id)))
	}
	if err := s.putRetention(ctx, s.objectKey(id), st.versionID, mode, want); err != nil {
		return store.Lock{}, s.Fail(op, fmt.Errorf("archive %s: %w", id, err))
	}
	return store.Lock{Mode: mode, Until: want, LegalHold: st.lock.LegalHold}, nil
}

// putRetention sets the lock of version versionID of key ("" = the
// current version). A refusal is store.ErrAccessDenied.
func (s *Store) putRetention(ctx context.Context, key, versionID string, mode store.LockMode, until time.Time) error {
	in := &s3.PutObjectRetentionInput{
		Bucket:            aws.String(s.cfg.Bucket),
		Key:               aws.String(key),
		Retention:         &types.ObjectLockRetention{Mode: types.ObjectLockRetentionMode(mode), RetainUntilDate: aws.Time(until)},
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	_, err := s.client.PutObjectRetention(ctx, in)
	if err == nil {
		return nil
	}
	if code, status := apiError(err); ctx.Err() == nil && (code == "AccessDenied" || status == 403) {
		return store.Permanent(fmt.Errorf("set Object Lock retention to %s: the credentials may not (s3:PutObjectRetention): %w: %w",
			until.Format(time.RFC3339), store.ErrAccessDenied, err))
	}
	return fmt.Errorf("set Object Lock retention to %s: %w", until.Format(time.RFC3339), s.classify(ctx, err))
}

// ensureLock is called with the HeadObject reply of a new object that
// should be locked until until: if S3 reports no lock or an earlier one
// (moto ignores the lock of multipart uploads; credentials without
// s3:GetObjectRetention see none), the retention is set now. It returns
// the lock the object has.
func (s *Store) ensureLock(ctx context.Context, id string, head *s3.HeadObjectOutput, until time.Time) (store.Lock, error) {
	got := lockFromHead(head)
	if until.IsZero() || (got.Mode != "" && !got.Until.Before(until)) {
		return got, nil
	}
	s.cfg.Logger.Warn("s3 store: S3 reports no Object Lock retention (or an earlier one) on a new object; setting it with PutObjectRetention",
		"location", s.Location(), "archive", id, "reported", got.String(), "want", until.Format(time.RFC3339))
	if err := s.putRetention(ctx, s.objectKey(id), aws.ToString(head.VersionId), s.cfg.ObjectLock, until); err != nil {
		return store.Lock{}, err
	}
	return store.Lock{Mode: s.cfg.ObjectLock, Until: until, LegalHold: got.LegalHold}, nil
}

// deleteError maps a refused DeleteObject: an Object Lock (S3 says so, or
// the lock HeadObject showed ended so recently that clocks may disagree)
// is store.ErrLocked, any other refusal store.ErrAccessDenied; both are
// permanent. Other errors are classified as usual.
func (s *Store) deleteError(ctx context.Context, err error, lock store.Lock) error {
	code, status := apiError(err)
	if ctx.Err() != nil || (code != "AccessDenied" && status != 403) {
		return s.classify(ctx, err)
	}
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "object lock") || strings.Contains(msg, "object-lock") || lock.Holds(time.Now().Add(-5*time.Minute)) {
		return store.Permanent(fmt.Errorf("S3 refuses while its Object Lock (%s) holds: %w: %w", lock, store.ErrLocked, err))
	}
	return store.Permanent(fmt.Errorf("the credentials may not delete it (s3:DeleteObject, or s3:DeleteObjectVersion in a versioned bucket; an append-only policy grants neither): %w: %w",
		store.ErrAccessDenied, err))
}

// errPreconditionFailed reports whether S3 refused a write because the key
// exists (If-None-Match: *).
func errPreconditionFailed(err error) bool {
	code, status := apiError(err)
	return code == "PreconditionFailed" || status == 412
}

// removeKey deletes key for good: in a versioned bucket the version
// HeadObject reports (a plain DeleteObject there would only add a delete
// marker, which frees nothing). Missing keys are not an error.
func (s *Store) removeKey(ctx context.Context, key, versionID string) error {
	if versionID == "" && s.versioned {
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		versionID = aws.ToString(head.VersionId)
	}
	in := &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	_, err := s.client.DeleteObject(ctx, in)
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}
