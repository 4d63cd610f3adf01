package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CountWork counts what the next sync will upload or deduplicate (new and
// changed files, excluded ones left out), the same as the sync then finds.
func TestCountWorkMatchesSync(t *testing.T) {
	cfg, dir := setup(t, 0)
	src := filepath.Join(dir, "src")
	write := func(name, content string) {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, time.Unix(1700000000, 0), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "aaaa")
	write("sub/b", "bb")
	write("skip.tmp", "ttttttt")
	ex, err := NewExcluder([]string{"*.tmp"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	files, bytes, err := CountWork(ctx, cfg, []string{src}, ex, OwnFiles{})
	if err != nil || files != 2 || bytes != 6 {
		t.Fatalf("before any sync: %d files, %d bytes, %v; want 2 and 6", files, bytes, err)
	}
	if _, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}, Exclude: ex}); err != nil {
		t.Fatal(err)
	}
	write("sub/b", "changed")
	write("c", "c")
	files, bytes, err = CountWork(ctx, cfg, []string{src}, ex, OwnFiles{})
	if err != nil || files != 2 || bytes != 8 {
		t.Fatalf("after a sync and two changes: %d files, %d bytes, %v; want 2 and 8", files, bytes, err)
	}
	res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}, Exclude: ex})
	if err != nil || res.Uploaded+res.Deduplicated != files {
		t.Fatalf("the sync did %d uploads and %d deduplications, the count said %d: %v", res.Uploaded, res.Deduplicated, files, err)
	}
}
