package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oddTree builds the tree: unicode, spaces, quotes, "|", a newline
// in a name, 0-byte files, large and small files, nested folders, a FIFO and
// a symlink. It returns the names that must never appear in the store.
func oddTree(t *testing.T, src string) []string {
	t.Helper()
	base := time.Date(2023, 5, 17, 10, 30, 0, 123456789, time.UTC)
	files := map[string][]byte{
		"résumé – 履歴書.txt":                      []byte("unicode name\n"),
		"with space/and 'quotes' \"double\".md": []byte("quotes\n"),
		"pipe|in|name.txt":                      []byte("pipes\n"),
		"new\nline.txt":                         []byte("a newline in the name\n"),
		"empty.bin":                             nil,
		"deep/er/still/deeper/zero":             nil,
		"big/large-random.bin":                  randomBytes(t, 5<<20+7),
		"big/compressible.log":                  bytes.Repeat([]byte("the same line again and again\n"), 100000),
		"small.txt":                             []byte("x"),
	}
	i := 0
	for name, data := range files {
		writeFile(t, filepath.Join(src, name), data, base.Add(time.Duration(i)*time.Hour))
		i++
	}
	if err := os.Chmod(filepath.Join(src, "small.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "a-fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("small.txt", filepath.Join(src, "a-symlink")); err != nil {
		t.Fatal(err)
	}
	return []string{"résumé", "履歴書", "quotes", "pipe|in", "new\nline", "large-random", "compressible", "deeper", "small.txt", "empty.bin"}
}

func TestBackupRestoreOddTreeCompressedEncrypted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "Private-Folder-Name")
	secrets := oddTree(t, src)
	key := newKey(t, dir)
	storeDir := filepath.Join(dir, "store")

	r := mustRun(t, dir, 0, "--local-store", storeDir, "--compress", "true", "--encrypt", "true",
		"--encryption-key-file", key, "--desc", "secret description text", src)
	// Empty files have no content to store: all nine files are new.
	if !strings.Contains(r.stdout, "uploaded      9 files") || !strings.Contains(r.stdout, "deduplicated  0 files") {
		t.Errorf("summary should count 9 uploads:\n%s", r)
	}
	if !strings.Contains(r.stdout, "skipped       1") || !strings.Contains(r.stdout, "symlinks      1 symlink recorded") {
		t.Errorf("the FIFO should be reported as skipped, the symlink recorded:\n%s", r)
	}

	// A second run uploads nothing.
	r = mustRun(t, dir, 0, "--local-store", storeDir, "--encryption-key-file", key, src)
	if !strings.Contains(r.stdout, "uploaded      0 files") || !strings.Contains(r.stdout, "unchanged     9 files") {
		t.Errorf("re-sync should find everything unchanged:\n%s", r)
	}

	// Nothing under the store names a file, a path or the description.
	secrets = append(secrets, "secret description", "Private-Folder-Name")
	err := filepath.WalkDir(storeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if strings.Contains(p, s) {
				t.Errorf("store path %q reveals %q", p, s)
			}
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("store file %s contains %q in the clear", p, s)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Restore everything under a new folder: byte-identical, mtimes and modes.
	out := filepath.Join(dir, "out")
	mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", out)
	sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
	if l, err := os.Readlink(filepath.Join(out, strings.TrimPrefix(src, "/"), "a-symlink")); err != nil || l != "small.txt" {
		t.Errorf("the symlink should be restored as a symlink to small.txt: %q, %v", l, err)
	}

	// Restoring again never overwrites (the symlink neither).
	r = mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", out)
	if !strings.Contains(r.stdout, "10 files exist and will not be replaced") {
		t.Errorf("existing files must be kept:\n%s", r)
	}
}

func TestRestoreWithoutEncryption(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("hello"), time.Unix(1700000000, 5))
	writeFile(t, filepath.Join(src, "sub", "b.txt"), randomBytes(t, 3<<20), time.Unix(1700000100, 0))
	for _, compress := range []string{"true", "false"} {
		t.Run("compress="+compress, func(t *testing.T) {
			db := filepath.Join(dir, "c"+compress+".db")
			st := filepath.Join(dir, "store"+compress)
			r := mustRun(t, dir, 0, "--db", db, "--local-store", st, "--compress", compress, src)
			if !strings.Contains(r.stderr, "encryption is off") {
				t.Errorf("an unencrypted backup must warn:\n%s", r)
			}
			out := filepath.Join(dir, "out"+compress)
			mustRun(t, dir, 0, "restore", "--db", db, "--output", out)
			sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
		})
	}
}

