package catalog

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the uid/gid the permission tests run as when the tests run as
// root (root may write anything, so only a plain user sees read-only files).
const nobody = 65534

// asPlainUser runs the calling test in a copy of the test binary as user
// nobody when the tests run as root, and reports whether the caller (root)
// should stop because the child did the work.
func asPlainUser(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	dir, err := os.MkdirTemp("", "grsync-catalog-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "catalog.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	fixtureCopy := copyFile(t, fixture, dir, "fixture.db")
	os.Chmod(fixtureCopy, 0o644)

	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+dir, "GRSYNC_CATALOG_FIXTURE="+fixtureCopy)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	t.Logf("ran as uid %d:\n%s", nobody, out)
	return true
}

// fixturePath is the legacy fixture, or the copy the root parent made for us.
func fixturePath() string {
	if p := os.Getenv("GRSYNC_CATALOG_FIXTURE"); p != "" {
		return p
	}
	return fixture
}

func TestReadOnlyDirectoryAndFile(t *testing.T) {
	if asPlainUser(t) {
		return
	}
	// A current catalogue (WAL mode) and a legacy one, in a read-only directory.
	dir := t.TempDir()
	c, err := Open(filepath.Join(dir, "grsync.db"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tg := mustTarget(t, c, "local:/backup")
	mustRecord(t, c, version(tg.ID, "/home/me/a.txt", 1, time.Now()))
	c.Close()
	copyFile(t, fixturePath(), dir, "glacier.db")
	os.Remove(filepath.Join(dir, "grsync.db.lock"))
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })

	for _, name := range []string{"grsync.db", "glacier.db", "new.db"} {
		path := filepath.Join(dir, name)
		_, err := Open(path, OpenOptions{})
		wantErrIs(t, err, ErrReadOnly)
		if !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), dir) {
			t.Fatalf("message %q does not say the directory is not writable", err)
		}
	}
	c, err = Open(filepath.Join(dir, "grsync.db"), OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a WAL catalogue in a read-only directory: %v", err)
	}
	if v, ok, err := c.Latest(tg.ID, "/home/me/a.txt"); err != nil || !ok || v.Size != 1 {
		t.Fatalf("latest: %+v %v %v", v, ok, err)
	}
	c.Close()
	c, err = Open(filepath.Join(dir, "glacier.db"), OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a legacy catalogue in a read-only directory: %v", err)
	}
	if ts, err := c.Targets(); err != nil || len(ts) != 1 {
		t.Fatalf("targets: %+v %v", ts, err)
	}
	c.Close()

	// Committed writes still in a -wal file cannot be read without the
	// directory's help: refused, not silently ignored.
	src := t.TempDir()
	c, err = Open(filepath.Join(src, "grsync.db"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tg = mustTarget(t, c, "local:/backup")
	mustRecord(t, c, version(tg.ID, "/only/in/wal", 1, time.Now()))
	dir3 := t.TempDir()
	copyFile(t, filepath.Join(src, "grsync.db"), dir3, "grsync.db")
	copyFile(t, filepath.Join(src, "grsync.db-wal"), dir3, "grsync.db-wal")
	c.Close()
	os.Chmod(dir3, 0o555)
	t.Cleanup(func() { os.Chmod(dir3, 0o755) })
	_, err = Open(filepath.Join(dir3, "grsync.db"), OpenOptions{ReadOnly: true})
	wantErrIs(t, err, ErrReadOnly)
	if !strings.Contains(err.Error(), "unfinished writes") {
		t.Fatalf("message %q does not explain the -wal file", err)
	}

	// A read-only file in a writable directory.
	dir2 := t.TempDir()
	path := copyFile(t, fixturePath(), dir2, "glacier.db")
	os.Chmod(path, 0o444)
	_, err = Open(path, OpenOptions{})
	wantErrIs(t, err, ErrReadOnly)
	if !strings.Contains(err.Error(), path+" is not writable") {
		t.Fatalf("message %q does not say the file is not writable", err)
	}
	c, err = Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
