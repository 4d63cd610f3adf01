package engine

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pathOfLength returns a file path below root exactly n bytes long, made
// of folder names of at most 200 bytes and the file name "f".
func pathOfLength(t *testing.T, root string, n int) string {
	t.Helper()
	p := root
	for n-len(p)-2 > 201 {
		p += "/" + strings.Repeat("d", 200)
	}
	last := n - len(p) - 1 - 2 // "/" + name + "/f"
	if last < 1 {
		t.Fatalf("cannot make a %d-byte path below %s", n, root)
	}
	p += "/" + strings.Repeat("e", last) + "/f"
	if len(p) != n {
		t.Fatalf("made %d bytes, want %d", len(p), n)
	}
	return p
}

func TestPathHelpersAtAnyLength(t *testing.T) {
	root := t.TempDir()
	for _, n := range []int{100, pathMax - 1, pathMax, pathMax + 1, 3 * pathMax} {
		p := pathOfLength(t, filepath.Join(root, strings.Repeat("r", n%7+1)), n)
		dir := filepath.Dir(p)
		if err := mkdirAll(dir, 0o755); err != nil {
			t.Fatalf("%d bytes: mkdirAll: %v", n, err)
		}
		if err := mkdirAll(dir, 0o755); err != nil {
			t.Fatalf("%d bytes: mkdirAll of an existing folder: %v", n, err)
		}
		tmp, err := createTemp(dir, ".f.grsync-")
		if err != nil {
			t.Fatalf("%d bytes: createTemp: %v", n, err)
		}
		if filepath.Dir(tmp.Name()) != dir {
			t.Fatalf("%d bytes: temporary file %q is not in its folder", n, tmp.Name())
		}
		if _, err := tmp.WriteString("content"); err != nil {
			t.Fatal(err)
		}
		tmp.Close()
		mtime := time.Unix(1500000000, 123456789)
		if err := chmod(tmp.Name(), 0o640); err != nil {
			t.Fatalf("%d bytes: chmod: %v", n, err)
		}
		if err := chtimes(tmp.Name(), mtime); err != nil {
			t.Fatalf("%d bytes: chtimes: %v", n, err)
		}
		if err := link(tmp.Name(), p); err != nil {
			t.Fatalf("%d bytes: link: %v", n, err)
		}
		if err := link(tmp.Name(), p); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("%d bytes: link over an existing name: %v, want it refused", n, err)
		}
		fi, err := lstat(p)
		if err != nil || fi.Size() != 7 || fi.Mode() != 0o640 || !fi.ModTime().Equal(mtime) || fi.Name() != "f" {
			t.Fatalf("%d bytes: lstat: %v %v", n, fi, err)
		}
		f, err := openFile(p, os.O_RDONLY, 0)
		if err != nil {
			t.Fatalf("%d bytes: open: %v", n, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "content" {
			t.Fatalf("%d bytes: read %q", n, b)
		}
		if err := rename(tmp.Name(), p+"2"); err != nil {
			t.Fatalf("%d bytes: rename: %v", n, err)
		}
		names, err := readDirNames(dir)
		slices.Sort(names)
		if err != nil || !slices.Equal(names, []string{"f", "f2"}) {
			t.Fatalf("%d bytes: readDirNames: %q %v", n, names, err)
		}
		for _, q := range []string{p, p + "2"} {
			if err := remove(q); err != nil {
				t.Fatalf("%d bytes: remove: %v", n, err)
			}
		}
		if _, err := lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%d bytes: lstat after remove: %v", n, err)
		}
		if _, err := openFile(p, os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%d bytes: open after remove: %v", n, err)
		}
	}
}

func TestPathHelpersRefuseWhatCannotExist(t *testing.T) {
	root := t.TempDir()
	long := pathOfLength(t, root, 2*pathMax)
	// A name longer than 255 bytes, below a long path.
	bad := filepath.Dir(long) + "/" + strings.Repeat("n", 256)
	if err := mkdirAll(bad, 0o755); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Errorf("mkdirAll of a 256-byte name: %v", err)
	}
	// A single name longer than the whole limit cannot be reached at all.
	if _, err := lstat("/" + strings.Repeat("n", pathMax+10)); err == nil {
		t.Error("lstat of an impossible name succeeded")
	}
	// A file where a folder should be.
	if err := mkdirAll(filepath.Dir(long), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := openFile(long, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := mkdirAll(long+"/below", 0o755); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("mkdirAll below a file: %v, want ENOTDIR", err)
	}
}
