package engine

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/testutil/catfill"
)

// benchConfig gives an encrypting config over a local store and a
// catalogue of n file versions (catfill).
func benchConfig(b *testing.B, n int) (*Config, string) {
	b.Helper()
	dir := b.TempDir()
	db := filepath.Join(dir, "c.db")
	st, err := local.New(filepath.Join(dir, "store"), local.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cat, err := catalog.Open(db, catalog.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tg, err := cat.EnsureTarget(st.Location())
	if err != nil {
		b.Fatal(err)
	}
	cat.Close()
	if err := catfill.Files(db, tg.ID, tg.Location, n, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		b.Fatal(err)
	}
	if cat, err = catalog.Open(db, catalog.OpenOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cat.Close() })
	k, err := keys.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return &Config{Store: st, Catalog: cat, Target: tg, Key: &k, Encrypt: true, Compress: true, Class: "LOCAL"}, dir
}

// benchSnapshot measures a snapshot of a catalogue of n file versions as a
// sync takes it: the copy (VACUUM INTO, other targets and indexes left
// out), compression and encryption, the store's Put, the record. It
// reports the copy's and the stored object's size.
func benchSnapshot(b *testing.B, n int) {
	cfg, _ := benchConfig(b, n)
	ctx := context.Background()
	var obj catalog.Object
	var copyBytes int64
	for b.Loop() {
		var err error
		if obj, copyBytes, err = takeSnapshot(ctx, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(copyBytes)/1e6, "MB-copy")
	b.ReportMetric(float64(obj.Size)/1e6, "MB-stored")
	b.ReportMetric(float64(obj.Size)/float64(n), "B-stored/row")
}

func BenchmarkSnapshot100k(b *testing.B) { benchSnapshot(b, 100_000) }
func BenchmarkSnapshot1M(b *testing.B)   { benchSnapshot(b, 1_000_000) }

// benchSnapshotNoop measures what a sync that changed nothing pays, with a
// catalogue of n file versions, for the store's copies of the catalogue:
// the version records (nothing to export) and the snapshot (the due check
// and the pointer check), which read the catalogue only. It fails if
// anything is stored.
func BenchmarkSnapshotNoop100k(b *testing.B) { benchSnapshotNoop(b, 100_000) }
func BenchmarkSnapshotNoop1M(b *testing.B)   { benchSnapshotNoop(b, 1_000_000) }

func benchSnapshotNoop(b *testing.B, n int) {
	cfg, dir := benchConfig(b, n)
	ctx := context.Background()
	if _, err := MaintainSnapshots(ctx, cfg, SnapshotPolicy{}); err != nil {
		b.Fatal(err)
	}
	if _, err := StoreRecords(ctx, cfg, 0); err != nil {
		b.Fatal(err)
	}
	before := storeObjectsB(dir)
	for b.Loop() {
		if n, err := StoreRecords(ctx, cfg, 0); err != nil || n != 0 {
			b.Fatalf("a no-op stored %d records lines: %v", n, err)
		}
		res, err := MaintainSnapshots(ctx, cfg, SnapshotPolicy{})
		if err != nil || res.Taken {
			b.Fatalf("a no-op took a snapshot: %+v %v", res, err)
		}
	}
	if n := storeObjectsB(dir); n != before {
		b.Fatalf("no-op runs stored %d objects", n-before)
	}
	b.ReportMetric(0, "B-uploaded")
}

func storeObjectsB(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "store", "archives", "*.json"))
	return len(m)
}
