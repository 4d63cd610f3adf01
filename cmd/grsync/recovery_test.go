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
	archives, _ := filepath.Glob(filepath.Join(dir, "st", "archives", "*"))
	var archive string
	for _, a := range archives {
		if !strings.HasSuffix(a, ".json") {
			archive = a
		}
	}
	if archive == "" {
		t.Fatal("no archive in the store")
	}
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// The README's own line, with ARCHIVE named; it must print no warning.
	recipe := readmeRecipe(t, "age -d -i id.txt ARCHIVE")
	cmd := exec.Command("sh", "-c", strings.Replace(strings.ReplaceAll(recipe, "id.txt", "../id.txt"), "ARCHIVE", `"$1"`, 1), "sh", archive)
	cmd.Dir = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("the README's recipe %q failed or warned: %v\n%s", recipe, err, stderr.String())
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
