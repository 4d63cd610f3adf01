package glacieremu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/treehash"
)

func TestUploadArchiveRoundTrip(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	data := randomData(3*MiB+100, 1)
	// Let the SDK compute both hashes itself, as its middleware does.
	out, err := e.client.UploadArchive(context.Background(), &glacier.UploadArchiveInput{
		VaultName:          aws.String(testVault),
		ArchiveDescription: aws.String("grsync|a.txt"),
		Body:               bytes.NewReader(data),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.ArchiveId)
	if len(id) != 138 {
		t.Errorf("archive id has %d characters, want 138 like Glacier's", len(id))
	}
	if got, want := aws.ToString(out.Checksum), treehash.Sum(data).String(); got != want {
		t.Errorf("returned tree hash %s, want %s", got, want)
	}
	if got, want := aws.ToString(out.Location), "/123456789012/vaults/"+testVault+"/archives/"+id; got != want {
		t.Errorf("Location = %s, want %s", got, want)
	}
	job := e.retrieve(t, testVault, id, nil)
	res, body := e.output(t, testVault, job, "")
	if !bytes.Equal(body, data) {
		t.Fatal("retrieved data differs")
	}
	if aws.ToString(res.ArchiveDescription) != "grsync|a.txt" || aws.ToString(res.Checksum) != treehash.Sum(data).String() || res.Status != 200 {
		t.Errorf("GetJobOutput headers: description %q, checksum %q, status %d",
			aws.ToString(res.ArchiveDescription), aws.ToString(res.Checksum), res.Status)
	}
	if got := e.srv.BytesReceived(OpUploadArchive); got != int64(len(data)) {
		t.Errorf("BytesReceived = %d, want %d", got, len(data))
	}
}

func TestUploadArchiveRules(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()
	data := []byte("some archive data")
	good := treehash.Sum(data).String()
	wrong := treehash.Sum([]byte("other")).String()

	upload := func(vault, desc, checksum string, body []byte) error {
		in := &glacier.UploadArchiveInput{VaultName: aws.String(vault), Body: bytes.NewReader(body)}
		if desc != "" {
			in.ArchiveDescription = aws.String(desc)
		}
		if checksum != "" {
			in.Checksum = aws.String(checksum)
		}
		_, err := e.client.UploadArchive(ctx, in)
		return err
	}
	t.Run("wrong tree hash", func(t *testing.T) {
		wantCode(t, upload(testVault, "", wrong, data), CodeInvalidParameter)
	})
	t.Run("malformed tree hash", func(t *testing.T) {
		wantCode(t, upload(testVault, "", "xyz", data), CodeInvalidParameter)
	})
	t.Run("missing vault", func(t *testing.T) {
		wantCode(t, upload("nope", "", good, data), CodeResourceNotFound)
	})
	t.Run("description too long", func(t *testing.T) {
		wantCode(t, upload(testVault, strings.Repeat("d", 1025), good, data), CodeInvalidParameter)
	})
	t.Run("description longest allowed", func(t *testing.T) {
		if err := upload(testVault, strings.Repeat("d", 1024), good, data); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("description not printable ASCII", func(t *testing.T) {
		wantCode(t, upload(testVault, "tab\there", good, data), CodeInvalidParameter)
		wantCode(t, upload(testVault, "caf\u00e9", good, data), CodeInvalidParameter)
	})
	t.Run("empty archive needs an explicit tree hash", func(t *testing.T) {
		// The SDK sends an empty x-amz-sha256-tree-hash for an empty body.
		wantCode(t, upload(testVault, "", "", nil), CodeMissingParameter)
		if err := upload(testVault, "", treehash.Sum(nil).String(), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("raw: no tree hash header", func(t *testing.T) {
		status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/archives", nil, data)
		if status != 400 || code != CodeMissingParameter {
			t.Errorf("got %d %s", status, code)
		}
	})
	t.Run("raw: wrong linear hash", func(t *testing.T) {
		bad := sha256.Sum256([]byte("x"))
		status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/archives", map[string]string{
			"x-amz-sha256-tree-hash": good,
			"x-amz-content-sha256":   hex.EncodeToString(bad[:]),
		}, data)
		if status != 400 || code != CodeInvalidParameter {
			t.Errorf("got %d %s", status, code)
		}
	})
	t.Run("raw: right linear hash and unsigned payload", func(t *testing.T) {
		lin := sha256.Sum256(data)
		for _, v := range []string{hex.EncodeToString(lin[:]), "UNSIGNED-PAYLOAD"} {
			status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/archives", map[string]string{
				"x-amz-sha256-tree-hash": good,
				"x-amz-content-sha256":   v,
			}, data)
			if status != 201 {
				t.Errorf("x-amz-content-sha256 %s: got %d %s", v, status, code)
			}
		}
	})
	t.Run("nothing stored by failed uploads", func(t *testing.T) {
		d, err := e.client.DescribeVault(ctx, &glacier.DescribeVaultInput{VaultName: aws.String(testVault)})
		if err != nil {
			t.Fatal(err)
		}
		// Successful: the 1024-character description, the empty archive,
		// and the two raw uploads with good hashes.
		if d.NumberOfArchives != 4 {
			t.Errorf("%d archives stored, want 4", d.NumberOfArchives)
		}
	})
}

func TestDeleteArchive(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()
	data := randomData(1000, 3)
	id := e.upload(t, testVault, "", data)
	// A retrieval started before the delete still delivers the data.
	job := e.retrieve(t, testVault, id, nil)
	if _, err := e.client.DeleteArchive(ctx, &glacier.DeleteArchiveInput{VaultName: aws.String(testVault), ArchiveId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.DeleteArchive(ctx, &glacier.DeleteArchiveInput{VaultName: aws.String(testVault), ArchiveId: aws.String(id)})
	wantCode(t, err, CodeResourceNotFound)
	if _, body := e.output(t, testVault, job, ""); !bytes.Equal(body, data) {
		t.Error("job output of a deleted archive differs")
	}
	_, err = e.client.InitiateJob(ctx, &glacier.InitiateJobInput{
		VaultName:     aws.String(testVault),
		JobParameters: archiveJob(id),
	})
	wantCode(t, err, CodeResourceNotFound)
}
