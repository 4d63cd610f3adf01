package main

// Everyday mistakes (issue 8): each ends with the right result, or a clear
// message and exit 2 with nothing uploaded, recorded or overwritten.

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
)

// versionCounts returns how many rows (versions and tombstones) the
// catalogue db holds per path.
func versionCounts(t *testing.T, db string) map[string]int {
	t.Helper()
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	rows, err := sdb.Query("SELECT path, count(*) FROM sync_history GROUP BY path")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		out[p] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantStderr asserts that stderr holds every fragment in want.
func wantStderr(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr should say %q:\n%s", w, r)
		}
	}
}

func mustNotExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s should not exist", p)
		}
	}
}

// Item 1: an empty SRC (an unset variable in a cron line) is a usage
// error, not a backup of the current folder.
func TestEmptySourceIsAUsageError(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"), time.Time{})
	for _, args := range [][]string{h.syncArgs(""), h.syncArgs(src, ""), h.syncArgs("", src)} {
		r := h.run(t, 2, args...)
		wantStderr(t, r, "empty SRC", "unset variable")
		mustNotExist(t, h.store, filepath.Join(h.dir, "glacier.db"))
	}
	h.run(t, 0, h.syncArgs(src)...)
	r := h.run(t, 2, "restore", "--encryption-key-file", h.key, "--output", "out", "")
	wantStderr(t, r, "empty PATH")
	mustNotExist(t, filepath.Join(h.dir, "out"))
}

// Item 3: the catalogue (and its WAL, SHM, lock and backup files), grsync's
// temporary files and a local store inside a source are left out, and the
// summary says so once; runs after the first find nothing to do.
func TestOwnFilesLeftOutOfSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	mtime := time.Unix(1700000000, 0)
	writeFile(t, filepath.Join(home, "docs", "a.txt"), []byte("a"), mtime)
	writeFile(t, filepath.Join(home, "b.txt"), []byte("b"), mtime)
	// What killed restores and migrations leave in a source.
	writeFile(t, filepath.Join(home, "docs", ".a.txt.grsync-123456"), []byte("half a restore"), mtime)
	writeFile(t, filepath.Join(home, "docs", ".grsync-download-0123456789abcdef.part"), []byte("half a download"), mtime)
	writeFile(t, filepath.Join(home, "glacier.db.pre-v4-20240101T000000.000000000Z.bak"), []byte("old catalogue"), mtime)
	key := newKey(t, dir)
	db := filepath.Join(home, "glacier.db")
	args := []string{"--db", db, "--local-store", filepath.Join(home, "store"), "--encryption-key-file", key, home}
	for run := 0; run < 3; run++ {
		r := runAs(t, home, nil, nil, 0, args...)
		if n := strings.Count(r.stdout, "left out"); n != 1 {
			t.Errorf("run %d: the summary should say once what was left out, said it %d times:\n%s", run, n, r)
		}
		wantSummary(t, r, "the catalogue", "the local store", "temporary files")
		want := "uploaded      0 files"
		if run == 0 {
			want = "uploaded      2 files"
		}
		wantSummary(t, r, want, "failed        0 files")
	}
	// The folder holding the catalogue is recorded once too: its mtime,
	// which the catalogue's journal and lock move every run, is no change.
	counts := versionCounts(t, db)
	if len(counts) != 4 || counts[filepath.Join(home, "b.txt")] != 1 || counts[filepath.Join(home, "docs", "a.txt")] != 1 ||
		counts[home] != 1 || counts[filepath.Join(home, "docs")] != 1 {
		t.Errorf("only the two files and their two folders should be recorded, once each: %v", counts)
	}
}

// Item 5: restore --output naming an existing file is refused before any
// retrieval is requested (on Glacier it would already be paid for).
func TestRestoreOutputThatIsNotAFolderIsRefused(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "v")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"), time.Time{})
	key := newKey(t, dir)
	mustRunEnv(t, dir, env, 0, "--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, src)
	out := filepath.Join(dir, "out.txt")
	writeFile(t, out, []byte("keep me"), time.Time{})
	for _, o := range []string{out, filepath.Join(out, "sub")} {
		r := mustRunEnv(t, dir, env, 2, "restore", "--encryption-key-file", key, "--output", o)
		wantStderr(t, r, "is not a folder", "--output")
	}
	if n := srv.Stats()[glacieremu.OpInitiateJob].Requests; n != 0 {
		t.Errorf("%d retrievals were requested for a restore that cannot write anything", n)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Errorf("the file named by --output was changed: %q", b)
	}
}

