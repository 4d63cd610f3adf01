package s3store

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/grsync/grsync/internal/store"
)

// awsError is an SDK error as S3 would answer it.
func awsError(status int, code, message string) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
		Err:      &smithy.GenericAPIError{Code: code, Message: message},
	}}
}

// TestDeleteErrorMapping checks how refusals of DeleteObject read, against
// the messages AWS documents (moto's AccessDenied names no lock): a lock
// is ErrLocked, any other refusal ErrAccessDenied, both permanent and
// neither a ConfigError (callers record them and go on).
func TestDeleteErrorMapping(t *testing.T) {
	s := &Store{cfg: Config{Bucket: "b"}, region: "us-east-1"}
	ctx := context.Background()
	now := time.Now()
	for _, c := range []struct {
		name string
		err  error
		lock store.Lock
		want error
	}{
		{"AWS names the lock", awsError(403, "AccessDenied", "Access Denied because object protected by object lock."), store.Lock{}, store.ErrLocked},
		{"lock ended a moment ago by our clock", awsError(403, "AccessDenied", "Access Denied"), store.Lock{Mode: store.LockCompliance, Until: now.Add(-time.Minute)}, store.ErrLocked},
		{"legal hold", awsError(403, "AccessDenied", "Access Denied"), store.Lock{LegalHold: true}, store.ErrLocked},
		{"append-only credentials", awsError(403, "AccessDenied", "User is not authorized to perform: s3:DeleteObjectVersion"), store.Lock{}, store.ErrAccessDenied},
		{"lock long over", awsError(403, "AccessDenied", "Access Denied"), store.Lock{Mode: store.LockGovernance, Until: now.Add(-time.Hour)}, store.ErrAccessDenied},
	} {
		got := s.deleteError(ctx, c.err, c.lock)
		if !errors.Is(got, c.want) || !store.IsPermanent(got) || errors.As(got, new(*store.ConfigError)) {
			t.Errorf("%s: %v, want a permanent %v that is not a ConfigError", c.name, got, c.want)
		}
	}
	if got := s.deleteError(ctx, awsError(503, "SlowDown", "slow down"), store.Lock{}); store.IsPermanent(got) {
		t.Errorf("SlowDown on delete: %v, want transient", got)
	}
}

func TestLockHoldsAndString(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		lock  store.Lock
		holds bool
		str   string
	}{
		{store.Lock{}, false, "none"},
		{store.Lock{Mode: store.LockGovernance, Until: now.Add(time.Second)}, true, "GOVERNANCE until 2026-06-01T12:00:01Z"},
		{store.Lock{Mode: store.LockCompliance, Until: now}, false, "COMPLIANCE until 2026-06-01T12:00:00Z"},
		{store.Lock{LegalHold: true}, true, "legal hold"},
	} {
		if got := c.lock.Holds(now); got != c.holds {
			t.Errorf("%s: Holds = %v, want %v", c.str, got, c.holds)
		}
		if got := c.lock.String(); got != c.str {
			t.Errorf("String = %q, want %q", got, c.str)
		}
	}
	if m, err := store.ParseLockMode(" Compliance "); err != nil || m != store.LockCompliance {
		t.Errorf("ParseLockMode = %q, %v", m, err)
	}
	if _, err := store.ParseLockMode("strict"); err == nil {
		t.Error("ParseLockMode accepted strict")
	}
}

func TestCeilSecond(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := ceilSecond(base); !got.Equal(base) {
		t.Errorf("ceilSecond(whole) = %v", got)
	}
	if got := ceilSecond(base.Add(time.Nanosecond)); !got.Equal(base.Add(time.Second)) {
		t.Errorf("ceilSecond(+1ns) = %v, want the next second", got)
	}
}

// TestLockConfig checks the lock settings and their defaults: the class's
// minimum storage duration (at least 30 days) plus 30.
func TestLockConfig(t *testing.T) {
	for class, want := range map[string]int{
		"DEEP_ARCHIVE": 210, "GLACIER": 120, "GLACIER_IR": 120,
		"STANDARD_IA": 60, "ONEZONE_IA": 60, "STANDARD": 60, "INTELLIGENT_TIERING": 60, "": 210,
	} {
		if got := DefaultLockDays(class); got != want {
			t.Errorf("DefaultLockDays(%q) = %d, want %d", class, got, want)
		}
	}
	c, err := Config{Bucket: "b", StorageClass: "glacier", ObjectLock: "governance"}.withDefaults()
	if err != nil || c.ObjectLock != store.LockGovernance || c.LockDays != 120 {
		t.Errorf("GLACIER governance: %+v, %v; want GOVERNANCE for 120 days", c, err)
	}
	c, err = Config{Bucket: "b", ObjectLock: store.LockCompliance, LockDays: 400}.withDefaults()
	if err != nil || c.LockDays != 400 {
		t.Errorf("explicit lock days: %d, %v", c.LockDays, err)
	}
	for name, bad := range map[string]Config{
		"days without a mode": {Bucket: "b", LockDays: 10},
		"unknown mode":        {Bucket: "b", ObjectLock: "forever"},
		"negative days":       {Bucket: "b", ObjectLock: store.LockGovernance, LockDays: -1},
		"too many days":       {Bucket: "b", ObjectLock: store.LockGovernance, LockDays: MaxLockDays + 1},
	} {
		_, err := bad.withDefaults()
		var ce *store.ConfigError
		if !errors.As(err, &ce) || ce.Hint == "" || !strings.Contains(ce.Hint, "lock") {
			t.Errorf("%s: %v, want a ConfigError with a hint about the lock flags", name, err)
		}
	}
}