func TestDedupHistoryDeletionsAndAt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	st := filepath.Join(dir, "store")
	content := randomBytes(t, 100000)
	writeFile(t, filepath.Join(src, "doc.txt"), []byte("version one"), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "photo.jpg"), content, time.Unix(1700000000, 0))
	args := []string{"--local-store", st, "--encryption-key-file", key}
	mustRun(t, dir, 0, append(args, src)...)
	between := time.Now()
	time.Sleep(20 * time.Millisecond)

	// Change one file, move another (same content, new name), delete nothing yet.
	writeFile(t, filepath.Join(src, "doc.txt"), []byte("version two, longer"), time.Unix(1700000500, 0))
	if err := os.MkdirAll(filepath.Join(src, "moved"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(src, "photo.jpg"), filepath.Join(src, "moved", "photo.jpg")); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, dir, 0, append(args, src)...)
	for _, want := range []string{"uploaded      1 file", "deduplicated  1 file", "deleted       1 file"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary should say %q:\n%s", want, r)
		}
	}

	ls := mustRun(t, dir, 0, "ls")
	if !strings.Contains(ls.stdout, "doc.txt") || !strings.Contains(ls.stdout, "moved/photo.jpg") || strings.Contains(ls.stdout, src+"/photo.jpg\"") {
		t.Errorf("ls should list the live files only:\n%s", ls)
	}
	lsd := mustRun(t, dir, 0, "ls", "--deleted")
	if !strings.Contains(lsd.stdout, "photo.jpg\" (deleted)") {
		t.Errorf("ls --deleted should show the deleted file:\n%s", lsd)
	}

	// --at between the two syncs gives the first version and the old name.
	out := filepath.Join(dir, "out")
	mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", out, "--at", between.UTC().Format(time.RFC3339Nano))
	got, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(src, "/"), "doc.txt"))
	if err != nil || string(got) != "version one" {
		t.Errorf("--at should restore the first version, got %q, %v", got, err)
	}
	if b, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(src, "/"), "photo.jpg")); err != nil || !bytes.Equal(b, content) {
		t.Errorf("--at should restore the file under its old name: %v", err)
	}
	// Latest: the moved file restores from the deduplicated archive.
	out2 := filepath.Join(dir, "out2")
	mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", out2)
	if b, err := os.ReadFile(filepath.Join(out2, strings.TrimPrefix(src, "/"), "moved", "photo.jpg")); err != nil || !bytes.Equal(b, content) {
		t.Errorf("the moved file should restore: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out2, strings.TrimPrefix(src, "/"), "photo.jpg")); err == nil {
		t.Errorf("the deleted file must not be restored as latest")
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a"), []byte("12345"), time.Time{})
	writeFile(t, filepath.Join(src, "b.tmp"), []byte("123"), time.Time{})
	r := mustRun(t, dir, 0, "--local-store", "store", "--dry-run", "--exclude", "*.tmp", "src")
	if !strings.Contains(r.stdout, "would upload 1 file (5 B)") {
		t.Errorf("dry run should count one file of 5 bytes:\n%s", r)
	}
	for _, p := range []string{"store", "glacier.db"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("dry run created %s", p)
		}
	}
}

