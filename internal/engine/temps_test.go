package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTempPrefixFitsInAName(t *testing.T) {
	names := []string{"a", "file.txt", strings.Repeat("n", 200), strings.Repeat("n", 201), strings.Repeat("n", 255),
		strings.Repeat("é", 127) + "x", strings.Repeat("\xff", 255), strings.Repeat("日本", 42) + "abc"}
	for _, n := range names {
		p := tempPrefix("/out/" + n)
		// os.CreateTemp adds up to 10 digits; a name holds 255 bytes.
		if len(p)+10 > 255 {
			t.Errorf("%d-byte name: temporary prefix of %d bytes does not fit", len(n), len(p))
		}
		if len(n) <= maxTempBase && p != "."+n+".grsync-" {
			t.Errorf("a short name is repeated whole: got %q", p)
		}
		if got, ok := tempOf(p + "1234567890"); !ok || got != p {
			t.Errorf("%d-byte name: its temporary file is not recognised (%q, %v)", len(n), got, ok)
		}
	}
	// Long names that start alike get different prefixes.
	a, b := strings.Repeat("x", 240)+"a", strings.Repeat("x", 240)+"b"
	if tempPrefix("/o/"+a) == tempPrefix("/o/"+b) {
		t.Error("two long names share a temporary prefix")
	}
}

func TestSweeperRemovesOnlyTheStaleTemporariesOfItsFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "folder [1] *?")
	odd := "glob[x]*?\\-\xff"
	stale := []string{".a.grsync-123", "." + odd + ".grsync-9", tempPrefix(dir+"/"+strings.Repeat("L", 300)) + "77"}
	keep := []string{"a", odd, ".a.grsync-123x", ".ab.grsync-5", ".grsync-download-0011223344556677.part",
		"a.grsync-1", ".a.grsync-", ".b.grsync-1"}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range append(append([]string(nil), stale...), keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sw := newTempSweeper(destRoot{})
	for _, d := range []string{"a", odd, strings.Repeat("L", 300)} {
		sw.sweep(nil, filepath.Join(dir, d))
	}
	left, err := readDirNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	slices.Sort(keep)
	if !slices.Equal(left, keep) {
		t.Errorf("after sweeping:\n got %q\nwant %q", left, keep)
	}
	// A folder that does not exist yet holds nothing to sweep.
	sw.sweep(nil, filepath.Join(dir, "new", "x"))
}

func TestSweeperListsEachFolderOnce(t *testing.T) {
	dir := t.TempDir()
	sw := newTempSweeper(destRoot{})
	for i := range 1000 {
		sw.sweep(nil, filepath.Join(dir, "f"+strings.Repeat("x", i%50)))
	}
	sw.sweep(nil, filepath.Join(dir, "sub", "f"))
	if sw.listed != 2 {
		t.Errorf("2 folders listed %d times: a folder of n files must cost n, not n²", sw.listed)
	}
}

func FuzzTempNames(f *testing.F) {
	for _, s := range []string{"a", "file.txt", strings.Repeat("n", 255), "x.grsync-1", ".grsync-download-1.part", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || name == "." || name == ".." || len(name) > 255 || strings.ContainsAny(name, "/\x00") {
			return
		}
		p := tempPrefix("/restore/" + name)
		if len(p)+10 > 255 {
			t.Fatalf("temporary prefix of %d bytes for a %d-byte name", len(p), len(name))
		}
		if got, ok := tempOf(p + "42"); !ok || got != p {
			t.Fatalf("temporary file of %q not recognised: %q %v", name, got, ok)
		}
		if got, ok := tempOf(name); ok && !strings.HasPrefix(name, got) {
			t.Fatalf("tempOf(%q) = %q, not a prefix", name, got)
		}
	})
}

// A temporary file left beside a file that a killed restore had already
// put in place (killed between linking and removing the temporary) is
// removed by the next restore, which skips the complete file.
func TestRestoreSweepsTempsBesideExistingFiles(t *testing.T) {
	cfg, dir := setup(t, 0)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}}); err != nil {
		t.Fatal(err)
	}
	opt := RestoreOptions{Output: filepath.Join(dir, "out"), Wait: true, Poll: 10 * time.Millisecond}
	restoreOnce := func() RestoreResult {
		t.Helper()
		plan, err := PlanRestore(cfg, opt)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Restore(ctx, cfg, opt, plan)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	restoreOnce()
	dest := filepath.Join(opt.Output, strings.TrimPrefix(src, "/"), "f")
	stale := filepath.Join(filepath.Dir(dest), tempPrefix(dest)+"123456")
	if err := os.WriteFile(stale, []byte("cont"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := restoreOnce(); r.Existing != 1 {
		t.Fatalf("second restore: %+v, want the file skipped as existing", r)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale temporary file beside the existing file is still there (%v)", err)
	}
}
