package s3store

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/store"
)

func TestConfigDefaultsAndNames(t *testing.T) {
	c, err := Config{Bucket: "b", Prefix: "/photos", StorageClass: "deep-archive"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "photos/" || c.StorageClass != "DEEP_ARCHIVE" || c.PartSize != 8<<20 || c.Concurrency != 4 ||
		c.RestoreDays != 7 || c.Tier != store.TierStandard || c.MaxAttempts != 5 {
		t.Errorf("defaults: %+v", c)
	}
	if c, _ := (Config{Bucket: "b"}).withDefaults(); c.StorageClass != "DEEP_ARCHIVE" {
		t.Errorf("default storage class %q, want DEEP_ARCHIVE", c.StorageClass)
	}
	for _, c := range []struct{ bucket, prefix, want string }{
		{"b", "", "s3:b"},
		{"b", "x", "s3:b/x"},
		{"b", "/x/y/", "s3:b/x/y"},
	} {
		cfg, err := Config{Bucket: c.bucket, Prefix: c.prefix}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got := location(cfg.Bucket, cfg.Prefix); got != c.want {
			t.Errorf("location(%q, %q) = %q, want %q", c.bucket, c.prefix, got, c.want)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	for name, c := range map[string]Config{
		"no bucket":                {},
		"bucket with a path":       {Bucket: "s3://b/x"},
		"unknown class":            {Bucket: "b", StorageClass: "GLACIER_FLEXIBLE"},
		"reduced redundancy":       {Bucket: "b", StorageClass: "REDUCED_REDUNDANCY"},
		"small parts":              {Bucket: "b", PartSize: 1 << 20},
		"huge parts":               {Bucket: "b", PartSize: 6 << 30},
		"negative days":            {Bucket: "b", RestoreDays: -1},
		"unknown tier":             {Bucket: "b", Tier: "Fast"},
		"expedited deep archive":   {Bucket: "b", Tier: store.TierExpedited},
		"negative concurrency":     {Bucket: "b", Concurrency: -2},
		"prefix with a control":    {Bucket: "b", Prefix: "a\nb"},
		"prefix with empty folder": {Bucket: "b", Prefix: "a//b"},
	} {
		_, err := c.withDefaults()
		var ce *store.ConfigError
		if !errors.As(err, &ce) || ce.Hint == "" {
			t.Errorf("%s: %v, want a ConfigError with a hint", name, err)
		}
	}
	if _, err := (Config{Bucket: "b", StorageClass: "GLACIER", Tier: store.TierExpedited}).withDefaults(); err != nil {
		t.Errorf("GLACIER with Expedited: %v", err)
	}
}

// TestNewConfigErrors checks the errors a user sees from New: each is one
// ConfigError with a hint, and settings are checked before any request.
func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := newProxy(t, startMoto(t))
	good := testConfig(t, p.URL, "STANDARD")

	p.reset()
	bad := good
	bad.StorageClass = "FROZEN"
	_, err := New(ctx, bad)
	var ce *store.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Hint, "DEEP_ARCHIVE") {
		t.Errorf("bad storage class: %v, want a ConfigError listing the classes", err)
	}
	if n := p.total(); n != 0 {
		t.Errorf("a bad storage class sent %d requests", n)
	}

	missing := good
	missing.Bucket = "no-such-bucket-here"
	_, err = New(ctx, missing)
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(ce.Hint, "no-such-bucket-here") {
		t.Errorf("missing bucket: %v, want a ConfigError saying so", err)
	}

	for _, c := range []struct {
		name, hint string
		fault      func(w http.ResponseWriter)
	}{
		{"wrong region", "--region eu-west-1", func(w http.ResponseWriter) {
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
			w.WriteHeader(http.StatusMovedPermanently)
		}},
		{"bad credentials", "credentials", func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) }},
	} {
		p.setFault(func(op string, w http.ResponseWriter, r *http.Request) bool {
			if op == "ListObjects" {
				c.fault(w)
				return true
			}
			return false
		})
		_, err := New(ctx, good)
		if !errors.As(err, &ce) || !strings.Contains(ce.Hint, c.hint) || !strings.Contains(err.Error(), "s3:"+good.Bucket) {
			t.Errorf("%s: %v (hint %q), want a ConfigError naming the store with a hint about %q", c.name, err, hintOf(err), c.hint)
		}
	}
	p.setFault(nil)
}

func hintOf(err error) string {
	var ce *store.ConfigError
	if errors.As(err, &ce) {
		return ce.Hint
	}
	return ""
}

// TestEndpointFromEnvironment checks that the SDK honours
// AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL, as the AWS CLI does, and that
// path-style addressing follows.
func TestEndpointFromEnvironment(t *testing.T) {
	motoURL := startMoto(t)
	for _, v := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		t.Run(v, func(t *testing.T) {
			p := newProxy(t, motoURL)
			cfg := testConfig(t, motoURL, "STANDARD")
			cfg.EndpointURL = ""
			t.Setenv(v, p.URL)
			s := mustNew(t, cfg)
			a := mustPut(t, t.Context(), s, []byte("via env"), "env")
			if p.count("ListObjects") != 1 || p.count("PutObject") != 1 {
				t.Errorf("the proxy named by %s saw %d ListObjects and %d PutObject requests, want 1 each", v, p.count("ListObjects"), p.count("PutObject"))
			}
			if _, err := rawClient(motoURL).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(s.objectKey(a.ID))}); err != nil {
				t.Errorf("the object is not where the store says: %v", err)
			}
		})
	}
}

// TestNoCredentials checks that missing credentials are a ConfigError from
// New, before any request is sent.
func TestNoCredentials(t *testing.T) {
	p := newProxy(t, startMoto(t))
	cfg := testConfig(t, p.URL, "STANDARD")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	p.reset()
	_, err := New(t.Context(), cfg)
	var ce *store.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Hint, "AWS_ACCESS_KEY_ID") {
		t.Errorf("New without credentials: %v, want a ConfigError with a hint", err)
	}
	if n := p.total(); n != 0 {
		t.Errorf("%d requests sent without credentials", n)
	}
}

// Check refuses what New would, before any request, as a ConfigError.
func TestConfigCheck(t *testing.T) {
	if err := (Config{Bucket: "b", StorageClass: "glacier", ObjectLock: store.LockGovernance}).Check(); err != nil {
		t.Errorf("a good config: %v", err)
	}
	for _, c := range []Config{{Bucket: "b", StorageClass: "X"}, {Bucket: "b", LockDays: 3}, {}} {
		var ce *store.ConfigError
		if err := c.Check(); !errors.As(err, &ce) || ce.Hint == "" {
			t.Errorf("%+v: want a ConfigError with a hint, got %v", c, err)
		}
	}
}
