package vault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/glacieremu"
)

const (
	MiB       = 1 << 20
	testVault = "grsync-test"
)

// TestMain points the AWS SDK at dummy credentials and at no shared config
// files, so the tests never read the user's ~/.aws nor ask IMDS.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vault-test-aws")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_GLACIER", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
		os.Unsetenv(k)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// emu is an in-process Glacier emulator on an httptest server.
type emu struct {
	srv *glacieremu.Server
	url string
}

// fastDelays makes jobs complete after a few milliseconds, so that polling
// is exercised without slowing the tests.
func fastDelays() glacieremu.Delays {
	return glacieremu.Delays{Expedited: time.Millisecond, Standard: 2 * time.Millisecond,
		Bulk: 3 * time.Millisecond, Inventory: 2 * time.Millisecond}
}

// newEmu starts an emulator with cfg (fast job delays unless set) holding
// an empty vault named testVault.
func newEmu(t testing.TB, cfg glacieremu.Config) *emu {
	t.Helper()
	if cfg.Delays == (glacieremu.Delays{}) {
		cfg.Delays = fastDelays()
	}
	srv, err := glacieremu.New(cfg)
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
	e := &emu{srv: srv, url: ts.URL}
	e.createVault(t, testVault)
	return e
}

// client returns a plain SDK client of the emulator that does not retry.
func (e *emu) client() *glacier.Client {
	return glacier.New(glacier.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(e.url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func (e *emu) createVault(t testing.TB, name string) {
	t.Helper()
	if _, err := e.client().CreateVault(context.Background(), &glacier.CreateVaultInput{
		AccountId: aws.String("-"), VaultName: aws.String(name),
	}); err != nil {
		t.Fatal(err)
	}
}

// uploadsLeft lists the vault's unfinished uploads straight from the
// emulator.
func (e *emu) uploadsLeft(t testing.TB) int {
	t.Helper()
	out, err := e.client().ListMultipartUploads(context.Background(), &glacier.ListMultipartUploadsInput{
		AccountId: aws.String("-"), VaultName: aws.String(testVault),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.UploadsList)
}

// testConfig is a store configuration for e with short backoffs.
func testConfig(e *emu) Config {
	return Config{
		Region:      "us-east-1",
		Vault:       testVault,
		EndpointURL: e.url,
		MaxBackoff:  2 * time.Millisecond,
	}
}

// newStore opens a store on e's vault with cfg changed by mod.
func newStore(t testing.TB, e *emu, mod func(*Config)) *Store {
	t.Helper()
	cfg := testConfig(e)
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg)
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
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// counter counts calls, for tests that watch what a store does.
type counter struct{ n atomic.Int64 }

func (c *counter) add()       { c.n.Add(1) }
func (c *counter) get() int64 { return c.n.Load() }
