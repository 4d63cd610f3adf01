package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Four daily syncs with changes, then forget --keep-last 2: the versions
// no kept point saw are gone from ls and restore, the kept points restore
// exactly, and nothing is deleted from the store (that is prune's job).
func TestForgetKeepsWhatKeptPointsSaw(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	st := filepath.Join(dir, "store")
	day := func(d int) time.Time { return time.Date(2026, 3, 1+d, 12, 0, 0, 0, time.UTC) }
	at := func(d int) []string { return []string{"GRSYNC_FAKE_NOW=" + day(d).Format(time.RFC3339)} }
	run := func(d, want int, args ...string) result {
		t.Helper()
		r := grsync(t, dir, at(d), append([]string{"--encryption-key-file", key}, args...)...)
		if r.code != want {
			t.Fatalf("day %d grsync %v: want exit %d:\n%s", d, args, want, r)
		}
		return r
	}
	a, b := filepath.Join(src, "a.txt"), filepath.Join(src, "b.txt")
	for d := 0; d < 4; d++ {
		writeFile(t, a, []byte("a as of day "+string(rune('0'+d))), day(d))
		if d == 0 {
			writeFile(t, b, []byte("b"), day(0))
		}
		if d == 2 {
			if err := os.Remove(b); err != nil {
				t.Fatal(err)
			}
		}
		run(d, 0, "--local-store", st, src)
	}
	storeBefore := treeFiles(t, st)

	// The versions forgotten: a's of days 0 and 1, b's, and src's first
	// (the folder's mtime moved when b was deleted on day 2).
	dry := run(5, 0, "forget", "--keep-last", "2", "--dry-run")
	for _, want := range []string{"points in time: 4, kept 2", "would forget 4 versions of 3 paths (3 versions kept)", "dry run: nothing was changed"} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("dry run should say %q:\n%s", want, dry)
		}
	}
	if ls := run(5, 0, "ls", "--deleted"); !strings.Contains(ls.stdout, "b.txt") {
		t.Fatalf("a dry run changed the catalogue:\n%s", ls)
	}

	run(5, 0, "forget", "--keep-last", "2")
	if ls := run(5, 0, "ls", "--deleted"); strings.Contains(ls.stdout, "b.txt") || !strings.Contains(ls.stdout, "a.txt") {
		t.Errorf("after forget, b (deleted before the kept points) should be gone and a listed:\n%s", ls)
	}
	for d, want := range map[int]string{2: "a as of day 2", 3: "a as of day 3"} {
		out := filepath.Join(dir, "out", string(rune('0'+d)))
		run(5, 0, "restore", "--output", out, "--at", day(d).Add(time.Hour).Format(time.RFC3339))
		got, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(a, "/")))
		if err != nil || string(got) != want {
			t.Errorf("restore --at day %d: got %q, %v; want %q", d, got, err, want)
		}
	}
	// Day 1's state was not kept: nothing to restore at that time.
	r := grsync(t, dir, at(5), "--encryption-key-file", key, "restore", "--output", filepath.Join(dir, "out1"),
		"--at", day(1).Add(time.Hour).Format(time.RFC3339))
	if _, err := os.Stat(filepath.Join(dir, "out1", strings.TrimPrefix(a, "/"))); err == nil {
		t.Errorf("a forgotten version was restored:\n%s", r)
	}
	if after := treeFiles(t, st); len(after) != len(storeBefore) {
		t.Errorf("forget changed the store: %d files before, %d after", len(storeBefore), len(after))
	}

	// Without a rule, forget refuses and changes nothing.
	r = grsync(t, dir, at(5), "--encryption-key-file", key, "forget")
	if r.code != 2 || !strings.Contains(r.stderr, "no retention rule") {
		t.Errorf("forget without a rule: want exit 2 naming the problem:\n%s", r)
	}
}
