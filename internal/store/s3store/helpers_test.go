package s3store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/testutil/moto"
)

// TestMain gives every test dummy credentials and a region, and keeps the
// developer's own AWS configuration and endpoints out of the way.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3store-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"} {
		os.Unsetenv(v)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_REGION":                  "us-east-1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		os.Setenv(k, v)
	}
	defer os.RemoveAll(dir)
	m.Run() // the test binary exits with its result when TestMain returns
}

// rawClient is a plain S3 client for the endpoint, for test set-up and
// for inspecting what the store wrote.
func rawClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}

// newBucket creates an empty bucket on the server at endpoint.
func newBucket(t testing.TB, endpoint string) string {
	t.Helper()
	name := fmt.Sprintf("grsync-test-%016x", rand.Uint64())
	if _, err := rawClient(endpoint).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

// testConfig is a Config for a fresh bucket at endpoint with fast retries.
func testConfig(t testing.TB, endpoint, class string) Config {
	return Config{
		Bucket:       newBucket(t, endpoint),
		Prefix:       "backups/",
		StorageClass: class,
		EndpointURL:  endpoint,
		PartSize:     MinPartSize,
		MaxAttempts:  4,
		MaxBackoff:   10 * time.Millisecond,
	}
}

// mustNew opens a store and closes it at cleanup.
func mustNew(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// startMoto starts a moto server for the test.
func startMoto(t testing.TB) string {
	t.Helper()
	return moto.Start(t).URL
}

// setRestoreProgress sets how moto advances restores: with times 0 they
// complete at once (the default); with times n a restore moves one step
// (not started, in progress, done) on the first read of the object that
// comes after n others. The step out of "not started" must happen before
// the store looks, since moto reports a restore that has not started as
// done; see TestRestoreInProgressReused.
func setRestoreProgress(t testing.TB, motoURL string, times int) {
	t.Helper()
	transition := `{"progression": "immediate"}`
	if times > 0 {
		transition = fmt.Sprintf(`{"progression": "manual", "times": %d}`, times)
	}
	body := `{"model_name": "s3::keyrestore", "transition": ` + transition + `}`
	resp, err := http.Post(motoURL+"/moto-api/state-manager/set-transition", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("set-transition: %s: %s", resp.Status, msg)
	}
}

// readAll reads a whole ready retrieval.
func readAll(t testing.TB, s *Store, r store.Retrieval) []byte {
	t.Helper()
	return readRange(t, s, r, 0, -1)
}

func readRange(t testing.TB, s *Store, r store.Retrieval, off, length int64) []byte {
	t.Helper()
	rc, err := s.ReadRange(t.Context(), r, off, length)
	if err != nil {
		t.Fatalf("ReadRange(%d, %d): %v", off, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("ReadRange(%d, %d): reading: %v", off, length, err)
	}
	return b
}

// mustPut stores data and fails the test on error.
func mustPut(t testing.TB, ctx context.Context, s *Store, data []byte, desc string) store.Archive {
	t.Helper()
	a, err := s.Put(ctx, bytes.NewReader(data), desc)
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
	return a
}

// waitReady requests r and polls until it is ready.
func waitReady(t testing.TB, s *Store, r store.Retrieval) store.Retrieval {
	t.Helper()
	got, err := s.Request(t.Context(), r)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !got.Ready {
		if time.Now().After(deadline) {
			t.Fatalf("retrieval %+v not ready in time", got)
		}
		time.Sleep(20 * time.Millisecond)
		if got, err = s.Poll(t.Context(), got); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	return got
}

// headClass returns the storage class S3 reports for archive id.
func headClass(t testing.TB, endpoint string, s *Store, id string) types.StorageClass {
	t.Helper()
	out, err := rawClient(endpoint).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(id))})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if out.StorageClass == "" {
		return types.StorageClassStandard
	}
	return out.StorageClass
}
