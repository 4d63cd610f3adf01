package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// grsyncBin is the binary built once for the end-to-end tests.
var grsyncBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "grsync-e2e-")
	if err != nil {
		panic(err)
	}
	grsyncBin = filepath.Join(dir, "grsync")
	args := []string{"build", "-o", grsyncBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		panic("building grsync: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary gave.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// grsync runs the binary in dir with args and the given extra environment.
func grsync(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(grsyncBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running grsync: %v", err)
	}
	r := result{out.String(), errb.String(), code}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("grsync panicked:\n%s", r)
	}
	return r
}

func cleanEnv() []string {
	// A race-built binary pauses 1 s at exit unless told not to; a race it
	// detects still makes it exit 66, which the tests report.
	// No config file of the user running the tests is read.
	env := []string{"GORACE=atexit_sleep_ms=0", "XDG_CONFIG_HOME=/nonexistent/grsync-tests"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GRSYNC_") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "GORACE=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// mustRun runs grsync and fails the test unless it exits with want.
func mustRun(t *testing.T, dir string, want int, args ...string) result {
	t.Helper()
	r := grsync(t, dir, nil, args...)
	if r.code != want {
		t.Fatalf("grsync %s: want exit %d, got:\n%s", strings.Join(args, " "), want, r)
	}
	return r
}

func writeFile(t *testing.T, p string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// newKey makes a key file with grsync keygen and returns its path.
func newKey(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "backup.key")
	mustRun(t, dir, 0, "keygen", p)
	return p
}

// treeFiles lists the regular files under root, relative, with their info.
func treeFiles(t *testing.T, root string) map[string]fs.FileInfo {
	t.Helper()
	out := map[string]fs.FileInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[rel] = fi
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Whether sameTree compares mtimes and modes too.
const (
	contentOnly = false
	checkMeta   = true
)

// sameTree asserts that got holds exactly want's regular files, byte for
// byte, and with checkMeta the same mtimes (to the nanosecond) and modes.
func sameTree(t *testing.T, want, got string, meta bool) {
	t.Helper()
	wf, gf := treeFiles(t, want), treeFiles(t, got)
	for rel, wi := range wf {
		gi, ok := gf[rel]
		if !ok {
			t.Errorf("missing after restore: %q", rel)
			continue
		}
		wb, _ := os.ReadFile(filepath.Join(want, rel))
		gb, _ := os.ReadFile(filepath.Join(got, rel))
		if !bytes.Equal(wb, gb) {
			t.Errorf("content differs: %q (%d vs %d bytes)", rel, len(wb), len(gb))
		}
		if meta && !wi.ModTime().Equal(gi.ModTime()) {
			t.Errorf("mtime differs: %q: %v vs %v", rel, wi.ModTime(), gi.ModTime())
		}
		if meta && wi.Mode().Perm() != gi.Mode().Perm() {
			t.Errorf("mode differs: %q: %v vs %v", rel, wi.Mode(), gi.Mode())
		}
	}
	for rel := range gf {
		if _, ok := wf[rel]; !ok {
			t.Errorf("unexpected file after restore: %q", rel)
		}
	}
}

// treeEntries describes the folders and symlinks under root (root itself
// is "."): a folder by its mode (and with meta its mtime), a symlink by
// its target. Regular files are sameTree's.
func treeEntries(t *testing.T, root string, meta bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			out[rel] = "folder " + fi.Mode().String()
			if meta {
				out[rel] += " " + fi.ModTime().UTC().Format(time.RFC3339Nano)
			}
		case d.Type()&fs.ModeSymlink != 0:
			to, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink to " + to
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameFolders asserts that got holds exactly want's folders (empty ones
// included) and symlinks: none missing, none extra (a deleted folder come
// back as current is an extra one), with the same modes and symlink
// targets, and with meta the same folder mtimes.
func sameFolders(t *testing.T, want, got string, meta bool) {
	t.Helper()
	we, ge := treeEntries(t, want, meta), treeEntries(t, got, meta)
	for rel, w := range we {
		g, ok := ge[rel]
		switch {
		case !ok:
			t.Errorf("missing after restore: %q (%s)", rel, w)
		case g != w:
			t.Errorf("differs after restore: %q: %s, want %s", rel, g, w)
		}
	}
	for rel, g := range ge {
		if _, ok := we[rel]; !ok {
			t.Errorf("unexpected after restore: %q (%s)", rel, g)
		}
	}
}

// copySource copies the tree under src to dst: folders with their modes
// and mtimes, regular files with theirs, symlinks. It is the source as it
// was at one point, to compare a restore --at with.
func copySource(t *testing.T, src, dst string) {
	t.Helper()
	type dirMeta struct {
		path  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirMeta
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		q := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, dirMeta{q, fi.Mode(), fi.ModTime()})
			return os.MkdirAll(q, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			to, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(to, q)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			writeFile(t, q, data, fi.ModTime())
			return os.Chmod(q, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Folders last, deepest first: writing into a folder moves its mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode.Perm()); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime); err != nil {
			t.Fatal(err)
		}
	}
}
