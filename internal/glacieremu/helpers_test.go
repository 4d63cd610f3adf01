package glacieremu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
	"github.com/aws/aws-sdk-go-v2/service/glacier/types"
	"github.com/aws/smithy-go"

	"github.com/grsync/grsync/internal/treehash"
)

const (
	MiB       = 1 << 20
	testVault = "test-vault"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 3, 17, 6, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an emulator on an httptest server with an SDK client pointed at it.
type env struct {
	srv    *Server
	url    string
	clock  *fakeClock
	client *glacier.Client
}

// newEnv starts an emulator with cfg (a fake clock unless cfg.Now is set)
// and returns an SDK client that does not retry.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return &env{srv: srv, url: ts.URL, clock: clock, client: newClient(ts.URL, 1)}
}

// newClient returns the real SDK client with dummy static credentials and
// the standard retryer, without client-side rate limiting or backoff delays.
func newClient(url string, maxAttempts int) *glacier.Client {
	return glacier.New(glacier.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
				return time.Millisecond, nil
			})
		}),
	})
}

// apiCode returns the AWS error code of err and its HTTP status.
func apiCode(err error) (string, int) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", 0
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

// wantCode fails the test unless err carries the AWS error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got, _ := apiCode(err); got != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (e *env) createVault(t *testing.T, name string) {
	t.Helper()
	if _, err := e.client.CreateVault(context.Background(), &glacier.CreateVaultInput{VaultName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// upload stores data as one archive and returns its id.
func (e *env) upload(t *testing.T, vault, desc string, data []byte) string {
	t.Helper()
	out, err := e.client.UploadArchive(context.Background(), &glacier.UploadArchiveInput{
		VaultName:          aws.String(vault),
		ArchiveDescription: aws.String(desc),
		Body:               bytes.NewReader(data),
		Checksum:           aws.String(treehash.Sum(data).String()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ArchiveId
}

// retrieve runs an archive-retrieval job to completion and returns its id.
func (e *env) retrieve(t *testing.T, vault, archiveID string, byteRange *string) string {
	t.Helper()
	ctx := context.Background()
	out, err := e.client.InitiateJob(ctx, &glacier.InitiateJobInput{
		VaultName: aws.String(vault),
		JobParameters: &types.JobParameters{
			Type:               aws.String("archive-retrieval"),
			ArchiveId:          aws.String(archiveID),
			RetrievalByteRange: byteRange,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	return *out.JobId
}

// output reads a job's output, with an optional Range header.
func (e *env) output(t *testing.T, vault, jobID, rng string) (*glacier.GetJobOutputOutput, []byte) {
	t.Helper()
	in := &glacier.GetJobOutputInput{VaultName: aws.String(vault), JobId: aws.String(jobID)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := e.client.GetJobOutput(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

// raw sends a request the SDK would not send. Headers default to a valid
// Authorization and API version; a header set to "" is removed.
func (e *env) raw(t *testing.T, method, path string, headers map[string]string, body []byte) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240317/us-east-1/glacier/aws4_request, SignedHeaders=host, Signature=00")
	req.Header.Set("x-amz-glacier-version", APIVersion)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb struct {
		Code string `json:"code"`
		Type string `json:"type"`
	}
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(b, &eb); err != nil {
			t.Fatalf("error body is not JSON: %q", b)
		}
		if eb.Type != "Client" && eb.Type != "Server" {
			t.Fatalf("error body type = %q", eb.Type)
		}
	}
	return resp.StatusCode, eb.Code, resp.Header
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
