package s3store

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// TestMultipartDeepArchive puts 64 MiB in 8 MiB parts into DEEP_ARCHIVE,
// checks the upload was parallel, bounded in memory and checksummed, that
// reading before a restore fails as S3 fails, and that a Bulk restore then
// reads back the same bytes.
func TestMultipartDeepArchive(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	cfg := testConfig(t, p.URL, "DEEP_ARCHIVE")
	cfg.PartSize, cfg.Concurrency = 8<<20, 4
	s := mustNew(t, cfg)

	const partSize = 8 << 20
	data := randomBytes(64<<20, 42)
	p.reset()
	allocsBefore := s.bufAllocs.Load()
	a := mustPut(t, ctx, s, data, "sixty-four mebibytes")

	if got := p.count("UploadPart"); got != 8 {
		t.Errorf("%d UploadPart requests, want 8", got)
	}
	if p.count("CreateMultipartUpload") != 1 || p.count("CompleteMultipartUpload") != 1 {
		t.Errorf("create/complete requests: %d/%d, want 1/1", p.count("CreateMultipartUpload"), p.count("CompleteMultipartUpload"))
	}
	if got := p.maxConcurrent("UploadPart"); got < 2 || got > cfg.Concurrency {
		t.Errorf("at most %d parts were in flight at once, want 2 to %d", got, cfg.Concurrency)
	}
	if allocs := s.bufAllocs.Load() - allocsBefore; allocs > int64(cfg.Concurrency+1) {
		t.Errorf("Put allocated %d part buffers, want at most Concurrency+1 = %d", allocs, cfg.Concurrency+1)
	}
	// CRC32 (IEEE) of each part, big-endian; the object's is the CRC32
	// of their concatenation.
	crc := func(b []byte) []byte { return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)) }
	var digests []byte
	for i := 0; i < len(data); i += partSize {
		digests = append(digests, crc(data[i:i+partSize])...)
	}
	for _, req := range p.seen("UploadPart") {
		var n int
		fmt.Sscan(req.Query.Get("partNumber"), &n)
		if got, want := req.Header.Get("X-Amz-Checksum-Crc32"), base64.StdEncoding.EncodeToString(crc(data[(n-1)*partSize:n*partSize])); got != want {
			t.Errorf("part %d sent with checksum %q, want %q", n, got, want)
		}
	}
	whole := crc(digests)
	head, err := rawClient(motoURL).HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(cfg.Bucket), Key: aws.String(s.objectKey(a.ID)), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	// S3 appends the part count; moto's HeadObject leaves it off.
	if got, want := aws.ToString(head.ChecksumCRC32), base64.StdEncoding.EncodeToString(whole); strings.TrimSuffix(got, "-8") != want {
		t.Errorf("S3's checksum of the object is %q, want the composite %q(-8)", got, want)
	}
	if head.StorageClass != types.StorageClassDeepArchive {
		t.Errorf("storage class %q, want DEEP_ARCHIVE", head.StorageClass)
	}
	if a.Size != int64(len(data)) || a.TreeHash != treehash.Sum(data).String() {
		t.Errorf("Put returned size %d tree hash %s, want %d %s", a.Size, a.TreeHash, len(data), treehash.Sum(data))
	}

	// Not restored: S3 refuses the GET with InvalidObjectState.
	forged := store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, JobID: s.restoreJobID(a.ID), Ready: true, Size: a.Size}
	p.reset()
	if _, err := s.ReadRange(ctx, forged, 0, -1); !errors.Is(err, store.ErrNotReady) {
		t.Errorf("ReadRange before a restore: %v, want ErrNotReady", err)
	}
	if p.count("GetObject") != 1 {
		t.Errorf("%d GetObject requests, want the one S3 refused", p.count("GetObject"))
	}
	noJob := forged
	noJob.JobID = ""
	if _, err := s.Poll(ctx, noJob); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Poll without a job of an unrestored object: %v, want ErrNotFound", err)
	}

	r, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Tier: store.TierBulk, Days: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.JobID != "restore:backups/grsync/"+a.ID || r.Size != a.Size {
		t.Errorf("Request returned job %q size %d", r.JobID, r.Size)
	}
	restores := p.seen("RestoreObject")
	if len(restores) != 1 {
		t.Fatalf("%d RestoreObject requests, want 1", len(restores))
	}
	if body := string(restores[0].Body); !strings.Contains(body, "<Tier>Bulk</Tier>") || !strings.Contains(body, "<Days>3</Days>") {
		t.Errorf("restore request %s, want tier Bulk for 3 days", body)
	}
	r = waitReady(t, s, r)
	if d := time.Until(r.Expires); d < 2*24*time.Hour || d > 4*24*time.Hour {
		t.Errorf("restored copy expires %v from now, want about 3 days", d)
	}
	if got := readAll(t, s, r); !bytes.Equal(got, data) {
		t.Error("the restored object reads back different bytes")
	}
	if got := readRange(t, s, r, 20<<20+7, 9<<20); !bytes.Equal(got, data[20<<20+7:29<<20+7]) {
		t.Error("a range of the restored object differs")
	}
}

