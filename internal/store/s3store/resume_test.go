package s3store

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/storetest"
)

// resumeBody is the size of the test bodies: five parts and a bit, six
// parts in all.
const resumeBody = 5*MinPartSize + 100

// craftUpload starts a resumable upload as PutResumable does (with its
// sidecar) and stores the given parts of data (numbered from 1) through
// the store's own part upload, as an earlier run would have.
func craftUpload(t *testing.T, s *Store, desc string, data []byte, parts ...int32) store.UploadRef {
	t.Helper()
	return craftUploadAlg(t, s, desc, data, uploadAlg, parts...)
}

// craftUploadAlg is craftUpload with parts checksummed with alg. A SHA-256
// upload gets the sidecar grsync wrote before it used CRC32: one without
// the algorithm.
func craftUploadAlg(t *testing.T, s *Store, desc string, data []byte, alg checksumAlg, parts ...int32) store.UploadRef {
	t.Helper()
	id := newID()
	uploadID, err := s.startMultipart(t.Context(), id, desc, MinPartSize, alg, s.newLockUntil())
	if err != nil {
		t.Fatal(err)
	}
	if alg == algSHA256 {
		old, err := json.Marshal(map[string]any{"description": descriptionMetadata(desc)[descMetaKey], "part_size": MinPartSize})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(s.cfg.Bucket),
			Key: aws.String(s.uploadKey(id)), Body: bytes.NewReader(old)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range parts {
		b := data[int(n-1)*MinPartSize : min(int(n)*MinPartSize, len(data))]
		if _, err := s.uploadPart(t.Context(), s.objectKey(id), uploadID, alg, chunk{n, b}); err != nil {
			t.Fatal(err)
		}
	}
	return store.UploadRef{ID: uploadHandle(id, uploadID), PartSize: MinPartSize}
}

// skipCounter returns ResumeOptions continuing ref that add skipped bytes
// to *n.
func skipCounter(ref *store.UploadRef, n *int64) store.ResumeOptions {
	return store.ResumeOptions{Resume: ref, Skipped: func(k int64) { *n += k }}
}

// readBack checks that archive a reads back as data.
func readBack(t *testing.T, s *Store, a store.Archive, data []byte) {
	t.Helper()
	if got := readAll(t, s, waitReady(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})); !bytes.Equal(got, data) {
		t.Errorf("archive %s reads back %d bytes that differ from the %d put", a.ID, len(got), len(data))
	}
}

// TestResumeHoldsBackMissingParts continues an upload whose S3 copy holds
// parts 1 and 3 (moto reports no checksums: the ETags, plain MD5s, are
// compared). With part 3 changed nothing may be sent, not even part 2;
// with the right body only the missing parts are.
func TestResumeHoldsBackMissingParts(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	cfg := testConfig(t, p.URL, "STANDARD")
	s := mustNew(t, cfg)
	data := randomBytes(resumeBody, 41)
	ref := craftUpload(t, s, "holes", data, 1, 3)

	changed := slices.Clone(data)
	changed[2*MinPartSize+9] ^= 1
	p.reset()
	var skipped int64
	// The body pauses before part 3, so that a part 2 sent too early would
	// reach S3 before part 3 is found changed.
	body := storetest.PauseReader(bytes.NewReader(changed), 2*MinPartSize, 100*time.Millisecond)
	_, err := s.PutResumable(t.Context(), body, "holes", skipCounter(&ref, &skipped))
	if !errors.Is(err, store.ErrCannotResume) || !store.IsPermanent(err) {
		t.Fatalf("continuing with a changed held part: %v, want a permanent ErrCannotResume", err)
	}
	if n := p.count("UploadPart") + p.count("AbortMultipartUpload"); n != 0 {
		t.Errorf("%d parts sent or aborts made before the changed part was found, want none", n)
	}
	if _, uploads := bucketKeys(t, motoURL, cfg.Bucket); len(uploads) != 1 {
		t.Errorf("uploads %v after the refusal, want the one left as it was", uploads)
	}

	p.reset()
	skipped = 0
	a, err := s.PutResumable(t.Context(), bytes.NewReader(data), "holes", skipCounter(&ref, &skipped))
	if err != nil {
		t.Fatalf("continuing with the right body: %v", err)
	}
	if n := p.count("UploadPart"); n != 4 || skipped != 2*MinPartSize {
		t.Errorf("%d parts sent and %d bytes skipped, want the 4 missing parts sent and 2 parts skipped", n, skipped)
	}
	readBack(t, s, a, data)
	if keys, uploads := bucketKeys(t, motoURL, cfg.Bucket); len(keys) != 1 || len(uploads) != 0 {
		t.Errorf("keys %v and uploads %v, want the archive alone", keys, uploads)
	}
}

