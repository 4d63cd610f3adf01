package main

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// pieceKinds returns the kinds of the pieces (file, chunk, archive) of
// the latest version of path in the catalogue db, in order.
func pieceKinds(t *testing.T, db, path string) []string {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.Query(`SELECT b.kind FROM version_pieces p JOIN blobs b ON b.id = p.blob_id
		WHERE p.version_id = (SELECT max(id) FROM sync_history WHERE path = ?) ORDER BY p.seq`, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var kinds []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return kinds
}

// wholeOrChunks says how pieceKinds stored a file: "whole" (one piece of
// a file), "chunks" (every piece a chunk), or the kinds themselves.
func wholeOrChunks(kinds []string) string {
	switch {
	case slices.Equal(kinds, []string{"file"}):
		return "whole"
	case len(kinds) > 0 && !slices.ContainsFunc(kinds, func(k string) bool { return k != "chunk" }):
		return "chunks"
	}
	return strings.Join(kinds, ",")
}

// --pack-threshold decides which files are stored whole (one member) and
// which in content-defined chunks: by default (1M) a 1.5 MiB file is
// chunked; with 2M it is whole and a 12 MiB one chunked; with 2G both are
// whole (the 12 MiB one streamed into its pack). Each target restores
// identically.
func TestPackThresholdChoosesWholeOrChunks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	mt := time.Unix(1700000000, 0)
	writeFile(t, filepath.Join(src, "small.txt"), randomBytes(t, 10000), mt)
	writeFile(t, filepath.Join(src, "mid.bin"), randomBytes(t, 3<<19+5), mt)
	writeFile(t, filepath.Join(src, "big.img"), randomBytes(t, 12<<20+7), mt)
	key := newKey(t, dir)
	for _, c := range []struct {
		threshold string // "" for the default
		want      map[string]string
	}{
		{"", map[string]string{"small.txt": "whole", "mid.bin": "chunks", "big.img": "chunks"}},
		{"2M", map[string]string{"small.txt": "whole", "mid.bin": "whole", "big.img": "chunks"}},
		{"2G", map[string]string{"small.txt": "whole", "mid.bin": "whole", "big.img": "whole"}},
	} {
		name := "default"
		if c.threshold != "" {
			name = c.threshold
		}
		db := filepath.Join(dir, name+".db")
		args := []string{"--db", db, "--local-store", filepath.Join(dir, "store-"+name), "--encryption-key-file", key}
		sync := append(slices.Clone(args), src)
		if c.threshold != "" {
			sync = append([]string{"--pack-threshold", c.threshold}, sync...)
		}
		r := mustRun(t, dir, 0, sync...)
		if !strings.Contains(r.stdout, "uploaded      3 files") {
			t.Fatalf("--pack-threshold %s:\n%s", name, r)
		}
		for file, want := range c.want {
			if got := wholeOrChunks(pieceKinds(t, db, filepath.Join(src, file))); got != want {
				t.Errorf("--pack-threshold %s: %s is stored as %s, want %s", name, file, got, want)
			}
		}
		out := filepath.Join(dir, "out-"+name)
		mustRun(t, dir, 0, append([]string{"restore", "--output", out}, args...)...)
		sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
		mustRun(t, dir, 0, append([]string{"verify", "--read-data"}, args...)...)
	}
}

// Sizes out of range, or not sizes at all, are refused before anything is
// created: exit 2, the flag and what to give instead.
func TestInvalidPackSizesRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "f"), []byte("content"), time.Time{})
	for _, c := range []struct {
		flag, value, fix string
	}{
		{"--pack-size", "512k", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-size", "5G", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-size", "lots", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-size", "-1M", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-threshold", "10k", "use a size from 64k to 1024G"},
		{"--pack-threshold", "0", "use a size from 64k to 1024G"},
		{"--pack-threshold", "2048G", "use a size from 64k to 1024G"},
		{"--pack-threshold", "1.5M", "use a size from 64k to 1024G"},
	} {
		r := mustRun(t, dir, 2, c.flag, c.value, "--local-store", "store", src)
		wantStderr(t, r, "invalid "+c.flag+` "`+c.value+`"`, c.fix)
		mustNotExist(t, filepath.Join(dir, "store"), filepath.Join(dir, "glacier.db"))
	}
}
