package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/testutil/tools"
)

// The README's recipe, end to end: back up with grsync, export the age
// identity with grsync, then get the file back with Debian's age, zstd and
// tar only.
func TestStandardToolsRecoveryRecipe(t *testing.T) {
	t.Parallel()
	tools.Require(t, "age", "zstd", "tar", "sh")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	content := append(randomBytes(t, 300000), bytes.Repeat([]byte("compressible "), 50000)...)
	mtime := time.Date(2022, 2, 2, 2, 2, 2, 222222222, time.UTC)
	writeFile(t, filepath.Join(src, "only file é.bin"), content, mtime)
	key := newKey(t, dir)
	mustRun(t, dir, 0, "--local-store", "st", "--encryption-key-file", key, src)
	id := mustRun(t, dir, 0, "key", "export-age", "--encryption-key-file", key)
	if err := os.WriteFile(filepath.Join(dir, "id.txt"), []byte(id.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../scripts/grsync-pack.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The README's own line, run on every object in the store (a pack of
	// the file, and the version records); it must print no warning.
	recipe := readmeRecipe(t, "sh grsync-pack.sh unpack ARCHIVE id.txt")
	archives, _ := filepath.Glob(filepath.Join(dir, "st", "archives", "*"))
	n := 0
	for _, archive := range archives {
		if strings.HasSuffix(archive, ".json") {
			continue
		}
		n++
		line := strings.Replace(strings.Replace(recipe, "id.txt", "../id.txt", 1), "ARCHIVE", `"$1"`, 1)
		line = strings.Replace(line, "grsync-pack.sh", `"$2"`, 1)
		cmd := exec.Command("sh", "-c", line, "sh", archive, script)
		cmd.Dir = out
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("the README's recipe %q failed or warned: %v\n%s", recipe, err, stderr.String())
		}
	}
	if n == 0 {
		t.Fatal("no archive in the store")
	}
	if _, err := os.Stat(filepath.Join(out, "grsync", "records.jsonl")); err != nil {
		t.Errorf("the version records should unpack too: %v", err)
	}
	got := filepath.Join(out, strings.TrimPrefix(src, "/"), "only file é.bin")
	b, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("recovered file differs or is missing: %v", err)
	}
	fi, _ := os.Stat(got)
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("tar should restore the mtime: %v vs %v", fi.ModTime(), mtime)
	}
}

// readmeRecipe returns the README line (an indented command) that starts
// with prefix.
func readmeRecipe(t *testing.T, prefix string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("README.md has no line starting with %q", prefix)
	return ""
}

// scripts/grsync-pack.sh is the script docs/FORMAT.md prints (and the
// format package's tests run): they must not drift apart.
func TestPackScriptMatchesFormatDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, "<!-- grsync-pack.sh begin -->")
	if i < 0 {
		t.Fatal("FORMAT.md has no grsync-pack.sh block")
	}
	s = s[i:]
	s = s[strings.Index(s, "```sh\n")+len("```sh\n"):]
	s = s[:strings.Index(s, "```")]
	file, err := os.ReadFile("../../scripts/grsync-pack.sh")
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != s {
		t.Fatal("scripts/grsync-pack.sh differs from the script in docs/FORMAT.md section 8.11")
	}
}

// A large file stored in chunks comes back with standard tools too: the
// version records (a pack) name its pieces, grsync-records.sh lists them,
// grsync-pack.sh joins them. This is the recipe of docs/FORMAT.md section 11.
func TestStandardToolsRebuildChunkedFile(t *testing.T) {
	t.Parallel()
	tools.Require(t, "age", "zstd", "tar", "sh", "awk")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	big := filepath.Join(src, "disk image.img")
	content := randomBytes(t, 9<<20+12345)
	writeFile(t, big, content, time.Unix(1700000000, 0))
	key := newKey(t, dir)
	mustRun(t, dir, 0, "--local-store", "st", "--encryption-key-file", key, src)
	id := mustRun(t, dir, 0, "key", "export-age", "--encryption-key-file", key)
	if err := os.WriteFile(filepath.Join(dir, "id.txt"), []byte(id.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Abs("../../scripts")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	sh := func(script string, args ...string) {
		t.Helper()
		cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
		cmd.Dir = out
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("%s: %v\n%s", script, err, stderr.String())
		}
	}
	// Unpack every small object: the version records are among them (the
	// packs of the chunks are large; nothing needs them unpacked).
	archives, _ := filepath.Glob(filepath.Join(dir, "st", "archives", "*"))
	for _, a := range archives {
		if fi, err := os.Stat(a); err == nil && !strings.HasSuffix(a, ".json") && fi.Size() < 1<<20 {
			sh(`sh "$1/grsync-pack.sh" unpack "$2" ../id.txt`, scripts, a)
		}
	}
	sh(`sh "$1/grsync-records.sh" pieces "$2" "$3" < grsync/records.jsonl | sh "$1/grsync-pack.sh" join ../id.txt > rebuilt`,
		scripts, big, filepath.Join(dir, "st", "archives"))
	got, err := os.ReadFile(filepath.Join(out, "rebuilt"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the file rebuilt from its chunks differs (%d bytes, want %d): %v", len(got), len(content), err)
	}
}
