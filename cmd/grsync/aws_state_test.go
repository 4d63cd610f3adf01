package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/testutil/moto"
)

// noAWS is an environment with no AWS credentials, region, endpoint or
// configuration files at all.
func noAWS(dir string) []string {
	return []string{"HOME=" + dir, "AWS_CONFIG_FILE=" + filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-aws-credentials"), "AWS_EC2_METADATA_DISABLED=true"}
}

// Item 7: ls and every command that only reads the catalogue need no AWS
// credentials and no region; commands that reach the store remember the
// region and endpoint with the target, so restore --db works without
// --region (and without the endpoint a test server needs).
func TestCatalogueOnlyCommandsNeedNoAWSAndTargetsRememberRegion(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	createBucket(t, s3Client(m), "remember")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("alpha"), time.Unix(1700000000, 0))
	key := newKey(t, dir)
	creds := append(noAWS(dir), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	mustRunEnv(t, dir, creds, 0, "--bucket", "remember", "--prefix", "p", "--region", "us-east-1",
		"--endpoint-url", m.URL, "--storage-class", "STANDARD", "--encryption-key-file", key, src)

	r := mustRunEnv(t, dir, noAWS(dir), 0, "ls", "--db", "glacier.db")
	if !strings.Contains(r.stdout, "a.txt") {
		t.Errorf("ls should list the file without any AWS setting:\n%s", r)
	}
	r = mustRunEnv(t, dir, noAWS(dir), 0, "restore", "--dry-run", "--db", "glacier.db", "--output", "out")
	if !strings.Contains(r.stdout, "a.txt") {
		t.Errorf("restore --dry-run should only read the catalogue:\n%s", r)
	}
	mustRunEnv(t, dir, creds, 0, "restore", "--db", "glacier.db", "--encryption-key-file", key, "--output", "out")
	if b, _ := os.ReadFile(under(filepath.Join(dir, "out"), filepath.Join(src, "a.txt"))); string(b) != "alpha" {
		t.Errorf("restore without --region should use the target's region and endpoint: %q", b)
	}

	// forget changes the catalogue only: no credentials, region or
	// endpoint, on an S3 target's catalogue too.
	writeFile(t, filepath.Join(src, "a.txt"), []byte("alpha, again"), time.Unix(1700000100, 0))
	mustRunEnv(t, dir, creds, 0, "--db", "glacier.db", "--encryption-key-file", key, src)
	r = mustRunEnv(t, dir, noAWS(dir), 0, "forget", "--db", "glacier.db", "--keep-last", "1")
	if !strings.Contains(r.stdout, "forgot 1 version of ") {
		t.Errorf("forget should forget the older version without any AWS setting:\n%s", r)
	}
	r = mustRunEnv(t, dir, noAWS(dir), 0, "ls", "--versions", "--db", "glacier.db")
	if strings.Count(r.stdout, "forgotten") != 1 {
		t.Errorf("after forget, a.txt's older version should be listed as forgotten:\n%s", r)
	}

	// The same for a vault: ls needs no credentials.
	_, env := emulator(t, glacieremu.Config{}, "v")
	mustRunEnv(t, dir, env, 0, "--db", "vault.db", "--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, src)
	r = mustRunEnv(t, dir, noAWS(dir), 0, "ls", "--db", "vault.db")
	if !strings.Contains(r.stdout, "a.txt") {
		t.Errorf("ls of a vault's catalogue should need no AWS setting:\n%s", r)
	}
}

// Item 9 (S3): the grsync-uploads/<id> sidecars do not outlive their
// uploads, and aborting an upload the store no longer has says so and
// exits 0.
func TestS3UploadSidecarsDoNotOutliveUploads(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "sidecars")
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sidecars"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	sidecar := `{"description":"1:eA==","part_size":5242880}`
	// A sidecar whose upload completed (grsync killed before removing it).
	orphan := strings.Repeat("A", 43)
	put("p/grsync-uploads/"+orphan, sidecar)
	// An upload, with its sidecar, that something else aborts between
	// grsync's listing and its own abort.
	gone := strings.Repeat("B", 43)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("sidecars"), Key: aws.String("p/grsync/" + gone)})
	if err != nil {
		t.Fatal(err)
	}
	put("p/grsync-uploads/"+gone, sidecar)

	u, _ := url.Parse(m.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, ErrorLog: log.New(io.Discard, "", 0)}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && r.URL.Query().Get("uploadId") != "" {
			c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("sidecars"),
				Key: aws.String("p/grsync/" + gone), UploadId: up.UploadId})
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	dir := t.TempDir()
	env := append(m.Env(), "AWS_ENDPOINT_URL="+proxy.URL)
	r := mustRunEnv(t, dir, env, 0, "uploads", "abort", "--bucket", "sidecars", "--prefix", "p", "--region", "us-east-1")
	if !strings.Contains(r.stdout, "no longer") {
		t.Errorf("aborting an upload the store no longer has should say so:\n%s", r)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sidecars"), Prefix: aws.String("p/grsync-uploads/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		t.Errorf("sidecar %s outlived its upload", aws.ToString(o.Key))
	}
}