// TestExpeditedRefusedForDeepArchive checks that Expedited on DEEP_ARCHIVE
// is a ConfigError before any restore request is sent, and that GLACIER
// takes it.
func TestExpeditedRefusedForDeepArchive(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := newProxy(t, startMoto(t))
	cfg := testConfig(t, p.URL, "DEEP_ARCHIVE")

	p.reset()
	bad := cfg
	bad.Tier = store.TierExpedited
	_, err := New(ctx, bad)
	var ce *store.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Hint, "Bulk") {
		t.Errorf("New with DEEP_ARCHIVE and tier Expedited: %v, want a ConfigError with a hint", err)
	}
	if n := p.total(); n != 0 {
		t.Errorf("New sent %d requests before refusing", n)
	}

	s := mustNew(t, cfg)
	a := mustPut(t, ctx, s, []byte("deep"), "deep")
	p.reset()
	_, err = s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Tier: store.TierExpedited})
	if !errors.As(err, &ce) || !store.IsPermanent(err) || !strings.Contains(err.Error(), s.Location()) {
		t.Errorf("Request Expedited of a DEEP_ARCHIVE object: %v, want a permanent ConfigError naming the store", err)
	}
	if n := p.count("RestoreObject"); n != 0 {
		t.Errorf("%d RestoreObject requests were sent", n)
	}

	gcfg := testConfig(t, p.URL, "GLACIER")
	gs := mustNew(t, gcfg)
	ga := mustPut(t, ctx, gs, []byte("flexible"), "glacier")
	p.reset()
	r, err := gs.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: ga.ID, Tier: store.TierExpedited})
	if err != nil {
		t.Fatalf("Request Expedited of a GLACIER object: %v", err)
	}
	if rs := p.seen("RestoreObject"); len(rs) != 1 || !strings.Contains(string(rs[0].Body), "<Tier>Expedited</Tier>") {
		t.Errorf("GLACIER Expedited restore requests: %+v", rs)
	}
	if got := readAll(t, gs, waitReady(t, gs, r)); string(got) != "flexible" {
		t.Errorf("read %q", got)
	}
}

// TestGlacierIRReadsWithoutRestore checks that GLACIER_IR objects are read
// at once, with no restore request.
func TestGlacierIRReadsWithoutRestore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	s := mustNew(t, testConfig(t, p.URL, "glacier-ir"))
	data := randomBytes(100_000, 5)
	a := mustPut(t, ctx, s, data, "instant")
	if c := headClass(t, motoURL, s, a.ID); c != types.StorageClassGlacierIr {
		t.Errorf("storage class %q, want GLACIER_IR", c)
	}
	p.reset()
	r, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Tier: store.TierBulk})
	if err != nil || !r.Ready || r.JobID != "" || r.Size != int64(len(data)) {
		t.Fatalf("Request = %+v, %v; want ready at once without a job", r, err)
	}
	if got := readAll(t, s, r); !bytes.Equal(got, data) {
		t.Error("read back different bytes")
	}
	if n := p.count("RestoreObject"); n != 0 {
		t.Errorf("%d RestoreObject requests for a GLACIER_IR object", n)
	}
}

