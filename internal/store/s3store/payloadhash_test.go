package s3store

import "testing"

// The payload hash an upload is signed with is the SHA-256 of the body the
// server receives (S3 refuses the request otherwise), for a single
// PutObject and for every part of a multipart upload. With CRC32 checksums
// the SDK computes it over plain HTTP (over HTTPS it signs
// UNSIGNED-PAYLOAD); a SHA-256 upload continued gives its own digest
// (TestResumeComparesChecksums).
func TestUploadsSignTheBodyTheyCarry(t *testing.T) {
	t.Parallel()
	p := newProxy(t, startMoto(t))
	s := mustNew(t, testConfig(t, p.URL, "STANDARD"))
	small := randomBytes(100<<10, 1)
	big := randomBytes(2*MinPartSize+12345, 2) // three parts
	for _, data := range [][]byte{small, big} {
		if a := mustPut(t, t.Context(), s, data, ""); a.Size != int64(len(data)) {
			t.Fatalf("stored %d bytes of %d", a.Size, len(data))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	uploads := 0
	for _, r := range p.requests {
		if r.BodySHA256 == "" {
			continue
		}
		uploads++
		if got := r.Header.Get("X-Amz-Content-Sha256"); got != r.BodySHA256 {
			t.Errorf("%s %s part %s: signed with payload hash %q, the body's is %s", r.Op, r.Path, r.Query.Get("partNumber"), got, r.BodySHA256)
		}
	}
	// The small body, the multipart upload's note, three parts.
	if uploads != 5 || p.counts["UploadPart"] != 3 {
		t.Errorf("%d PutObject and UploadPart requests (%d parts), want 5 (3)", uploads, p.counts["UploadPart"])
	}
}