// Item 6: inventory --rebuild of an encrypted store without the key says
// so once, records nothing and exits 2.
func TestRebuildWithoutKeyIsOneMessage(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		writeFile(t, filepath.Join(src, n), []byte(n), time.Time{})
	}
	h.run(t, 0, h.syncArgs(src)...)
	db := filepath.Join(h.dir, "new.db")
	r := h.run(t, 2, "inventory", "--rebuild", "--db", db, "--local-store", h.store)
	wantStderr(t, r, "encrypted", "--encryption-key-file")
	if n := strings.Count(r.stdout+r.stderr, "\n"); n > 3 {
		t.Errorf("one message, not one line per archive (%d lines):\n%s", n, r)
	}
	if c := versionCounts(t, db); len(c) != 0 {
		t.Errorf("nothing may be recorded: %v", c)
	}
}

// Item 8: a restore that selects nothing says why and exits 2.
func TestRestoreSelectingNothingSaysWhy(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"), time.Time{})
	writeFile(t, filepath.Join(src, "gone.txt"), []byte("g"), time.Time{})
	h.run(t, 0, h.syncArgs(src)...)
	os.Remove(filepath.Join(src, "gone.txt"))
	h.run(t, 0, h.syncArgs(src)...)
	out := filepath.Join(h.dir, "out")
	restore := func(args ...string) result {
		return h.run(t, 2, append([]string{"restore", "--encryption-key-file", h.key, "--output", out}, args...)...)
	}

	// A date alone means the end of that day, local time, and says so.
	r := runAs(t, h.dir, nil, []string{"TZ=UTC"}, 2, "restore", "--encryption-key-file", h.key, "--output", out, "--at", "2001-02-03")
	wantStderr(t, r, "nothing was backed up by 2001-02-03 23:59:59 UTC; a date alone means the end of that day, local time",
		"first backup: ", "last backup: ", "give a later --at")
	r = restore("--at", "2001-02-03T12:00:00Z")
	wantStderr(t, r, "nothing was backed up by 2001-02-03 12:00:00 UTC", "first backup")
	if strings.Contains(r.stderr, "a date alone") {
		t.Errorf("a full time is not a date alone:\n%s", r)
	}
	r = restore(filepath.Join(src, "gone.txt"))
	wantStderr(t, r, "deleted", "grsync ls --deleted")
	r = restore(filepath.Join(src, "no-such-file"))
	wantStderr(t, r, "no-such-file", "no such path")

	// A target the catalogue knows but holds nothing for (a FIFO is
	// skipped; an empty folder would be backed up).
	fifo := filepath.Join(h.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(h.dir, "empty.db")
	h.run(t, 0, "--db", db, "--local-store", filepath.Join(h.dir, "store2"), "--encryption-key-file", h.key, fifo)
	r = h.run(t, 2, "restore", "--db", db, "--encryption-key-file", h.key, "--output", out)
	wantStderr(t, r, "no files")
	mustNotExist(t, out)
}

// Items 11 and 12: the same folder given twice, nested sources and a
// symlink to a folder named as SRC.
func TestSourcesResolvedDeduplicatedAndFollowed(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	mtime := time.Unix(1700000000, 0)
	writeFile(t, filepath.Join(h.dir, "src", "a.txt"), []byte("a"), mtime)
	writeFile(t, filepath.Join(h.dir, "src", "sub", "b.txt"), []byte("b"), mtime)
	db := filepath.Join(h.dir, "glacier.db")
	for run := 0; run < 2; run++ {
		r := h.run(t, 0, h.syncArgs("src", "src/sub", "./src/../src", "src/")...)
		if run == 0 {
			wantSummary(t, r, "uploaded      2 files", "deduplicated  0 files")
		} else {
			wantSummary(t, r, "uploaded      0 files", "unchanged     2 files")
		}
	}
	for p, n := range versionCounts(t, db) {
		if n != 1 {
			t.Errorf("%s has %d versions, want 1", p, n)
		}
	}

	// A symlink to a folder (a Documents folder on another disk), with and
	// without a trailing slash, is followed and recorded under its own path.
	real := filepath.Join(h.dir, "disk2", "Documents")
	writeFile(t, filepath.Join(real, "c.txt"), []byte("c"), mtime)
	writeFile(t, filepath.Join(real, "deep", "d.txt"), []byte("d"), mtime)
	link := filepath.Join(h.dir, "Documents")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	// A symlink to a file, whose content the backup already holds.
	writeFile(t, filepath.Join(h.dir, "disk2", "other.txt"), []byte("c"), mtime)
	fileLink := filepath.Join(h.dir, "c-link.txt")
	if err := os.Symlink(filepath.Join(h.dir, "disk2", "other.txt"), fileLink); err != nil {
		t.Fatal(err)
	}
	r := h.run(t, 0, h.syncArgs(link+"/", fileLink)...)
	wantSummary(t, r, "uploaded      2 files", "deduplicated  1 file ")
	r = h.run(t, 0, h.syncArgs(link, fileLink)...)
	wantSummary(t, r, "uploaded      0 files", "unchanged     3 files")
	counts := versionCounts(t, db)
	for _, p := range []string{filepath.Join(link, "c.txt"), filepath.Join(link, "deep", "d.txt"), fileLink} {
		if counts[p] != 1 {
			t.Errorf("%s should be recorded once under the path given: %v", p, counts)
		}
	}
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out, link)...)
	if b, _ := os.ReadFile(under(out, filepath.Join(link, "deep", "d.txt"))); string(b) != "d" {
		t.Errorf("the file behind the symlinked folder should restore under its path: %q", b)
	}
}

