package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Whatever path a hostile store or catalogue holds, one that passes
// checkSafePath lands below --output.
func FuzzSafePathStaysUnderOutput(f *testing.F) {
	for _, s := range []string{"/a/b", "../x", "/a/../../x", "/", "", "a\x00b", "/a//b", "/a/./b", "/a/b/", "//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkSafePath(p) != nil {
			return
		}
		d := Destination(RestoreOptions{Output: "/out"}, p)
		if !strings.HasPrefix(d, "/out/") || d != filepath.Clean(d) || strings.Contains(d, "/../") {
			t.Fatalf("%q accepted but restored to %q", p, d)
		}
	})
}

// openDir walks below the output folder without following a symlink, and
// with overwrite replaces one by a folder; the output folder itself may be
// a symlink.
func TestDestDirRefusesSymlinksBelowOutput(t *testing.T) {
	dir := t.TempDir()
	real, elsewhere := filepath.Join(dir, "real-out"), filepath.Join(dir, "elsewhere")
	for _, d := range []string{filepath.Join(real, "a"), elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	if err := os.Symlink(real, out); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(real, "a", "b")); err != nil {
		t.Fatal(err)
	}
	r := destRoot{out: out}
	if _, err := r.openDir(filepath.Join(out, "a", "b", "c"), true); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("a symlink below the output folder must be refused: %v", err)
	}
	d, err := r.openDir(filepath.Join(out, "a", "new", "deep"), true)
	if err != nil {
		t.Fatalf("a real path below a symlinked output folder: %v", err)
	}
	d.close()
	r.overwrite = true
	d, err = r.openDir(filepath.Join(out, "a", "b", "c"), true)
	if err != nil {
		t.Fatal(err)
	}
	f, name, err := d.createTemp(".x.grsync-")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.close()
	if fi, err := os.Lstat(filepath.Join(real, "a", "b")); err != nil || !fi.IsDir() {
		t.Fatalf("--overwrite should replace the symlink by a folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(real, "a", "b", "c", name)); err != nil {
		t.Errorf("the file should be below the output folder: %v", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("the symlink's target was written to: %v", ents)
	}
}
