package catalog

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/testutil/catfill"
)

// benchSnapshot measures WriteSnapshot of a catalogue of n files (the
// bytes a snapshot stores, compressed and encrypted, are measured in
// package engine).
func benchSnapshot(b *testing.B, n int) {
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.db")
	c, err := Open(path, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tg, err := c.EnsureTarget("local:/bench")
	if err != nil {
		b.Fatal(err)
	}
	c.Close()
	if err := catfill.Files(path, tg.ID, tg.Location, n, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		b.Fatal(err)
	}
	if c, err = Open(path, OpenOptions{}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	out := filepath.Join(dir, "snap.db")
	for b.Loop() {
		if _, err := c.WriteSnapshot(tg.ID, out); err != nil {
			b.Fatal(err)
		}
	}
	fi, _ := os.Stat(out)
	b.ReportMetric(float64(fi.Size())/1e6, "MB-copy")
}

func BenchmarkWriteSnapshot100k(b *testing.B) { benchSnapshot(b, 100_000) }
func BenchmarkWriteSnapshot1M(b *testing.B)   { benchSnapshot(b, 1_000_000) }
