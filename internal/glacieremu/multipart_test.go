package glacieremu

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/treehash"
)

// initiate starts a multipart upload and returns its id.
func (e *env) initiate(t *testing.T, partSize int64, desc string) string {
	t.Helper()
	out, err := e.client.InitiateMultipartUpload(context.Background(), &glacier.InitiateMultipartUploadInput{
		VaultName:          aws.String(testVault),
		PartSize:           aws.String(itoa(partSize)),
		ArchiveDescription: aws.String(desc),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.UploadId)
}

// part uploads data at offset start; the SDK computes the hashes.
func (e *env) part(uploadID string, start int64, data []byte) error {
	_, err := e.client.UploadMultipartPart(context.Background(), &glacier.UploadMultipartPartInput{
		VaultName: aws.String(testVault),
		UploadId:  aws.String(uploadID),
		Range:     aws.String(fmt.Sprintf("bytes %d-%d/*", start, start+int64(len(data))-1)),
		Body:      bytes.NewReader(data),
	})
	return err
}

func (e *env) complete(uploadID string, size int64, tree treehash.Digest) (*glacier.CompleteMultipartUploadOutput, error) {
	return e.client.CompleteMultipartUpload(context.Background(), &glacier.CompleteMultipartUploadInput{
		VaultName:   aws.String(testVault),
		UploadId:    aws.String(uploadID),
		ArchiveSize: aws.String(itoa(size)),
		Checksum:    aws.String(tree.String()),
	})
}

func TestMultipartRoundTrip(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()
	data := randomData(2*MiB+MiB/2, 5) // three parts: 1 MiB, 1 MiB, 0.5 MiB
	id := e.initiate(t, MiB, "big file")

	// Upload out of order, and one part twice (the second replaces it).
	for _, start := range []int64{2 * MiB, 0, MiB, 0} {
		if err := e.part(id, start, data[start:min(start+MiB, int64(len(data)))]); err != nil {
			t.Fatal(err)
		}
	}
	lp, err := e.client.ListParts(ctx, &glacier.ListPartsInput{VaultName: aws.String(testVault), UploadId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != 3 || aws.ToString(lp.Parts[2].RangeInBytes) != "2097152-2621439" ||
		aws.ToString(lp.Parts[1].SHA256TreeHash) != treehash.Sum(data[MiB:2*MiB]).String() ||
		lp.PartSizeInBytes != MiB || aws.ToString(lp.ArchiveDescription) != "big file" || lp.Marker != nil {
		t.Errorf("ListParts = %+v", lp)
	}
	lu, err := e.client.ListMultipartUploads(ctx, &glacier.ListMultipartUploadsInput{VaultName: aws.String(testVault)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lu.UploadsList) != 1 || aws.ToString(lu.UploadsList[0].MultipartUploadId) != id {
		t.Errorf("ListMultipartUploads = %+v", lu)
	}

	tree := treehash.Sum(data)
	out, err := e.complete(id, int64(len(data)), tree)
	if err != nil {
		t.Fatal(err)
	}
	archiveID := aws.ToString(out.ArchiveId)
	if aws.ToString(out.Checksum) != tree.String() {
		t.Errorf("Complete returned tree hash %s, want %s", aws.ToString(out.Checksum), tree)
	}
	// Completing again (a retry after a lost response) returns the same archive.
	again, err := e.complete(id, int64(len(data)), tree)
	if err != nil || aws.ToString(again.ArchiveId) != archiveID {
		t.Errorf("repeated Complete: %v, id %q, want %q", err, aws.ToString(again.ArchiveId), archiveID)
	}
	// But the upload is gone from the listings.
	_, err = e.client.ListParts(ctx, &glacier.ListPartsInput{VaultName: aws.String(testVault), UploadId: aws.String(id)})
	wantCode(t, err, CodeResourceNotFound)

	job := e.retrieve(t, testVault, archiveID, nil)
	if _, body := e.output(t, testVault, job, ""); !bytes.Equal(body, data) {
		t.Error("retrieved multipart archive differs")
	}
	wantBytes := int64(len(data) + MiB) // part 0 was sent twice
	if got := e.srv.BytesReceived(OpUploadMultipartPart); got != wantBytes {
		t.Errorf("BytesReceived(UploadMultipartPart) = %d, want %d", got, wantBytes)
	}
}

func TestMultipartRules(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()
	data := randomData(3*MiB, 7)

	t.Run("part sizes", func(t *testing.T) {
		for _, ps := range []string{"0", "1024", "3145728", "1048577", "8589934592", "-1048576", "abc"} {
			_, err := e.client.InitiateMultipartUpload(ctx, &glacier.InitiateMultipartUploadInput{
				VaultName: aws.String(testVault), PartSize: aws.String(ps)})
			wantCode(t, err, CodeInvalidParameter)
		}
		for _, ps := range []int64{MiB, 2 * MiB, 4 << 30} {
			e.initiate(t, ps, "")
		}
		status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/multipart-uploads", nil, nil)
		if status != 400 || code != CodeMissingParameter {
			t.Errorf("no part size: %d %s", status, code)
		}
	})
	t.Run("misaligned range", func(t *testing.T) {
		id := e.initiate(t, 2*MiB, "")
		wantCode(t, e.part(id, MiB, data[MiB:3*MiB]), CodeInvalidParameter)
	})
	t.Run("part larger than part size", func(t *testing.T) {
		id := e.initiate(t, MiB, "")
		wantCode(t, e.part(id, 0, data[:2*MiB]), CodeInvalidParameter)
	})
	t.Run("wrong part tree hash", func(t *testing.T) {
		id := e.initiate(t, MiB, "")
		_, err := e.client.UploadMultipartPart(ctx, &glacier.UploadMultipartPartInput{
			VaultName: aws.String(testVault), UploadId: aws.String(id),
			Range:    aws.String(fmt.Sprintf("bytes 0-%d/*", MiB-1)),
			Body:     bytes.NewReader(data[:MiB]),
			Checksum: aws.String(treehash.Sum(data[1 : MiB+1]).String()),
		})
		wantCode(t, err, CodeInvalidParameter)
	})
	t.Run("raw: bad Content-Range", func(t *testing.T) {
		id := e.initiate(t, MiB, "")
		tree := treehash.Sum(data[:10]).String()
		for cr, want := range map[string]string{
			"":              CodeMissingParameter,
			"bytes 0-9":     CodeInvalidParameter,
			"bytes 0-9/20":  CodeInvalidParameter,
			"bytes=0-9/*":   CodeInvalidParameter,
			"bytes 9-0/*":   CodeInvalidParameter,
			"bytes 0-19/*":  CodeInvalidParameter, // does not match Content-Length
			"bytes -1-8/*":  CodeInvalidParameter,
			"bytes 0x0-9/*": CodeInvalidParameter,
			"bytes 0-9/*":   "",
		} {
			status, code, _ := e.raw(t, "PUT", "/-/vaults/"+testVault+"/multipart-uploads/"+id,
				map[string]string{"Content-Range": cr, "x-amz-sha256-tree-hash": tree}, data[:10])
			if code != want || (want == "" && status != 204) {
				t.Errorf("Content-Range %q: %d %q, want %q", cr, status, code, want)
			}
		}
	})
	t.Run("complete checks", func(t *testing.T) {
		id := e.initiate(t, MiB, "")
		for _, s := range []int64{0, MiB} {
			if err := e.part(id, s, data[s:s+MiB]); err != nil {
				t.Fatal(err)
			}
		}
		whole := treehash.Sum(data[:2*MiB])
		_, err := e.complete(id, 3*MiB, treehash.Sum(data)) // third part missing
		wantCode(t, err, CodeInvalidParameter)
		_, err = e.complete(id, MiB, treehash.Sum(data[:MiB])) // a part beyond the size
		wantCode(t, err, CodeInvalidParameter)
		_, err = e.complete(id, 2*MiB, treehash.Sum(data[1:2*MiB+1])) // wrong tree hash
		wantCode(t, err, CodeInvalidParameter)
		_, err = e.complete(id, 2*MiB-1, whole) // last part too long for the size
		wantCode(t, err, CodeInvalidParameter)
		_, err = e.complete(id, 0, treehash.Sum(nil))
		wantCode(t, err, CodeInvalidParameter)
		status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/multipart-uploads/"+id,
			map[string]string{"x-amz-sha256-tree-hash": whole.String()}, nil)
		if status != 400 || code != CodeMissingParameter {
			t.Errorf("no archive size: %d %s", status, code)
		}
		// The failures left the upload intact: it still completes.
		if _, err := e.complete(id, 2*MiB, whole); err != nil {
			t.Fatal(err)
		}
		// A different size or hash does not match the completed upload.
		_, err = e.complete(id, 2*MiB-5, whole)
		wantCode(t, err, CodeResourceNotFound)
	})
	t.Run("short part that is not last", func(t *testing.T) {
		id := e.initiate(t, MiB, "")
		// Accepted when sent: Glacier cannot know it is not the last part...
		if err := e.part(id, 0, data[:MiB-1]); err != nil {
			t.Fatal(err)
		}
		if err := e.part(id, MiB, data[MiB:2*MiB]); err != nil {
			t.Fatal(err)
		}
		// ...but the completion fails.
		_, err := e.complete(id, 2*MiB-1, treehash.Sum(append(append([]byte{}, data[:MiB-1]...), data[MiB:2*MiB]...)))
		wantCode(t, err, CodeInvalidParameter)
	})
	t.Run("abort", func(t *testing.T) {
		id := e.initiate(t, MiB, "")
		if err := e.part(id, 0, data[:MiB]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.AbortMultipartUpload(ctx, &glacier.AbortMultipartUploadInput{VaultName: aws.String(testVault), UploadId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.AbortMultipartUpload(ctx, &glacier.AbortMultipartUploadInput{VaultName: aws.String(testVault), UploadId: aws.String(id)})
		wantCode(t, err, CodeResourceNotFound)
		wantCode(t, e.part(id, MiB, data[MiB:2*MiB]), CodeResourceNotFound)
		_, err = e.complete(id, MiB, treehash.Sum(data[:MiB]))
		wantCode(t, err, CodeResourceNotFound)
	})
}

func TestMultipartListPages(t *testing.T) {
	e := newEnv(t, Config{MinPartSize: 1024})
	e.createVault(t, testVault)
	ctx := context.Background()
	data := randomData(5*1024, 9)
	id := e.initiate(t, 1024, "")
	for i := int64(0); i < 5; i++ {
		if err := e.part(id, i*1024, data[i*1024:(i+1)*1024]); err != nil {
			t.Fatal(err)
		}
	}
	var ranges []string
	p := glacier.NewListPartsPaginator(e.client, &glacier.ListPartsInput{VaultName: aws.String(testVault), UploadId: aws.String(id), Limit: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range out.Parts {
			ranges = append(ranges, aws.ToString(part.RangeInBytes))
		}
	}
	if fmt.Sprint(ranges) != "[0-1023 1024-2047 2048-3071 3072-4095 4096-5119]" {
		t.Errorf("parts listed: %v", ranges)
	}
	for range 2 {
		e.initiate(t, 1024, "")
	}
	n := 0
	up := glacier.NewListMultipartUploadsPaginator(e.client, &glacier.ListMultipartUploadsInput{VaultName: aws.String(testVault), Limit: aws.Int32(2)})
	for up.HasMorePages() {
		out, err := up.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.UploadsList)
	}
	if n != 3 {
		t.Errorf("listed %d uploads, want 3", n)
	}
}

func TestPartCountLimit(t *testing.T) {
	// With 1 KiB parts, the 10,001st part sits at 10,000 KiB: a "10,001 MiB
	// archive" in miniature.
	e := newEnv(t, Config{MinPartSize: 1024})
	e.createVault(t, testVault)
	data := randomData(1024, 11)
	id := e.initiate(t, 1024, "")
	if err := e.part(id, 9999*1024, data); err != nil {
		t.Fatalf("part 10,000: %v", err)
	}
	wantCode(t, e.part(id, 10000*1024, data), CodeInvalidParameter)
	_, err := e.complete(id, 10000*1024+1, treehash.Sum(nil))
	wantCode(t, err, CodeInvalidParameter)

	// A smaller limit, completed: parts below 1 MiB are hashed afresh.
	e2 := newEnv(t, Config{MinPartSize: 1024, MaxPartCount: 3})
	e2.createVault(t, testVault)
	data = randomData(3*1024-7, 12)
	id = e2.initiate(t, 1024, "")
	for s := 0; s < len(data); s += 1024 {
		if err := e2.part(id, int64(s), data[s:min(s+1024, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, e2.part(id, 3*1024, data[:1]), CodeInvalidParameter)
	if _, err := e2.complete(id, int64(len(data)), treehash.Sum(data)); err != nil {
		t.Fatal(err)
	}
}