// TestRestoreInProgressReused checks that a restore in progress is reused,
// whether HeadObject shows it or RestoreObject answers
// RestoreAlreadyInProgress.
func TestRestoreInProgressReused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	motoURL := startMoto(t)
	setRestoreProgress(t, motoURL, 1)
	p := newProxy(t, motoURL)
	s := mustNew(t, testConfig(t, p.URL, "GLACIER"))
	data := randomBytes(5000, 6)
	a := mustPut(t, ctx, s, data, "slow restore")

	p.reset()
	want := store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}
	r1, err := s.Request(ctx, want)
	if err != nil || r1.Ready || r1.JobID == "" {
		t.Fatalf("first Request = %+v, %v; want a pending job", r1, err)
	}
	// Move moto's restore to "in progress" and keep it there.
	headClass(t, motoURL, s, a.ID)
	setRestoreProgress(t, motoURL, 1_000_000)

	r2, err := s.Request(ctx, want)
	if err != nil || r2.Ready || r2.JobID != r1.JobID {
		t.Fatalf("second Request = %+v, %v; want the same pending job", r2, err)
	}
	if n := p.count("RestoreObject"); n != 1 {
		t.Errorf("%d RestoreObject requests, want 1: the restore in progress is reused", n)
	}
	if _, err := s.ReadRange(ctx, r2, 0, -1); !errors.Is(err, store.ErrNotReady) {
		t.Errorf("ReadRange during the restore: %v, want ErrNotReady", err)
	}
	if polled, err := s.Poll(ctx, r2); err != nil || polled.Ready {
		t.Errorf("Poll during the restore = %+v, %v; want not ready", polled, err)
	}
	setRestoreProgress(t, motoURL, 0)
	if got := readAll(t, s, waitReady(t, s, r2)); !bytes.Equal(got, data) {
		t.Error("read back different bytes")
	}

	// Another client started a restore between our HeadObject and ours.
	b := mustPut(t, ctx, s, data, "raced")
	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		if op == "RestoreObject" {
			s3Error(w, http.StatusConflict, "RestoreAlreadyInProgress")
			return true
		}
		return false
	})
	r3, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: b.ID})
	if err != nil || r3.Ready || r3.JobID != s.restoreJobID(b.ID) {
		t.Errorf("Request answered RestoreAlreadyInProgress = %+v, %v; want the pending job", r3, err)
	}
}

// TestExpiredRestoredCopy checks that a restored copy past its expiry, or
// gone, is ErrExpired, and that Request then restores again.
func TestExpiredRestoredCopy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := newProxy(t, startMoto(t))
	s := mustNew(t, testConfig(t, p.URL, "DEEP_ARCHIVE"))
	a := mustPut(t, ctx, s, []byte("thawed"), "thawed")
	r := waitReady(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})

	p.setModify(func(op string, resp *http.Response) {
		if op == "HeadObject" && resp.Header.Get("X-Amz-Restore") != "" {
			resp.Header.Set("X-Amz-Restore", `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`)
		}
	})
	if _, err := s.Poll(ctx, r); !errors.Is(err, store.ErrExpired) || !strings.Contains(err.Error(), s.Location()) {
		t.Errorf("Poll of an expired copy: %v, want ErrExpired naming the store", err)
	}
	unknownSize := r
	unknownSize.Size = -1
	if _, err := s.ReadRange(ctx, unknownSize, 0, -1); !errors.Is(err, store.ErrExpired) {
		t.Errorf("ReadRange of an expired copy: %v, want ErrExpired", err)
	}
	p.reset()
	if again, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}); err != nil || again.Ready {
		t.Errorf("Request after expiry = %+v, %v; want a new pending restore", again, err)
	}
	if n := p.count("RestoreObject"); n != 1 {
		t.Errorf("%d RestoreObject requests after expiry, want 1", n)
	}

	p.setModify(func(op string, resp *http.Response) { resp.Header.Del("X-Amz-Restore") })
	if _, err := s.Poll(ctx, r); !errors.Is(err, store.ErrExpired) {
		t.Errorf("Poll of a job whose copy is gone: %v, want ErrExpired", err)
	}
}
