package glacieremu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/treehash"
)

func TestStartServesAndCloses(t *testing.T) {
	srv, err := New(Config{Delays: Delays{Expedited: time.Nanosecond, Standard: time.Nanosecond, Bulk: time.Nanosecond, Inventory: time.Nanosecond}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.URL() != "" {
		t.Errorf("URL before Start = %q", srv.URL())
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}
	c := newClient(srv.URL(), 1)
	ctx := context.Background()
	if _, err := c.CreateVault(ctx, &glacier.CreateVaultInput{VaultName: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	// With the real clock and 1ns delays, jobs are ready at once.
	data := []byte("now")
	up, err := c.UploadArchive(ctx, &glacier.UploadArchiveInput{VaultName: aws.String("v"), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.InitiateJob(ctx, &glacier.InitiateJobInput{VaultName: aws.String("v"), JobParameters: archiveJob(aws.ToString(up.ArchiveId))})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, err := c.GetJobOutput(ctx, &glacier.GetJobOutputInput{VaultName: aws.String("v"), JobId: job.JobId}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListVaults(ctx, &glacier.ListVaultsInput{}); err == nil {
		t.Error("request succeeded after Close")
	}
}

func TestDirStorage(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, Config{Dir: dir})
	e.createVault(t, testVault)
	data := randomData(2*MiB+17, 91)
	id := e.initiate(t, MiB, "on disk")
	for s := 0; s < len(data); s += MiB {
		if err := e.part(id, int64(s), data[s:min(s+MiB, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	out, err := e.complete(id, int64(len(data)), treehash.Sum(data))
	if err != nil {
		t.Fatal(err)
	}
	small := e.upload(t, testVault, "", []byte("small"))
	files := blobFiles(t, dir)
	var onDisk int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if len(files) != 4 || onDisk != int64(len(data))+5 {
		t.Errorf("%d files holding %d bytes, want the 3 parts and 1 archive holding %d", len(files), onDisk, len(data)+5)
	}
	job := e.retrieve(t, testVault, aws.ToString(out.ArchiveId), nil)
	if _, body := e.output(t, testVault, job, "bytes=1048570-2097159"); !bytes.Equal(body, data[MiB-6:2*MiB+8]) {
		t.Error("range across part files differs")
	}
	if _, err := e.client.DeleteArchive(context.Background(), &glacier.DeleteArchiveInput{VaultName: aws.String(testVault), ArchiveId: aws.String(small)}); err != nil {
		t.Fatal(err)
	}
	if n := len(blobFiles(t, dir)); n != 3 {
		t.Errorf("%d files after deleting an archive, want 3", n)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(blobFiles(t, dir)); n != 0 {
		t.Errorf("%d files left after Close", n)
	}
}

func blobFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "glacieremu-*", "blob-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// BenchmarkUploadPart measures 8 MiB parts sent by the SDK (which hashes
// them too) into the in-memory and the directory store.
func BenchmarkUploadPart(b *testing.B) {
	for _, store := range []string{"memory", "dir"} {
		b.Run(store, func(b *testing.B) {
			cfg := Config{}
			if store == "dir" {
				cfg.Dir = b.TempDir()
			}
			srv, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			if err := srv.Start("127.0.0.1:0"); err != nil {
				b.Fatal(err)
			}
			c := newClient(srv.URL(), 1)
			ctx := context.Background()
			if _, err := c.CreateVault(ctx, &glacier.CreateVaultInput{VaultName: aws.String("b")}); err != nil {
				b.Fatal(err)
			}
			const size = 8 * MiB
			up, err := c.InitiateMultipartUpload(ctx, &glacier.InitiateMultipartUploadInput{VaultName: aws.String("b"), PartSize: aws.String(itoa(size))})
			if err != nil {
				b.Fatal(err)
			}
			data := randomData(size, 1)
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				_, err := c.UploadMultipartPart(ctx, &glacier.UploadMultipartPartInput{
					VaultName: aws.String("b"), UploadId: up.UploadId,
					Range: aws.String(fmt.Sprintf("bytes %d-%d/*", i*size, (i+1)*size-1)),
					Body:  bytes.NewReader(data)})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
