package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store/local"
)

// emptyDir asserts that dir holds nothing.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("restore wrote through a symlink: %s", filepath.Join(dir, e.Name()))
	}
}

// Restore never writes through a symlink it did not create: a symlinked
// folder in the way fails its files (exit 1), or with --overwrite is
// replaced by a folder; the symlink's target is never written to.
func TestRestoreNeverWritesThroughSymlinks(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	mtime := time.Unix(1700000000, 0)
	writeFile(t, filepath.Join(src, "a", "x.txt"), []byte("x"), mtime)
	writeFile(t, filepath.Join(src, "b.txt"), []byte("b"), mtime)
	writeFile(t, filepath.Join(src, "c", "deep", "y.txt"), []byte("y"), mtime)
	h.run(t, 0, h.syncArgs(src)...)
	out := filepath.Join(h.dir, "out")
	elsewhere := filepath.Join(h.dir, "elsewhere")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	srcOut := under(out, src)
	if err := os.MkdirAll(filepath.Dir(srcOut), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, srcOut); err != nil {
		t.Fatal(err)
	}
	r := h.run(t, 1, h.restoreArgs(out)...)
	wantSummary(t, r, "failed 3 files", "symlink", "--overwrite")
	emptyDir(t, elsewhere)

	// A symlink deeper down fails only the files below it.
	if err := os.Remove(srcOut); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(srcOut, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(srcOut, "c", "deep")); err != nil {
		t.Fatal(err)
	}
	r = h.run(t, 1, h.restoreArgs(out)...)
	wantSummary(t, r, "restored 2 files", "failed 1 file:", filepath.Join(srcOut, "c", "deep", "y.txt"))
	emptyDir(t, elsewhere)

	// --overwrite replaces the symlink with a folder.
	r = h.run(t, 0, append(h.restoreArgs(out), "--overwrite")...)
	emptyDir(t, elsewhere)
	if fi, err := os.Lstat(filepath.Join(srcOut, "c", "deep")); err != nil || !fi.IsDir() {
		t.Fatalf("--overwrite should replace the symlink with a folder: %v %v", fi, err)
	}
	sameTree(t, src, srcOut, checkMeta)
}

// plainDescription is a grsync description of unencrypted metadata for
// path, built field by field so that it can hold what format's encoder
// refuses (a NUL byte).
func plainDescription(group, path string, size int64, encoding string) string {
	var body []byte
	field := func(tag byte, value []byte) {
		body = append(body, tag)
		body = binary.AppendUvarint(body, uint64(len(value)))
		body = append(body, value...)
	}
	tm := binary.AppendUvarint(binary.AppendVarint(nil, 1700000000), 0)
	field(1, []byte(path))
	field(2, binary.AppendUvarint(nil, uint64(size)))
	field(3, tm)
	field(4, binary.AppendUvarint(nil, 0o644))
	field(7, []byte(encoding))
	field(8, tm)
	rec := append([]byte{0}, body...)
	return "grsync1:p:" + group + ":0/1:" + base64.RawURLEncoding.EncodeToString(rec)
}

