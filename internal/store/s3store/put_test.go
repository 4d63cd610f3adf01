package s3store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/store"
)

// bucketKeys lists every key in the bucket, and every multipart upload.
func bucketKeys(t testing.TB, endpoint, bucket string) (keys, uploads []string) {
	t.Helper()
	c := rawClient(endpoint)
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	ups, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		uploads = append(uploads, aws.ToString(u.Key))
	}
	return keys, uploads
}

// assertEmpty fails if a failed Put left anything in the bucket.
func assertEmpty(t testing.TB, endpoint, bucket string) {
	t.Helper()
	if keys, uploads := bucketKeys(t, endpoint, bucket); len(keys)+len(uploads) != 0 {
		t.Errorf("a failed Put left objects %v and uploads %v", keys, uploads)
	}
}

// TestChecksumMismatchDetected makes S3 report checksums other than the ones
// sent: for a part, for a single-part object, and in the final HeadObject.
// Every Put must fail and leave nothing behind.
func TestChecksumMismatchDetected(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	cfg := testConfig(t, p.URL, "STANDARD")
	s := mustNew(t, cfg)
	const wrong = "AAAAAA=="
	for _, c := range []struct {
		name string
		op   string
		size int
	}{
		{"part", "UploadPart", 11 << 20},
		{"single object", "PutObject", 1000},
		{"final check of a multipart object", "HeadObject", 11 << 20},
		{"final check of a single object", "HeadObject", 1000},
	} {
		p.setModify(func(op string, resp *http.Response) {
			if op == c.op && resp.Header.Get("X-Amz-Checksum-Crc32") != "" {
				resp.Header.Set("X-Amz-Checksum-Crc32", wrong)
			}
		})
		_, err := s.Put(t.Context(), bytes.NewReader(randomBytes(c.size, 9)), "tampered")
		if !errors.Is(err, errChecksum) || !strings.Contains(err.Error(), s.Location()) {
			t.Errorf("%s: Put with a wrong checksum from S3: %v, want a checksum mismatch naming the store", c.name, err)
		}
		p.setModify(nil)
		assertEmpty(t, motoURL, cfg.Bucket)
	}
}

// TestTransientFaultsRetried injects throttling, 5xx replies and a dropped
// connection once each; the SDK's retries must carry the Put through with
// the same bytes.
func TestTransientFaultsRetried(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	s := mustNew(t, testConfig(t, p.URL, "DEEP_ARCHIVE"))
	var mu sync.Mutex
	injected := map[string]bool{}
	once := func(what string) bool {
		mu.Lock()
		defer mu.Unlock()
		if injected[what] {
			return false
		}
		injected[what] = true
		return true
	}
	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		part := r.URL.Query().Get("partNumber")
		switch {
		case op == "UploadPart" && part == "2" && once("throttle part 2"):
			io.Copy(io.Discard, r.Body)
			s3Error(w, http.StatusServiceUnavailable, "SlowDown")
		case op == "UploadPart" && part == "3" && once("drop part 3"):
			io.CopyN(io.Discard, r.Body, 1<<20)
			dropConnection(w)
		case op == "CompleteMultipartUpload" && once("fail complete"):
			s3Error(w, http.StatusInternalServerError, "InternalError")
		case op == "PutObject" && strings.Contains(r.URL.Path, "/grsync/") && once("fail single put"):
			io.Copy(io.Discard, r.Body)
			s3Error(w, http.StatusServiceUnavailable, "ServiceUnavailable")
		default:
			return false
		}
		return true
	})
	big := randomBytes(4*MinPartSize+123, 10)
	a := mustPut(t, ctx, s, big, "big")
	small := randomBytes(1000, 11)
	b := mustPut(t, ctx, s, small, "small")
	if len(injected) != 4 {
		t.Errorf("injected faults %v, want all four", injected)
	}
	if n := p.count("UploadPart"); n != 5+2 {
		t.Errorf("%d UploadPart requests, want 5 parts and 2 retries", n)
	}
	p.setFault(nil)
	for _, c := range []struct {
		a    store.Archive
		want []byte
	}{{a, big}, {b, small}} {
		if got := readAll(t, s, waitReady(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: c.a.ID})); !bytes.Equal(got, c.want) {
			t.Errorf("archive of %d bytes reads back differently after retries", len(c.want))
		}
	}
}

// TestPutFailureAborts checks that a part S3 refuses, and a cancellation in
// the middle of a multipart upload, abort the upload and leave nothing.
func TestPutFailureAborts(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	cfg := testConfig(t, p.URL, "GLACIER")
	s := mustNew(t, cfg)
	body := randomBytes(6*MinPartSize, 12)

	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		if op == "UploadPart" && r.URL.Query().Get("partNumber") == "3" {
			io.Copy(io.Discard, r.Body)
			s3Error(w, http.StatusForbidden, "AccessDenied")
			return true
		}
		return false
	})
	_, err := s.Put(t.Context(), bytes.NewReader(body), "refused")
	if err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), s.Location()) || !strings.Contains(err.Error(), "part 3") {
		t.Errorf("Put with a refused part: %v, want a permanent error naming the store and the part", err)
	}
	if n := p.successes("AbortMultipartUpload"); n != 1 {
		t.Errorf("%d successful AbortMultipartUpload requests, want 1", n)
	}
	assertEmpty(t, motoURL, cfg.Bucket)

	p.reset()
	p.setFault(nil)
	errDisk := errors.New("the disk went away")
	_, err = s.Put(t.Context(), &failingReader{data: body, failAt: 3*MinPartSize + 7, err: errDisk}, "body fails")
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), s.Location()) {
		t.Errorf("Put whose body fails after 3 parts: %v, want the body's error naming the store", err)
	}
	if n := p.successes("AbortMultipartUpload"); n != 1 {
		t.Errorf("%d successful AbortMultipartUpload requests after a body error, want 1", n)
	}
	assertEmpty(t, motoURL, cfg.Bucket)

	p.reset()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
		if op == "UploadPart" && r.URL.Query().Get("partNumber") == "2" {
			cancel()
		}
		return false
	})
	_, err = s.Put(ctx, bytes.NewReader(body), "cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put cancelled midway: %v, want context.Canceled", err)
	}
	if n := p.successes("AbortMultipartUpload"); n != 1 {
		t.Errorf("%d successful AbortMultipartUpload requests after cancelling, want 1 with a fresh context", n)
	}
	assertEmpty(t, motoURL, cfg.Bucket)
}