// Item 14: the catalogue and its WAL, SHM and backup files are created
// private (0600); an existing catalogue others can read is warned about.
func TestCatalogueFilesArePrivate(t *testing.T) {
	t.Parallel()
	_, env := emulator(t, glacieremu.Config{Delays: glacieremu.Delays{Standard: time.Hour}}, "v")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"), time.Time{})
	key := newKey(t, dir)
	db := filepath.Join(dir, "glacier.db")
	mustRunEnv(t, dir, env, 0, "--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, src)
	// A restore waiting for its retrieval keeps the catalogue open, with
	// its WAL and SHM files.
	p := startGrsync(t, dir, nil, env, "restore", "--encryption-key-file", key, "--output", "out", "--wait", "--poll", "50ms")
	defer func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cancel()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !fileExists(db+"-wal") || !fileExists(db+"-shm") {
		if time.Now().After(deadline) {
			t.Fatal("the restore never opened its catalogue's WAL and SHM files")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, f := range []string{db, db + "-wal", db + "-shm", db + ".lock"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s should be mode 0600: %v %v", f, fi.Mode(), err)
		}
	}

	// A catalogue of the Python tool, readable by everyone: a warning, and
	// the copy made before upgrading it is private.
	d2 := t.TempDir()
	storeDir, legacyDB, legacyKey := legacySetup(t, d2)
	if err := os.Chmod(legacyDB, 0o644); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(d2, "old.db")
	copyFile(t, filepath.Join(legacyDir, "glacier.db"), old, 0o644)
	r := mustRun(t, d2, 0, "ls", "--db", legacyDB)
	wantStderr(t, r, "readable by other users", "chmod 600 "+legacyDB)
	r = mustRun(t, d2, 0, "--db", old, "--local-store", storeDir, "--encryption-key-file", legacyKey, src)
	wantStderr(t, r, "chmod 600 "+old)
	baks, _ := filepath.Glob(old + ".pre-v*.bak")
	if len(baks) != 1 {
		t.Fatalf("upgrading should keep one copy: %v", baks)
	}
	if fi, err := os.Stat(baks[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s should be mode 0600: %v %v", baks[0], fi.Mode(), err)
	}
}

// Item 16: grsync keygen > my.key makes a key grsync accepts, and a key
// file others can read is refused with the chmod that fixes it, never
// with advice to make a new key.
func TestKeygenToRedirectedStdoutAndModeRefusal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "my.key")
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(grsyncBin, "keygen")
	var stderr strings.Builder
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, cleanEnv(), f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("keygen > my.key: %v\n%s", err, stderr.String())
	}
	f.Close()
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("keygen > my.key should leave the file 0600, it is %v", fi.Mode())
	}
	mustRun(t, dir, 0, "keygen", "--verify", keyFile)

	writeFile(t, filepath.Join(dir, "src", "a.txt"), []byte("a"), time.Time{})
	if err := os.Chmod(keyFile, 0o640); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, dir, 2, "--local-store", "st", "--encryption-key-file", keyFile, "src")
	wantStderr(t, r, "chmod 600 "+keyFile)
	if strings.Contains(r.stderr, "keygen") {
		t.Errorf("a key file's mode is no reason to make a new key:\n%s", r)
	}
	mustNotExist(t, filepath.Join(dir, "st"), filepath.Join(dir, "glacier.db"))
}
