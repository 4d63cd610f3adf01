package main

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/testutil/moto"
)

// createMotoVault creates a Glacier vault on moto as a client would.
func createMotoVault(t *testing.T, m *moto.Server, name string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, m.URL+"/-/vaults/"+name, nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/glacier/aws4_request, SignedHeaders=host, Signature=0")
	req.Header.Set("x-amz-glacier-version", "2012-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating vault on moto: %s", resp.Status)
	}
}

// Interop with a third-party AWS emulator (moto): files under 1 MiB (moto
// returns a plain SHA-256 instead of the tree hash for larger single
// uploads, and has no Glacier multipart), restore through Expedited jobs
// (moto completes them after about 2 s) with --wait, and inventory --rebuild.
func TestMotoVaultSyncRestoreRebuild(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	createMotoVault(t, m, "interop")
	env := m.Env()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for i := 0; i < 12; i++ {
		writeFile(t, filepath.Join(src, "d"+strconv.Itoa(i%3), "f"+strconv.Itoa(i)+".txt"), randomBytes(t, 1+i*70000), time.Unix(1700000000+int64(i), 0))
	}
	writeFile(t, filepath.Join(src, "empty"), nil, time.Unix(1700000100, 0))
	key := newKey(t, dir)
	vault := []string{"--vault", "interop", "--region", "us-east-1", "--encryption-key-file", key}
	// moto's Glacier has no multipart upload, and answers a plain SHA-256
	// instead of the tree hash for a single upload over 1 MiB: one object
	// per file (each under 1 MiB) stays within what it does right.
	r := mustRunEnv(t, dir, env, 0, append(vault, "--compress", "true", "--pack-size", "0", src)...)
	if !strings.Contains(r.stdout, "uploaded      13 files") {
		t.Fatalf("all files should be uploaded:\n%s", r)
	}
	// moto has no vault tags: grsync says once that the vault cannot carry
	// a marker, and goes on under the catalogue's key check.
	if n := strings.Count(r.stderr, "cannot carry a store marker on this service"); n != 1 {
		t.Errorf("the warning about the missing marker should appear once, not %d times:\n%s", n, r)
	}
	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--output", "out", "--tier", "Expedited", "--wait", "--poll", "1s"}, vault...)...)
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)

	fresh := filepath.Join(dir, "fresh.db")
	r = mustRunEnv(t, dir, env, 0, append([]string{"inventory", "--rebuild", "--wait", "--poll", "1s", "--db", fresh}, vault...)...)
	if !strings.Contains(r.stdout, "13 file versions added") {
		t.Fatalf("rebuild from moto's inventory should find the 13 files:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--db", fresh, "--output", "out2", "--tier", "Expedited", "--wait", "--poll", "1s"}, vault...)...)
	sameTree(t, src, filepath.Join(dir, "out2", strings.TrimPrefix(src, "/")), checkMeta)
}