// TestPartSizes checks the choice between PutObject and multipart at the
// part size, and the part size raised from a size hint.
func TestPartSizes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := newProxy(t, startMoto(t))
	s := mustNew(t, testConfig(t, p.URL, "STANDARD"))
	for _, c := range []struct {
		name  string
		size  int
		hint  int64
		parts []int64 // nil: one PutObject
	}{
		{"exactly one part size", MinPartSize, -1, nil},
		{"one byte more", MinPartSize + 1, -1, []int64{MinPartSize, 1}},
		{"hint raises the part size to 7 MiB", 12 << 20, 60 << 30, []int64{7 << 20, 5 << 20}},
	} {
		p.reset()
		cctx := ctx
		if c.hint >= 0 {
			cctx = store.WithSizeHint(ctx, c.hint)
		}
		data := randomBytes(c.size, 13)
		a := mustPut(t, cctx, s, data, c.name)
		var parts []int64
		for _, r := range p.seen("UploadPart") {
			parts = append(parts, r.Length)
		}
		switch {
		case c.parts == nil && (p.count("CreateMultipartUpload") != 0 || p.count("PutObject") != 1):
			t.Errorf("%s: %d multipart uploads and %d PutObjects, want one PutObject", c.name, p.count("CreateMultipartUpload"), p.count("PutObject"))
		case c.parts != nil && !equalSorted(parts, c.parts):
			t.Errorf("%s: parts of %v bytes, want %v", c.name, parts, c.parts)
		}
		if got := readAll(t, s, waitReady(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})); !bytes.Equal(got, data) {
			t.Errorf("%s: reads back differently", c.name)
		}
	}
}

// equalSorted compares two small multisets.
func equalSorted(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[int64]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestPartSizeFor(t *testing.T) {
	s := &Store{cfg: Config{PartSize: DefaultPartSize}}
	for _, hint := range []int64{-1, 0, 1000, 80 << 30, 1 << 40, 5 << 40, 1 << 50} {
		ps := s.partSizeFor(hint)
		switch {
		case ps < DefaultPartSize || ps > MaxPartSize || ps%(1<<20) != 0:
			t.Errorf("hint %d: part size %d is not whole MiB within [8 MiB, 5 GiB]", hint, ps)
		case hint > 0 && hint < 1<<45 && ps*MaxParts < hint+hint/100+64<<10:
			t.Errorf("hint %d: %d parts of %d bytes leave no 1%% margin", hint, MaxParts, ps)
		case hint > 0 && hint <= DefaultPartSize*MaxParts*99/100 && ps != DefaultPartSize:
			t.Errorf("hint %d: part size raised to %d needlessly", hint, ps)
		}
	}
	if got := s.partSizeFor(1 << 40); got != 106<<20 {
		t.Errorf("part size for 1 TiB = %d MiB, want 106", got>>20)
	}
}

// TestReadResumes cuts a GetObject reply short once; the reader must resume
// from where it stopped, for the same version of the object.
func TestReadResumes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := newProxy(t, startMoto(t))
	s := mustNew(t, testConfig(t, p.URL, "STANDARD"))
	data := randomBytes(3<<20, 14)
	a := mustPut(t, ctx, s, data, "resumable")
	r := waitReady(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	var cut sync.Once
	p.setModify(func(op string, resp *http.Response) {
		if op == "GetObject" {
			cut.Do(func() { resp.Body = &failAfter{r: resp.Body, left: 1 << 20} })
		}
	})
	p.reset()
	if got := readAll(t, s, r); !bytes.Equal(got, data) {
		t.Fatal("a resumed read returned different bytes")
	}
	gets := p.seen("GetObject")
	if len(gets) != 2 {
		t.Fatalf("%d GetObject requests, want 2", len(gets))
	}
	rng := gets[1].Header.Get("Range")
	if !strings.HasPrefix(rng, "bytes=") || rng == "bytes=0-3145727" || gets[1].Header.Get("If-Match") == "" {
		t.Errorf("resumed with Range %q If-Match %q, want a later start and the ETag", rng, gets[1].Header.Get("If-Match"))
	}
}

// failAfter passes left bytes on, then fails.
type failAfter struct {
	r    io.ReadCloser
	left int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("connection cut by the test")
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= n
	return n, err
}

func (f *failAfter) Close() error { return f.r.Close() }

// failingReader serves data and fails with err once failAt bytes are read.
type failingReader struct {
	data   []byte
	pos    int
	failAt int
	err    error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.pos >= f.failAt {
		return 0, f.err
	}
	n := copy(p[:min(len(p), f.failAt-f.pos)], f.data[f.pos:])
	f.pos += n
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