func TestExcludes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, n := range []string{"keep.txt", "skip.tmp", "cache/x", "sub/cache/y", "build/a.o", "sub/build/b.o", "sub/keep.o"} {
		writeFile(t, filepath.Join(src, n), []byte(n), time.Time{})
	}
	if err := os.WriteFile(filepath.Join(dir, "ex.txt"), []byte("# comment\n/build/*.o\n\ncache/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "--local-store", "store", "--exclude", "*.tmp", "--exclude-from", "ex.txt", "src")
	ls := mustRun(t, dir, 0, "ls")
	for _, n := range []string{"keep.txt", "sub/build/b.o", "sub/keep.o"} {
		if !strings.Contains(ls.stdout, n) {
			t.Errorf("%s should be backed up:\n%s", n, ls.stdout)
		}
	}
	for _, n := range []string{"skip.tmp", "cache/x", "cache/y", "build/a.o\""} {
		if strings.Contains(ls.stdout, "src/"+n) {
			t.Errorf("%s should be excluded:\n%s", n, ls.stdout)
		}
	}
}

func TestUsageErrorsExit2AndDoNothing(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "src", "a"), []byte("a"), time.Time{})
		for name, content := range map[string]string{"short.key": "c2hvcnQ=\n", "empty.key": "",
			"open.key": "ZmRfLWd5c3Jjc3BqbXRxeGd3ZW5ka2Z0c2Z6cGxobnU=\n"} {
			mode := os.FileMode(0o600)
			if name == "open.key" {
				mode = 0o644
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	cases := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"missing src", []string{"--local-store", "st", "nope"}, []string{"SRC nope does not exist"}},
		{"no src", []string{"--local-store", "st"}, []string{"no SRC given"}},
		{"bad bool", []string{"--local-store", "st", "--compress", "maybe", "src"}, []string{"not a boolean"}},
		{"bad part size", []string{"--local-store", "st", "--part-size", "1000", "src"}, []string{"invalid --part-size", "power of two"}},
		{"bad log level", []string{"--local-store", "st", "--loglevel", "LOUD", "src"}, []string{"invalid log level"}},
		{"two targets", []string{"--local-store", "st", "--bucket", "b", "src"}, []string{"conflicting targets"}},
		{"key and key file", []string{"--local-store", "st", "--encryption-key", "x", "--encryption-key-file", "y", "src"}, []string{"both --encryption-key and --encryption-key-file"}},
		{"short key", []string{"--local-store", "st", "--encryption-key-file", "short.key", "src"}, []string{"32", "grsync keygen"}},
		{"empty key", []string{"--local-store", "st", "--encryption-key-file", "empty.key", "src"}, []string{"empty", "grsync keygen"}},
		{"missing key", []string{"--local-store", "st", "--encryption-key-file", "none.key", "src"}, []string{"none.key", "grsync keygen"}},
		{"bad alphabet", []string{"--local-store", "st", "--encryption-key", "ZmRfLWd5c3Jjc3BqbXRxeGd3ZW5ka2Z0c2Z6cGxob+/=", "src"}, []string{"url-safe"}},
		{"open key file", []string{"--local-store", "st", "--encryption-key-file", "open.key", "src"}, []string{"chmod 600"}},
		{"encrypt without key", []string{"--local-store", "st", "--encrypt", "true", "src"}, []string{"no key was given"}},
		{"vault without region", []string{"--vault", "v", "src"}, []string{"--vault needs --region"}},
		{"no target", []string{"src"}, []string{"no target"}},
		{"restore without output", []string{"restore", "--local-store", "st"}, []string{"--output"}},
		{"bad tier", []string{"restore", "--local-store", "st", "--output", "o", "--tier", "Fast"}, []string{"invalid --tier"}},
		{"bad at", []string{"restore", "--local-store", "st", "--output", "o", "--at", "yesterday"}, []string{"invalid --at"}},
		{"unknown flag", []string{"--local-store", "st", "--frobnicate", "src"}, []string{"unknown flag"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := setup(t)
			r := grsync(t, dir, nil, c.args...)
			if r.code != 2 {
				t.Fatalf("want exit 2:\n%s", r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr should mention %q:\n%s", w, r)
				}
			}
			for _, p := range []string{"st", "glacier.db", "o"} {
				if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
					t.Errorf("a usage error left %s behind", p)
				}
			}
		})
	}
}

func TestWrongKeyRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "a"), []byte("a"), time.Time{})
	k1 := newKey(t, dir)
	k2 := filepath.Join(dir, "other.key")
	mustRun(t, dir, 0, "keygen", k2)
	mustRun(t, dir, 0, "--local-store", "st", "--encryption-key-file", k1, "src")
	writeFile(t, filepath.Join(dir, "src", "b"), []byte("b"), time.Time{})
	r := grsync(t, dir, nil, "--local-store", "st", "--encryption-key-file", k2, "src")
	if r.code != 2 || !strings.Contains(r.stderr, "this store's backups use another key") {
		t.Fatalf("a different key must be refused:\n%s", r)
	}
	r = grsync(t, dir, nil, "restore", "--encryption-key-file", k2, "--output", "out")
	if r.code != 2 || !strings.Contains(r.stderr, "this store's backups use another key") {
		t.Fatalf("restore with a different key must be refused:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("restore with a wrong key wrote output")
	}
	r = grsync(t, dir, nil, "--local-store", "st", "--encrypt", "false", "src")
	if r.code != 2 || !strings.Contains(r.stderr, "refusing to add unencrypted archives") {
		t.Fatalf("unencrypted uploads to an encrypted target must be refused:\n%s", r)
	}
}

func TestKeygen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mustRun(t, dir, 0, "keygen")
	k := strings.TrimSpace(r.stdout)
	if len(k) != 44 || strings.ContainsAny(k, "+/") {
		t.Fatalf("keygen should print a 44-char url-safe key, got %q", k)
	}
	mustRun(t, dir, 0, "keygen", "my.key")
	fi, err := os.Stat(filepath.Join(dir, "my.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file should be 0600: %v %v", fi.Mode(), err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "my.key"))
	r = grsync(t, dir, nil, "keygen", "my.key")
	if r.code != 2 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("keygen must not overwrite:\n%s", r)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "my.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("keygen changed an existing key file")
	}
	mustRun(t, dir, 0, "keygen", "--force", "my.key")
	r = mustRun(t, dir, 0, "keygen", "--verify", "my.key")
	if !strings.Contains(r.stdout, "fingerprint") {
		t.Errorf("--verify should print the fingerprint:\n%s", r)
	}
}

func TestCorruptArchiveFailsOnlyThatFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	for _, n := range []string{"a", "b", "c"} {
		writeFile(t, filepath.Join(src, n), randomBytes(t, 200000), time.Time{})
	}
	// One object per file, so that one damaged object holds one file.
	mustRun(t, dir, 0, "--local-store", "st", "--encryption-key-file", key, "--pack-size", "0", "src")
	// Flip one bit in the middle of the largest object (a file's; the
	// version records are small).
	archives, _ := filepath.Glob(filepath.Join(dir, "st", "archives", "*"))
	var victim string
	var largest int64
	for _, a := range archives {
		if fi, err := os.Stat(a); err == nil && !strings.HasSuffix(a, ".json") && fi.Size() > largest {
			victim, largest = a, fi.Size()
		}
	}
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.Chmod(victim, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	r := mustRun(t, dir, 1, "restore", "--encryption-key-file", key, "--output", out)
	if !strings.Contains(r.stdout, "restored 2 files") || !strings.Contains(r.stdout, "failed 1 file") {
		t.Errorf("one corrupt archive should fail one file only:\n%s", r)
	}
	got := treeFiles(t, out)
	if len(got) != 2 {
		t.Errorf("exactly the two good files should exist, no partial output: %v", got)
	}
	var names []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(p, ".grsync-") {
			names = append(names, p)
		}
		return nil
	})
	if len(names) > 0 {
		t.Errorf("temporary files left behind: %v", names)
	}
}

func TestSecondGrsyncOnSameCatalogueRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "a"), []byte("a"), time.Time{})
	mustRun(t, dir, 0, "--local-store", "st", "src")
	lock, err := os.OpenFile(filepath.Join(dir, "glacier.db.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	r := grsync(t, dir, nil, "--local-store", "st", "src")
	if r.code != 2 || !strings.Contains(r.stderr, "another grsync") {
		t.Fatalf("a second grsync must be refused clearly:\n%s", r)
	}
}

func TestKeyFromEnvironmentAndCommandLineWarning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("env key"), time.Unix(1700000000, 0))
	k := strings.TrimSpace(mustRun(t, dir, 0, "keygen").stdout)
	env := []string{keyEnv + "=" + k}
	r := grsync(t, dir, env, "--local-store", "st", src)
	if r.code != 0 || strings.Contains(r.stderr, "encryption is off") {
		t.Fatalf("a key in $%s should turn encryption on:\n%s", keyEnv, r)
	}
	if r := grsync(t, dir, nil, "restore", "--output", "out"); r.code != 2 || !strings.Contains(r.stderr, "encrypted and no key") {
		t.Fatalf("restore without the key must be refused:\n%s", r)
	}
	r = grsync(t, dir, nil, "restore", "--encryption-key", k, "--output", "out")
	if r.code != 0 || !strings.Contains(r.stderr, "process list") {
		t.Fatalf("--encryption-key works but must warn about the process list:\n%s", r)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out", strings.TrimPrefix(src, "/"), "a.txt")); err != nil || string(b) != "env key" {
		t.Fatalf("restore with the key on the command line: %v", err)
	}
}

// The setuid, setgid and sticky bits are backed up with the permissions
// and restored, from the catalogue and from a catalogue rebuilt from the
// store alike.
func TestSpecialModeBitsRestored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	modes := map[string]fs.FileMode{
		"setuid":  0o755 | fs.ModeSetuid,
		"setgid":  0o750 | fs.ModeSetgid,
		"sticky":  0o644 | fs.ModeSticky,
		"all":     0o700 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky,
		"private": 0o600,
	}
	for name, m := range modes {
		p := filepath.Join(src, name)
		writeFile(t, p, []byte(name), time.Unix(1700000000, 0))
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode()&^fs.ModeType != m {
			t.Skipf("this file system does not keep mode %v on %s (%v): nothing to test", m, name, err)
		}
	}
	key := newKey(t, dir)
	target := []string{"--local-store", filepath.Join(dir, "store"), "--encryption-key-file", key}
	mustRun(t, dir, 0, append(target, src)...)
	check := func(out string) {
		t.Helper()
		for name, m := range modes {
			fi, err := os.Stat(filepath.Join(out, strings.TrimPrefix(src, "/"), name))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() &^ fs.ModeType; got != m {
				t.Errorf("%s restored with mode %v, want %v", name, got, m)
			}
		}
	}
	mustRun(t, dir, 0, append([]string{"restore", "--output", "out1"}, target...)...)
	check(filepath.Join(dir, "out1"))
	mustRun(t, dir, 0, append([]string{"inventory", "--rebuild", "--db", "fresh.db"}, target...)...)
	mustRun(t, dir, 0, append([]string{"restore", "--db", "fresh.db", "--output", "out2"}, target...)...)
	check(filepath.Join(dir, "out2"))
}