// rewriteListParts makes the proxy pass ListParts replies through edit,
// which gets each part's number and XML element.
func rewriteListParts(p *proxy, edit func(num int, part string) string) {
	partRE := regexp.MustCompile(`(?s)<Part>.*?</Part>`)
	numRE := regexp.MustCompile(`<PartNumber>(\d+)</PartNumber>`)
	p.setModify(func(op string, resp *http.Response) {
		if op != "ListParts" || resp.StatusCode != http.StatusOK {
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = partRE.ReplaceAllFunc(body, func(part []byte) []byte {
			m := numRE.FindSubmatch(part)
			num, _ := strconv.Atoi(string(m[1]))
			return []byte(edit(num, string(part)))
		})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	})
}

// TestResumeComparesChecksums makes ListParts report the parts' checksums,
// as S3 does for uploads made with them: they are compared rather than the
// ETags, and a part whose checksum differs is refused although its ETag
// matches. Where neither a checksum nor a plain MD5 ETag is reported, the
// part is sent again. Uploads are made with CRC32; one that an older grsync
// started with SHA-256 is continued with SHA-256, and S3's composite
// checksum of the object is the one of its algorithm.
func TestResumeComparesChecksums(t *testing.T) {
	t.Parallel()
	for _, alg := range []checksumAlg{algCRC32, algSHA256} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			testResumeComparesChecksums(t, alg)
		})
	}
}

func testResumeComparesChecksums(t *testing.T, alg checksumAlg) {
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	cfg := testConfig(t, p.URL, "STANDARD")
	s := mustNew(t, cfg)
	data := randomBytes(resumeBody, 42)
	ref := craftUploadAlg(t, s, "checksums", data, alg, 1, 2, 3)
	part := func(num int) []byte { return data[(num-1)*MinPartSize : min(num*MinPartSize, len(data))] }
	checksum := func(num int) string { return encode(alg.digest(part(num))) }
	wrong := encode(make([]byte, len(alg.digest(nil))))
	element := "ChecksumCRC32"
	if alg == algSHA256 {
		element = "ChecksumSHA256"
	}
	withChecksum := func(part, sum string) string {
		return regexp.MustCompile(`</PartNumber>`).ReplaceAllString(part, "</PartNumber><"+element+">"+sum+"</"+element+">")
	}

	rewriteListParts(p, func(num int, part string) string {
		if num == 2 {
			return withChecksum(part, wrong)
		}
		return withChecksum(part, checksum(num))
	})
	var skipped int64
	_, err := s.PutResumable(t.Context(), bytes.NewReader(data), "checksums", skipCounter(&ref, &skipped))
	if !errors.Is(err, store.ErrCannotResume) {
		t.Fatalf("continuing where S3 reports another checksum for part 2: %v, want ErrCannotResume", err)
	}

	// No checksum, and an ETag that is no MD5 (as with SSE-KMS): part 2 is
	// sent again; parts 1 and 3 are compared by their checksums.
	rewriteListParts(p, func(num int, part string) string {
		if num == 2 {
			return regexp.MustCompile(`<ETag>[^<]*</ETag>`).ReplaceAllString(part, "<ETag>&quot;not-an-md5&quot;</ETag>")
		}
		return withChecksum(part, checksum(num))
	})
	p.reset()
	skipped = 0
	a, err := s.PutResumable(t.Context(), bytes.NewReader(data), "checksums", skipCounter(&ref, &skipped))
	if err != nil {
		t.Fatalf("continuing: %v", err)
	}
	var sent []string
	for _, r := range p.seen("UploadPart") {
		sent = append(sent, r.Query.Get("partNumber"))
	}
	slices.Sort(sent)
	if !slices.Equal(sent, []string{"2", "4", "5", "6"}) || skipped != 2*MinPartSize {
		t.Errorf("parts %v sent and %d bytes skipped, want parts 2, 4, 5 and 6 sent, and parts 1 and 3 skipped", sent, skipped)
	}
	header := "X-Amz-Checksum-" + map[checksumAlg]string{algCRC32: "Crc32", algSHA256: "Sha256"}[alg]
	for _, r := range p.seen("UploadPart") {
		num, _ := strconv.Atoi(r.Query.Get("partNumber"))
		if got := r.Header.Get(header); got != checksum(num) {
			t.Errorf("part %d sent with %s %q, want %q", num, header, got, checksum(num))
		}
		if got := r.Header.Get("X-Amz-Content-Sha256"); got != r.BodySHA256 {
			t.Errorf("part %d signed with payload hash %q, the body's is %s", num, got, r.BodySHA256)
		}
	}
	p.setModify(nil)
	readBack(t, s, a, data)
	head, err := s.client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(s.objectKey(a.ID)),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	var digests [][]byte
	for num := 1; num <= 6; num++ {
		digests = append(digests, alg.digest(part(num)))
	}
	if got, want := alg.pick(head.ChecksumCRC32, head.ChecksumSHA256), alg.composite(digests); !sameComposite(got, want) {
		t.Errorf("S3's %s of the object is %q, want the composite %q", alg, got, want)
	}
}

