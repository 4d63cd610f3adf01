package vault

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
)

// wantConfigError checks that err is a *store.ConfigError whose message and
// hint contain the given fragments.
func wantConfigError(t *testing.T, err error, msg []string, hint []string) {
	t.Helper()
	var ce *store.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a *store.ConfigError", err, err)
	}
	if !store.IsPermanent(err) {
		t.Errorf("config error %v is not permanent", err)
	}
	for _, m := range msg {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	for _, h := range hint {
		if !strings.Contains(ce.Hint, h) {
			t.Errorf("hint %q does not mention %q", ce.Hint, h)
		}
	}
}

func TestNewMissingVault(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	cfg := testConfig(e)
	cfg.Vault = "no-such-vault"
	_, err := New(t.Context(), cfg)
	wantConfigError(t, err,
		[]string{"glacier:us-east-1:no-such-vault", `vault "no-such-vault" does not exist in region us-east-1`},
		[]string{"create it with: aws glacier create-vault --vault-name no-such-vault --account-id - --region us-east-1"})
	if strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("error spans lines: %q", err)
	}
}

func TestNewNoCredentials(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err := New(t.Context(), testConfig(e))
	wantConfigError(t, err, []string{"glacier:us-east-1:grsync-test", "no AWS credentials found"},
		[]string{"AWS_ACCESS_KEY_ID", "--profile"})
	if n := e.srv.Stats()[glacieremu.OpDescribeVault].Requests; n != 0 {
		t.Errorf("%d requests sent without credentials", n)
	}
}

// TestNewRejectedCredentials answers every request as AWS answers a bad
// access key.
func TestNewRejectedCredentials(t *testing.T) {
	for _, code := range []string{"UnrecognizedClientException", "InvalidSignatureException", "MissingAuthenticationTokenException"} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"code":"` + code + `","message":"The security token included in the request is invalid.","type":"Client"}`))
		}))
		_, err := New(t.Context(), Config{Region: "eu-west-1", Vault: "v", EndpointURL: ts.URL, MaxBackoff: time.Millisecond})
		ts.Close()
		wantConfigError(t, err, []string{"glacier:eu-west-1:v", "AWS rejected the credentials", code},
			[]string{"AWS_ACCESS_KEY_ID", "--profile"})
	}
}

func TestNewAccessDenied(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	cfg := testConfig(e)
	cfg.AccountID = "999999999999" // the emulator serves another account
	_, err := New(t.Context(), cfg)
	wantConfigError(t, err, []string{"access denied", "AccessDeniedException"}, []string{"IAM policy"})
}

func TestNewUnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	start := time.Now()
	_, err = New(t.Context(), Config{Region: "us-west-2", Vault: "v", EndpointURL: url})
	wantConfigError(t, err, []string{"glacier:us-west-2:v", "cannot reach Amazon S3 Glacier in region us-west-2"},
		[]string{"--region", `"us-west-2"`, "--endpoint-url " + url})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %v to report an unreachable endpoint", d)
	}
}

// TestNewBadRegion uses a region that is not a host name, so no endpoint
// can be made of it (and no DNS lookup is needed to find out).
func TestNewBadRegion(t *testing.T) {
	_, err := New(t.Context(), Config{Region: "us east 1", Vault: "v"})
	wantConfigError(t, err, []string{"cannot reach Amazon S3 Glacier"}, []string{"--region", "AWS_ENDPOINT_URL"})
}

func TestNewNoRegion(t *testing.T) {
	_, err := New(t.Context(), Config{Vault: "v"})
	wantConfigError(t, err, []string{"no AWS region"}, []string{"--region", "AWS_REGION"})
}

func TestNewUnknownProfile(t *testing.T) {
	_, err := New(t.Context(), Config{Region: "us-east-1", Vault: "v", Profile: "nobody"})
	wantConfigError(t, err, []string{"nobody"}, []string{"--profile"})
}

func TestNewBadSettings(t *testing.T) {
	for _, cfg := range []Config{
		{Region: "us-east-1"},
		{Region: "us-east-1", Vault: "v", PartSize: 3 * MiB},
		{Region: "us-east-1", Vault: "v", PartSize: 8 << 30},
		{Region: "us-east-1", Vault: "v", PartSize: MiB / 2},
		{Region: "us-east-1", Vault: "v", Concurrency: -1},
	} {
		_, err := New(context.Background(), cfg)
		wantConfigError(t, err, []string{"glacier vault"}, []string{"--"})
	}
}

// TestEndpointFromEnvironment: with no EndpointURL, the SDK finds the
// endpoint where the AWS CLI does.
func TestEndpointFromEnvironment(t *testing.T) {
	for _, name := range []string{"AWS_ENDPOINT_URL_GLACIER", "AWS_ENDPOINT_URL"} {
		t.Run(name, func(t *testing.T) {
			e := newEmu(t, glacieremu.Config{})
			t.Setenv(name, e.url)
			s := newStore(t, e, func(c *Config) { c.EndpointURL = "" })
			if _, err := s.Put(t.Context(), bytes.NewReader([]byte("via env")), "env"); err != nil {
				t.Fatal(err)
			}
			if n := e.srv.Stats()[glacieremu.OpUploadArchive].Requests; n != 1 {
				t.Errorf("the emulator saw %d uploads, want 1", n)
			}
		})
	}
}

// TestProfile reads region, credentials and endpoint_url from a profile
// of the shared config file.
func TestProfile(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	dir := t.TempDir()
	conf := "[profile emu]\nregion = eu-central-1\nendpoint_url = " + e.url + "\n" +
		"aws_access_key_id = AKIDPROFILE\naws_secret_access_key = profilesecret\n"
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", path)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	s, err := New(t.Context(), Config{Vault: testVault, Profile: "emu", MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Location() != "glacier:eu-central-1:"+testVault {
		t.Errorf("Location() = %q, want the profile's region", s.Location())
	}
	if n := e.srv.Stats()[glacieremu.OpDescribeVault].Requests; n != 1 {
		t.Errorf("the emulator saw %d DescribeVault requests, want 1", n)
	}
}

func TestClosed(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	s.Close()
	_, err := s.Put(t.Context(), bytes.NewReader(nil), "after close")
	if err == nil || !store.IsPermanent(err) {
		t.Errorf("Put after Close: error %v, want a permanent one", err)
	}
}
