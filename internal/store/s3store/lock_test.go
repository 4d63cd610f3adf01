package s3store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
)

// What moto (5.2) enforces of S3 Object Lock, as these tests found and
// docs/DESIGN.md records: PutObject with lock headers needs a checksum
// header and a bucket with Object Lock; CreateMultipartUpload ignores the
// lock headers (the store then sets the lock with PutObjectRetention);
// DeleteObject of a locked version is AccessDenied (with a generic
// message), and any x-amz-bypass-governance-retention header bypasses a
// GOVERNANCE lock but not a COMPLIANCE one; DeleteObject without a version
// adds a delete marker; PutObjectRetention accepts any date, an earlier
// one included, in either mode (AWS refuses that), and moto evaluates no
// IAM policy. The AWS rules moto does not enforce are tested on the
// store's side: it never asks for an earlier date, and it maps AWS's
// refusals (see TestDeleteErrorMapping).

// newLockBucket creates a bucket with Object Lock enabled (and so
// versioning on).
func newLockBucket(t testing.TB, endpoint string) string {
	t.Helper()
	name := fmt.Sprintf("grsync-lock-%016x", rand.Uint64())
	_, err := rawClient(endpoint).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)})
	if err != nil {
		t.Fatalf("create bucket with Object Lock: %v", err)
	}
	return name
}

// lockConfig is a test config for a new Object Lock bucket.
func lockConfig(t testing.TB, endpoint string, mode store.LockMode, days int) Config {
	cfg := testConfig(t, endpoint, "DEEP_ARCHIVE")
	cfg.Bucket = newLockBucket(t, endpoint)
	cfg.ObjectLock, cfg.LockDays = mode, days
	return cfg
}

// rawHead is HeadObject of archive id with a plain client.
func rawHead(t testing.TB, endpoint string, s *Store, id string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := rawClient(endpoint).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(id))})
	if err != nil {
		t.Fatalf("HeadObject %s: %v", id, err)
	}
	return out
}

// versionsOf lists the versions and delete markers of key.
func versionsOf(t testing.TB, endpoint, bucket, key string) (versions, markers int) {
	t.Helper()
	out, err := rawClient(endpoint).ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("ListObjectVersions: %v", err)
	}
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			versions++
		}
	}
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == key {
			markers++
		}
	}
	return versions, markers
}

// TestObjectLockOnEveryObject checks that a single-request object and a
// multipart one both end up with the mode and a retain-until date no
// earlier than asked, that the requests that store them carry the lock
// and CRC32 checksums, and that Archive.Lock says so.
func TestObjectLockOnEveryObject(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	for _, mode := range []store.LockMode{store.LockGovernance, store.LockCompliance} {
		t.Run(string(mode), func(t *testing.T) {
			const days = 3
			s := mustNew(t, lockConfig(t, p.URL, mode, days))
			if got := s.LockPolicy(); got != (store.LockPolicy{Mode: mode, Days: days}) {
				t.Errorf("LockPolicy = %+v", got)
			}
			for _, size := range []int{1000, 2*MinPartSize + 12345} {
				p.reset()
				earliest := time.Now().Add(days * 24 * time.Hour).Truncate(time.Second)
				a := mustPut(t, t.Context(), s, randomBytes(size, uint64(size)), fmt.Sprintf("locked %d", size))
				head := rawHead(t, motoURL, s, a.ID)
				got := lockFromHead(head)
				if got.Mode != mode || got.Until.Before(earliest) {
					t.Errorf("%d bytes: S3 reports lock %s, want %s until at least %s", size, got, mode, earliest.Format(time.RFC3339))
				}
				if a.Lock != got {
					t.Errorf("%d bytes: Archive.Lock = %s, S3 reports %s", size, a.Lock, got)
				}
				if aws.ToString(head.VersionId) == "" {
					t.Errorf("%d bytes: no version id: the Object Lock bucket is not versioned", size)
				}
				ops := []string{"PutObject"}
				if size > MinPartSize {
					ops = []string{"CreateMultipartUpload"}
					for _, r := range p.seen("UploadPart") {
						if r.Header.Get("X-Amz-Checksum-Crc32") == "" {
							t.Errorf("part %s sent without its CRC32 checksum", r.Query.Get("partNumber"))
						}
					}
				}
				for _, op := range ops {
					var locked []seenRequest
					for _, r := range p.seen(op) {
						if strings.Contains(r.Path, archivesDir) {
							locked = append(locked, r)
						}
					}
					if len(locked) != 1 {
						t.Fatalf("%d bytes: %d %s requests for the archive, want 1", size, len(locked), op)
					}
					h := locked[0].Header
					if h.Get("X-Amz-Object-Lock-Mode") != string(mode) || h.Get("X-Amz-Object-Lock-Retain-Until-Date") == "" {
						t.Errorf("%d bytes: %s sent lock mode %q until %q, want %s and a date", size, op,
							h.Get("X-Amz-Object-Lock-Mode"), h.Get("X-Amz-Object-Lock-Retain-Until-Date"), mode)
					}
					if op == "PutObject" && h.Get("X-Amz-Checksum-Crc32") == "" {
						t.Errorf("PutObject of a locked object without its CRC32 checksum")
					}
					if h.Get("X-Amz-Sdk-Checksum-Algorithm") != "CRC32" && h.Get("X-Amz-Checksum-Algorithm") != "CRC32" {
						t.Errorf("%s without the CRC32 checksum algorithm header: %v", op, h)
					}
				}
				// moto honours the headers of PutObject; of a multipart
				// upload it drops them, and the store sets the lock after.
				if n := p.count("PutObjectRetention"); size <= MinPartSize && n != 0 {
					t.Errorf("single PutObject needed %d PutObjectRetention requests, want 0", n)
				}
			}
		})
	}
}

