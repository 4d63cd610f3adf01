package vault

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
)

// TestObjectLockRefused checks that a vault refuses an object lock mode
// before any request, pointing to Vault Lock.
func TestObjectLockRefused(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	cfg := testConfig(e)
	cfg.ObjectLock = store.LockCompliance
	_, err := New(t.Context(), cfg)
	wantConfigError(t, err, []string{"--object-lock compliance", "no lock per archive"}, []string{"Vault Lock", "grsync iam-policy"})
	if n := e.srv.Stats()[glacieremu.OpDescribeVault].Requests; n != 0 {
		t.Errorf("%d requests sent before refusing the lock", n)
	}
}

// TestDeleteDenied answers DeleteArchive as AWS does for credentials
// under an append-only policy, or a Vault Lock that denies the deletion:
// the store reports a permanent store.ErrAccessDenied, not a
// configuration error, and the archive stays.
func TestDeleteDenied(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/archives/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"code":"AccessDeniedException","message":"User: arn:aws:iam::111122223333:user/nightly is not authorized to perform: glacier:DeleteArchive with an explicit deny","type":"Client"}`))
			return
		}
		e.srv.ServeHTTP(w, r)
	}))
	defer deny.Close()
	s := newStore(t, e, func(c *Config) { c.EndpointURL = deny.URL })
	a, err := s.Put(t.Context(), bytes.NewReader([]byte("nightly")), "d")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Delete(t.Context(), a.ID)
	if !errors.Is(err, store.ErrAccessDenied) || !store.IsPermanent(err) || errors.As(err, new(*store.ConfigError)) || !strings.Contains(err.Error(), a.ID) {
		t.Errorf("Delete refused: %v, want a permanent ErrAccessDenied naming the archive, not a ConfigError", err)
	}
	if err := newStore(t, e, nil).Delete(t.Context(), a.ID); err != nil {
		t.Errorf("the archive is gone after the refused delete: %v", err)
	}
}