// A hostile store's metadata and a crafted catalogue cannot make restore
// write outside --output: "..", relative and NUL-bearing paths (grsync
// metadata and the Python tool's plaintext descriptions) are refused by
// inventory --rebuild and by restore; absolute paths land below --output.
func TestHostileStorePathsStayUnderOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	st, err := local.New(storeDir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	content := []byte("hostile")
	opts := format.Options{Compress: true}
	body := func(t *testing.T) []byte {
		var b bytes.Buffer
		w, err := format.NewWriter(&b, format.FileInfo{Path: "/x", Size: int64(len(content)), Mode: 0o644, ModTime: time.Unix(1700000000, 0)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for i, p := range []string{"/x/../../../escape-dotdot.txt", "/etc/grsync-absolute.txt", "/tmp/nul\x00name.txt", "/data/ok.txt", "/data/ok2.txt"} {
		group := fmt.Sprintf("%016x", i+1)
		if _, err := st.Put(ctx, bytes.NewReader(body(t)), plainDescription(group, p, int64(len(content)), format.Encoding(opts))); err != nil {
			t.Fatal(err)
		}
	}
	// The Python tool's plaintext descriptions: ".." and a relative path
	// (a NUL byte cannot be in a store's description: see
	// TestHostileLegacyDescriptionsInAVaultInventory).
	for id, desc := range map[string]string{
		"legacy1": "grsync|/y/../../escape-legacy.txt|7|1700000000.0|None",
		"legacy3": "grsync|escape-legacy-relative.txt|7|1700000000.0|None",
	} {
		if err := st.Seed(id, desc, time.Unix(1700000000, 0), bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	db := filepath.Join(dir, "hostile.db")
	r := mustRun(t, dir, 1, "inventory", "--rebuild", "--db", db, "--local-store", storeDir)
	wantSummary(t, r, "escape-dotdot.txt", "escape-legacy.txt", "not a clean absolute path",
		"archive legacy3: its description is the Python tool's but cannot be read", "path is not absolute")
	counts := versionCounts(t, db)
	for p := range counts {
		if strings.Contains(p, "escape") || strings.Contains(p, "\x00") {
			t.Errorf("an unsafe path was recorded: %q", p)
		}
	}
	// A catalogue row crafted to climb out of --output.
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec("UPDATE sync_history SET path = '../../escape-row.txt' WHERE path = '/data/ok2.txt'"); err != nil {
		t.Fatal(err)
	}
	sdb.Close()

	out := filepath.Join(dir, "a", "b", "out")
	r = mustRun(t, dir, 1, "restore", "--db", db, "--output", out)
	wantSummary(t, r, "escape-row.txt", "not a clean absolute path")
	for _, p := range []string{"etc/grsync-absolute.txt", "data/ok.txt"} {
		if b, err := os.ReadFile(filepath.Join(out, p)); err != nil || string(b) != "hostile" {
			t.Errorf("%s should be restored below --output: %q %v", p, b, err)
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "escape") {
			t.Errorf("restore wrote %s", p)
		}
		return nil
	})
	for _, p := range []string{"/escape-dotdot.txt", "/escape-legacy.txt", filepath.Join(filepath.Dir(dir), "escape-row.txt")} {
		mustNotExist(t, p)
	}
}

// R2, legacy descriptions: a vault inventory (which a store's own checks
// never saw) naming the Python tool's archives with a NUL byte, a relative
// path or ".." adds none of them and writes nothing outside --output; a
// clean one beside them is restored.
func TestHostileLegacyDescriptionsInAVaultInventory(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "v")
	content := []byte("legacy plain content")
	ids := []string{"fine", "nul", "relative", "dotdot"}
	for _, id := range ids {
		if err := srv.SeedArchive("v", id, "grsync|/seeded/"+id+"|20|1700000000.0|None", time.Unix(1700000000, 0), content); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	nulPath := filepath.Join(dir, "escape-nul") + "\x00.txt"
	descs := map[string]string{
		"fine":     "grsync|/data/fine.txt|20|1700000000.0|None",
		"nul":      "grsync|" + nulPath + "|20|1700000000.0|None",
		"relative": "grsync|escape-relative.txt|20|1700000000.0|None",
		"dotdot":   "grsync|/data/../../../escape-dotdot.txt|20|1700000000.0|None",
	}
	var list []map[string]any
	for _, id := range ids {
		list = append(list, map[string]any{"ArchiveId": id, "ArchiveDescription": descs[id],
			"CreationDate": "2024-03-16T12:00:00Z", "Size": len(content)})
	}
	inv, err := json.Marshal(map[string]any{"VaultARN": "arn:aws:glacier:us-east-1:123456789012:vaults/v",
		"InventoryDate": "2024-03-17T06:00:00Z", "ArchiveList": list})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(inv, []byte(`\u0000`)) {
		t.Fatalf("the inventory should carry the NUL byte: %s", inv)
	}
	if err := srv.SetInventory("v", inv); err != nil {
		t.Fatal(err)
	}
	vault := []string{"--vault", "v", "--region", "us-east-1", "--db", "rebuilt.db"}
	r := mustRunEnv(t, dir, env, 1, append([]string{"inventory", "--rebuild", "--wait", "--poll", "50ms"}, vault...)...)
	wantSummary(t, r, "1 file version added", "1 from the Python tool", "3 archives could not be read",
		"archive nul: its description names", "archive dotdot: its description names", "not a clean absolute path",
		"archive relative: its description is the Python tool's but cannot be read")
	for p := range versionCounts(t, filepath.Join(dir, "rebuilt.db")) {
		if p != "/data/fine.txt" {
			t.Errorf("an unsafe path was recorded: %q", p)
		}
	}
	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--wait", "--poll", "50ms", "--output", "out"}, vault...)...)
	if b, err := os.ReadFile(filepath.Join(dir, "out", "data", "fine.txt")); err != nil || !bytes.Equal(b, content) {
		t.Errorf("the clean legacy archive should be restored below --output: %q %v", b, err)
	}
	filepath.WalkDir(filepath.Dir(dir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "escape") {
			t.Errorf("something was written for a hostile description: %s", p)
		}
		return nil
	})
	mustNotExist(t, "/escape-dotdot.txt")
}