// TestObjectLockRefusesUnfitBucket checks that a bucket without Object Lock
// (or with versioning off, or credentials that may not look) is refused
// by New with a ConfigError that says how to fix it, before any upload.
func TestObjectLockRefusesUnfitBucket(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	writes := func() int {
		return p.count("PutObject") + p.count("CreateMultipartUpload") + p.count("UploadPart") + p.count("PutObjectRetention")
	}
	check := func(name string, cfg Config, want, hint string) {
		t.Helper()
		p.reset()
		_, err := New(t.Context(), cfg)
		var ce *store.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.Contains(ce.Hint, hint) {
			t.Errorf("%s: New = %v (hint %q), want a ConfigError about %q with a hint about %q", name, err, hintOf(err), want, hint)
		}
		if n := writes(); n != 0 {
			t.Errorf("%s: %d write requests before the refusal", name, n)
		}
	}

	plain := testConfig(t, p.URL, "DEEP_ARCHIVE")
	plain.ObjectLock = store.LockCompliance
	check("no Object Lock", plain, "does not have Object Lock enabled", "put-object-lock-configuration")

	versioned := testConfig(t, p.URL, "DEEP_ARCHIVE")
	if _, err := rawClient(motoURL).PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{
		Bucket: aws.String(versioned.Bucket), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatal(err)
	}
	versioned.ObjectLock = store.LockGovernance
	check("versioning but no Object Lock", versioned, "does not have Object Lock enabled", "--object-lock")

	// AWS keeps versioning on for every Object Lock bucket; the check is
	// there all the same, and an S3-compatible service may differ.
	locked := lockConfig(t, p.URL, store.LockGovernance, 0)
	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		if op != "GetBucketVersioning" {
			return false
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`)
		return true
	})
	check("versioning off", locked, "versioning of bucket", "put-bucket-versioning")
	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		if op != "GetObjectLockConfiguration" {
			return false
		}
		s3Error(w, http.StatusForbidden, "AccessDenied")
		return true
	})
	check("may not read the lock configuration", locked, "cannot check the bucket's Object Lock configuration", "s3:GetBucketObjectLockConfiguration")
	p.setFault(nil)

	s := mustNew(t, locked)
	if got := s.LockPolicy(); got.Mode != store.LockGovernance || got.Days != DefaultLockDays("DEEP_ARCHIVE") {
		t.Errorf("LockPolicy = %+v, want GOVERNANCE for %d days", got, DefaultLockDays("DEEP_ARCHIVE"))
	}
}

// TestDeleteLockedObject checks that Delete of a locked archive fails with
// store.ErrLocked without sending a delete, records what moto enforces,
// and that once the lock has ended Delete removes the version itself, not
// only its name (a delete marker would free nothing).
func TestDeleteLockedObject(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	raw := rawClient(motoURL)
	for _, mode := range []store.LockMode{store.LockGovernance, store.LockCompliance} {
		t.Run(string(mode), func(t *testing.T) {
			s := mustNew(t, lockConfig(t, p.URL, mode, 1))
			a := mustPut(t, t.Context(), s, []byte("keep me"), "locked")
			key := s.objectKey(a.ID)
			version := aws.ToString(rawHead(t, motoURL, s, a.ID).VersionId)

			p.reset()
			err := s.Delete(t.Context(), a.ID)
			if !errors.Is(err, store.ErrLocked) || !store.IsPermanent(err) || !strings.Contains(err.Error(), string(mode)) {
				t.Errorf("Delete of a locked archive: %v, want a permanent ErrLocked naming the mode", err)
			}
			if n := p.count("DeleteObject"); n != 0 {
				t.Errorf("Delete sent %d DeleteObject requests for a locked archive", n)
			}

			// What moto enforces: the version cannot be deleted without a
			// bypass; a GOVERNANCE lock yields to the bypass header, a
			// COMPLIANCE lock does not.
			_, err = raw.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), VersionId: aws.String(version)})
			if code, _ := apiError(err); code != "AccessDenied" {
				t.Errorf("moto: DeleteObject of a locked version = %v, want AccessDenied", err)
			}
			if mode == store.LockCompliance {
				_, err = raw.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), VersionId: aws.String(version), BypassGovernanceRetention: aws.Bool(true)})
				if code, _ := apiError(err); code != "AccessDenied" {
					t.Errorf("moto: DeleteObject with bypass of a COMPLIANCE version = %v, want AccessDenied", err)
				}
			}
			// A delete without a version only adds a marker: the locked
			// bytes stay (and are billed).
			if _, err := raw.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)}); err != nil {
				t.Fatalf("moto: DeleteObject without a version: %v", err)
			}
			if v, m := versionsOf(t, motoURL, s.cfg.Bucket, key); v != 1 || m != 1 {
				t.Errorf("after a delete marker: %d versions and %d markers, want the version kept under 1 marker", v, m)
			}
		})
	}

	t.Run("after the lock", func(t *testing.T) {
		s := mustNew(t, lockConfig(t, p.URL, store.LockGovernance, 1))
		a := mustPut(t, t.Context(), s, []byte("old enough"), "expired lock")
		key := s.objectKey(a.ID)
		// moto lets a retention be set to the past, which AWS would refuse
		// without a bypass: here it stands for a lock that has run out.
		past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		if _, err := raw.PutObjectRetention(t.Context(), &s3.PutObjectRetentionInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(past)},
		}); err != nil {
			t.Fatal(err)
		}
		p.reset()
		if err := s.Delete(t.Context(), a.ID); err != nil {
			t.Fatalf("Delete after the lock ended: %v", err)
		}
		for _, r := range p.seen("DeleteObject") {
			if r.Query.Get("versionId") == "" {
				t.Errorf("DeleteObject %s without a versionId: it would only add a delete marker", r.Path)
			}
		}
		if v, m := versionsOf(t, motoURL, s.cfg.Bucket, key); v != 0 || m != 0 {
			t.Errorf("after Delete: %d versions and %d delete markers left, want none", v, m)
		}
		if err := s.Delete(t.Context(), a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second Delete: %v, want ErrNotFound", err)
		}
	})
}

// TestExtendRetention checks that ExtendRetention sets a later date,
// keeps the object's mode, and never shortens: an earlier date sends
// nothing (moto itself would accept it).
func TestExtendRetention(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	cfg := lockConfig(t, p.URL, store.LockGovernance, 1)
	s := mustNew(t, cfg)
	a := mustPut(t, t.Context(), s, []byte("extend me"), "extend")

	later := time.Now().Add(10 * 24 * time.Hour)
	p.reset()
	got, err := s.ExtendRetention(t.Context(), a.ID, later)
	if err != nil {
		t.Fatalf("ExtendRetention: %v", err)
	}
	if got.Mode != store.LockGovernance || got.Until.Before(later) || got.Until.Sub(later) >= time.Second {
		t.Errorf("ExtendRetention = %s, want GOVERNANCE until %s (to the second, rounded up)", got, later.UTC().Format(time.RFC3339Nano))
	}
	if n := p.count("PutObjectRetention"); n != 1 {
		t.Errorf("%d PutObjectRetention requests, want 1", n)
	}
	if r, err := s.Retention(t.Context(), a.ID); err != nil || r != got {
		t.Errorf("Retention = %s, %v; want %s", r, err, got)
	}

	p.reset()
	again, err := s.ExtendRetention(t.Context(), a.ID, time.Now().Add(2*24*time.Hour))
	if err != nil || again != got {
		t.Errorf("ExtendRetention to an earlier date = %s, %v; want the lock unchanged (%s)", again, err, got)
	}
	if n := p.count("PutObjectRetention"); n != 0 {
		t.Errorf("an earlier date sent %d PutObjectRetention requests, want none", n)
	}
	if r := lockFromHead(rawHead(t, motoURL, s, a.ID)); r != got {
		t.Errorf("S3 reports %s after asking for an earlier date, want %s", r, got)
	}

	// A store configured for COMPLIANCE keeps an object's GOVERNANCE mode.
	cfg.ObjectLock = store.LockCompliance
	c := mustNew(t, cfg)
	kept, err := c.ExtendRetention(t.Context(), a.ID, later.Add(24*time.Hour))
	if err != nil || kept.Mode != store.LockGovernance {
		t.Errorf("ExtendRetention through a COMPLIANCE store = %s, %v; want the object's GOVERNANCE mode kept", kept, err)
	}

	if _, err := s.ExtendRetention(t.Context(), newID(), later); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ExtendRetention of an unknown archive: %v, want ErrNotFound", err)
	}

	// Append-only credentials without s3:PutObjectRetention.
	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		if op != "PutObjectRetention" {
			return false
		}
		s3Error(w, http.StatusForbidden, "AccessDenied")
		return true
	})
	defer p.setFault(nil)
	if _, err := s.ExtendRetention(t.Context(), a.ID, later.Add(48*time.Hour)); !errors.Is(err, store.ErrAccessDenied) || !store.IsPermanent(err) {
		t.Errorf("ExtendRetention refused: %v, want a permanent ErrAccessDenied", err)
	}
}

// TestAppendOnlyDelete checks that a delete the credentials may not do is
// store.ErrAccessDenied, permanent and not a configuration error, so that
// callers record it and go on; and that no lock is written without
// ObjectLock.
func TestAppendOnlyDelete(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	s := mustNew(t, testConfig(t, p.URL, "STANDARD"))
	a := mustPut(t, t.Context(), s, []byte("append only"), "append only")
	if a.Lock != (store.Lock{}) || s.LockPolicy() != (store.LockPolicy{}) {
		t.Errorf("a store without ObjectLock: Archive.Lock %s, LockPolicy %+v; want none", a.Lock, s.LockPolicy())
	}
	for _, r := range p.seen("PutObject") {
		if r.Header.Get("X-Amz-Object-Lock-Mode") != "" {
			t.Errorf("PutObject %s carries a lock without ObjectLock", r.Path)
		}
	}
	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		if op != "DeleteObject" {
			return false
		}
		s3Error(w, http.StatusForbidden, "AccessDenied")
		return true
	})
	err := s.Delete(t.Context(), a.ID)
	if !errors.Is(err, store.ErrAccessDenied) || !store.IsPermanent(err) || errors.As(err, new(*store.ConfigError)) {
		t.Errorf("Delete with append-only credentials: %v, want a permanent ErrAccessDenied that is not a ConfigError", err)
	}
	p.setFault(nil)
	if _, err := rawClient(motoURL).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(a.ID))}); err != nil {
		t.Errorf("the archive is gone after a refused delete: %v", err)
	}
}

// TestPutNeverReplaces checks the If-None-Match: * of every archive write:
// a 412 after a lost reply is taken as success only when the object there
// is the one sent, and never makes the store delete what is there.
func TestPutNeverReplaces(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	s := mustNew(t, testConfig(t, p.URL, "STANDARD"))
	data := []byte("sent once, answered twice")
	// The first PutObject is stored but its reply is replaced by a 500, so
	// the SDK sends it again and S3 answers 412.
	first := true
	p.setModify(func(op string, resp *http.Response) {
		if op == "PutObject" && first && strings.Contains(resp.Request.URL.Path, archivesDir) {
			first = false
			resp.StatusCode = http.StatusInternalServerError
			resp.Body = http.NoBody
		}
	})
	a, err := s.Put(t.Context(), bytes.NewReader(data), "retried")
	p.setModify(nil)
	if err != nil {
		t.Fatalf("Put after a lost reply: %v", err)
	}
	var statuses []string
	for _, r := range p.seen("PutObject") {
		if r.Header.Get("If-None-Match") != "*" {
			t.Errorf("PutObject %s without If-None-Match: *", r.Path)
		}
		statuses = append(statuses, r.Path)
	}
	if len(statuses) != 2 || p.successes("PutObject") != 1 {
		t.Errorf("%d PutObject requests, %d stored; want 2 and 1 (the retry answered 412)", len(statuses), p.successes("PutObject"))
	}
	if got := readAll(t, s, waitReady(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})); !bytes.Equal(got, data) {
		t.Errorf("read back %q", got)
	}
}