// TestResumableFailures: a part S3 keeps failing leaves a new resumable
// upload (a transient failure), which a later call completes; a part S3
// refuses aborts it, as Put does; so does a failing Started.
func TestResumableFailures(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	p := newProxy(t, motoURL)
	cfg := testConfig(t, p.URL, "STANDARD")
	s := mustNew(t, cfg)
	data := randomBytes(resumeBody, 43)
	failPart3 := func(status int, code string) {
		p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
			if op == "UploadPart" && r.URL.Query().Get("partNumber") == "3" {
				io.Copy(io.Discard, r.Body)
				s3Error(w, status, code)
				return true
			}
			return false
		})
	}

	failPart3(http.StatusInternalServerError, "InternalError")
	var ref store.UploadRef
	opt := store.ResumeOptions{Started: func(r store.UploadRef) error { ref = r; return nil }}
	_, err := s.PutResumable(t.Context(), bytes.NewReader(data), "transient", opt)
	if err == nil || store.IsPermanent(err) {
		t.Fatalf("PutResumable while part 3 fails: %v, want a transient error", err)
	}
	if ups, err := s.ListUploads(t.Context()); err != nil || len(ups) != 1 || ups[0].ID != ref.ID || ups[0].PartSize != MinPartSize {
		t.Fatalf("ListUploads = %v, %v; want the upload %s left to continue", ups, err, ref.ID)
	}
	p.setFault(nil)
	a, err := s.PutResumable(t.Context(), bytes.NewReader(data), "transient", store.ResumeOptions{Resume: &ref})
	if err != nil {
		t.Fatalf("continuing once S3 is back: %v", err)
	}
	readBack(t, s, a, data)
	if err := s.Delete(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}

	failPart3(http.StatusForbidden, "AccessDenied")
	_, err = s.PutResumable(t.Context(), bytes.NewReader(data), "refused", store.ResumeOptions{})
	if err == nil || !store.IsPermanent(err) {
		t.Fatalf("PutResumable with a refused part: %v, want a permanent error", err)
	}
	p.setFault(nil)
	assertEmpty(t, motoURL, cfg.Bucket)

	errRefused := errors.New("no catalogue")
	_, err = s.PutResumable(t.Context(), bytes.NewReader(data), "not recorded",
		store.ResumeOptions{Started: func(store.UploadRef) error { return errRefused }})
	if !errors.Is(err, errRefused) {
		t.Fatalf("PutResumable whose Started fails: %v, want its error", err)
	}
	if n := p.count("UploadPart"); n == 0 {
		t.Error("no part was sent in this test at all")
	}
	assertEmpty(t, motoURL, cfg.Bucket)
}

// TestResumeRefusesOtherUploads: a ref whose part size or description is
// not the sidecar's, an upload whose sidecar is gone, and ids that name no
// upload are ErrCannotResume, and leave the upload.
func TestResumeRefusesOtherUploads(t *testing.T) {
	t.Parallel()
	motoURL := startMoto(t)
	cfg := testConfig(t, motoURL, "STANDARD")
	s := mustNew(t, cfg)
	data := randomBytes(2*MinPartSize, 44)
	ref := craftUpload(t, s, "mine", data, 1)
	id, _, _ := strings.Cut(ref.ID, ":")
	for _, c := range []struct {
		name     string
		ref      store.UploadRef
		desc     string
		notFound bool
	}{
		{"another part size", store.UploadRef{ID: ref.ID, PartSize: 2 * MinPartSize}, "mine", false},
		{"another description", ref, "yours", false},
		{"an unknown S3 upload", store.UploadRef{ID: id + ":nosuchupload", PartSize: MinPartSize}, "mine", true},
		{"a malformed id", store.UploadRef{ID: "no-colon", PartSize: MinPartSize}, "mine", true},
	} {
		_, err := s.PutResumable(t.Context(), bytes.NewReader(data), c.desc, store.ResumeOptions{Resume: &c.ref})
		if !errors.Is(err, store.ErrCannotResume) || errors.Is(err, store.ErrNotFound) != c.notFound {
			t.Errorf("%s: %v, want ErrCannotResume (wrapping ErrNotFound: %v)", c.name, err, c.notFound)
		}
	}
	s.removeUploadSidecar(t.Context(), id)
	if _, err := s.PutResumable(t.Context(), bytes.NewReader(data), "mine", store.ResumeOptions{Resume: &ref}); !errors.Is(err, store.ErrCannotResume) {
		t.Errorf("continuing an upload without its sidecar: %v, want ErrCannotResume", err)
	}
	if _, uploads := bucketKeys(t, motoURL, cfg.Bucket); len(uploads) != 1 {
		t.Errorf("uploads %v, want the one refused, left", uploads)
	}
}
