package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/testutil/moto"
)

// s3Client talks to moto directly, to create buckets and to look at what
// grsync stored.
func s3Client(m *moto.Server) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		HTTPClient:   m.Client,
	})
}

func createBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// eachObject calls fn with every object of bucket and what HeadObject
// (checksum mode on) says of it.
func eachObject(t *testing.T, c *s3.Client, bucket string, fn func(o types.Object, h *s3.HeadObjectOutput)) {
	t.Helper()
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: o.Key, ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			fn(o, h)
		}
	}
}

// Issue 4's scenario against moto: files from 0 bytes to 64 MiB into
// DEEP_ARCHIVE (multipart for the large ones), restore with --wait and the
// Bulk tier, inventory --rebuild into a fresh catalogue and a second
// restore; nothing in the bucket's keys or metadata names a file.
func TestMotoS3DeepArchive(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "backups")
	env := m.Env()
	dir := t.TempDir()
	src := filepath.Join(dir, "Secret-Projects")
	sizes := map[string]int{"empty.txt": 0, "one.bin": 1, "notes-secret.txt": 4096, "photo-secret.jpg": 3 << 20,
		"video-secret.mp4": 64 << 20, "sub/deeper/model-secret.bin": 9<<20 + 3}
	for name, n := range sizes {
		writeFile(t, filepath.Join(src, name), randomBytes(t, n), time.Unix(1700000000, int64(n)))
	}
	key := newKey(t, dir)
	target := []string{"--bucket", "backups", "--prefix", "laptop", "--region", "us-east-1", "--encryption-key-file", key}
	r := mustRunEnv(t, dir, env, 0, append(target, "--storage-class", "DEEP_ARCHIVE", src)...)
	if !strings.Contains(r.stdout, "uploaded      6 files") {
		t.Fatalf("all six files should be uploaded:\n%s", r)
	}

	// Every key and every object's metadata: no name, no path, no folder.
	var cold, hot int
	eachObject(t, c, "backups", func(o types.Object, h *s3.HeadObjectOutput) {
		text := *o.Key
		for k, v := range h.Metadata {
			text += " " + k + "=" + v
		}
		for _, secret := range []string{"secret", "Secret-Projects", "deeper", "photo", "video", "notes"} {
			if strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
				t.Errorf("object %s reveals %q: %s", *o.Key, secret, text)
			}
		}
		switch {
		case strings.HasPrefix(*o.Key, "laptop/grsync-refs/"): // refs: the store's marker, the catalogue pointers
			if o.StorageClass != "STANDARD" {
				t.Errorf("the ref %s has class %s, want STANDARD", *o.Key, o.StorageClass)
			}
		case o.StorageClass == "DEEP_ARCHIVE":
			cold++
		case o.StorageClass == "STANDARD": // the version records and the catalogue snapshot: readable without a restore
			hot++
		default:
			t.Errorf("object %s has class %s", *o.Key, o.StorageClass)
		}
	})
	// The files travel in packs (the 64 MiB video alone fills one); one
	// records object lists them; a snapshot copies the catalogue.
	if cold < 2 || hot != 2 {
		t.Fatalf("%d objects in DEEP_ARCHIVE and %d in STANDARD; want packs, one records object and one snapshot", cold, hot)
	}

	// Expedited does not exist for DEEP_ARCHIVE: refused before any request.
	r = grsync(t, dir, env, append([]string{"restore", "--output", "never", "--tier", "Expedited"}, target...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "Expedited") {
		t.Fatalf("Expedited on DEEP_ARCHIVE must be refused with exit 2:\n%s", r)
	}

	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--output", "out", "--tier", "Bulk", "--wait", "--poll", "1s"}, target...)...)
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)

	fresh := filepath.Join(dir, "fresh.db")
	r = mustRunEnv(t, dir, env, 0, append([]string{"inventory", "--rebuild", "--db", fresh}, target...)...)
	if !strings.Contains(r.stdout, "6 file versions added") {
		t.Fatalf("rebuild should find the six files:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--db", fresh, "--output", "out2", "--tier", "Bulk", "--wait", "--poll", "1s"}, target...)...)
	sameTree(t, src, filepath.Join(dir, "out2", strings.TrimPrefix(src, "/")), checkMeta)
	mustRunEnv(t, dir, env, 0, append([]string{"verify"}, target...)...)
}

// GLACIER_IR objects are read directly: no restore request is made.
func TestMotoS3GlacierIRRestoresDirectly(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "ir-bucket")
	env := m.Env()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a"), randomBytes(t, 200000), time.Unix(1700000000, 0))
	target := []string{"--bucket", "ir-bucket", "--region", "us-east-1", "--storage-class", "GLACIER_IR"}
	mustRunEnv(t, dir, env, 0, append(target, src)...)
	r := mustRunEnv(t, dir, env, 0, append([]string{"restore", "--output", "out"}, target...)...)
	if strings.Contains(r.stdout, "waiting") {
		t.Errorf("GLACIER_IR must not wait for a restore:\n%s", r)
	}
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
}

// TestMotoS3OverHTTPS backs up to S3 and restores over HTTPS, as AWS is
// reached (moto with a self-signed certificate, trusted through
// AWS_CA_BUNDLE, the SDK's own setting). Over HTTPS the SDK signs requests
// without hashing their bodies: every part and object carries its CRC32
// checksum, which S3 verifies and grsync checks back. A pack larger than a
// part goes up in several parts.
func TestMotoS3OverHTTPS(t *testing.T) {
	t.Parallel()
	m := moto.StartTLS(t)
	c := s3Client(m)
	createBucket(t, c, "tls-bucket")
	env := m.Env()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "big.bin"), randomBytes(t, 20<<20), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "small.txt"), []byte(strings.Repeat("over https ", 500)), time.Unix(1700000001, 0))
	writeFile(t, filepath.Join(src, "empty"), nil, time.Unix(1700000002, 0))
	key := newKey(t, dir)
	target := []string{"--bucket", "tls-bucket", "--region", "us-east-1", "--storage-class", "GLACIER_IR", "--encryption-key-file", key}
	r := mustRunEnv(t, dir, env, 0, append(target, src)...)
	if !strings.Contains(r.stdout, "uploaded      3 files") {
		t.Fatalf("all three files should be uploaded:\n%s", r)
	}

	var packs, multipart int
	eachObject(t, c, "tls-bucket", func(o types.Object, h *s3.HeadObjectOutput) {
		if o.StorageClass != "GLACIER_IR" {
			return // refs, records, the snapshot
		}
		packs++
		if aws.ToString(h.ChecksumCRC32) == "" || aws.ToString(h.ChecksumSHA256) != "" {
			t.Errorf("object %s: S3 holds CRC32 %q and SHA-256 %q; want a CRC32 checksum only", *o.Key, aws.ToString(h.ChecksumCRC32), aws.ToString(h.ChecksumSHA256))
		}
		if strings.Contains(aws.ToString(h.ETag), "-") {
			multipart++
		}
	})
	if packs == 0 || multipart == 0 {
		t.Fatalf("%d packs stored, %d of them in parts; want at least one multipart pack", packs, multipart)
	}
	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--output", "out"}, target...)...)
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
	mustRunEnv(t, dir, env, 0, append([]string{"verify"}, target...)...)
}
