package catalog

import (
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// commitPacks commits n one-piece file versions as a sync of small files
// does: packs of perPack members, one Batch each.
func commitPacks(b *testing.B, c *Catalog, tg Target, n, perPack int) {
	b.Helper()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += perPack {
		o := &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: fmt.Sprintf("pack-%06d", start), Kind: ObjectPack,
			PackID: fmt.Sprintf("%032x", start), Size: 1 << 25, TreeHash: fmt.Sprintf("%064x", start), Class: "DEEP_ARCHIVE"}}
		batch := &Batch{Objects: []*NewObject{o}}
		for i := start; i < min(start+perPack, n); i++ {
			bl := &Blob{TargetID: tg.ID, Hash: fmt.Sprintf("%x", sha256.Sum256(fmt.Append(nil, i))), // random, as content hashes are Size: 6144, Offset: int64(i-start) * 3000,
				Length: 3000, Member: int64(i - start), Kind: BlobFile, Encoding: "tar+zstd+age"}
			o.Blobs = append(o.Blobs, bl)
			batch.Versions = append(batch.Versions, &NewVersion{Version: Version{TargetID: tg.ID,
				Path: fmt.Sprintf("/home/user/dir%03d/file-%06d.dat", i%400, i), Size: 6144, MTimeNS: at.UnixNano() + int64(i),
				Mode: 0o644, ContentHash: bl.Hash, Timestamp: at, RunID: 1, OwnerKnown: true, UID: 1000, GID: 1000}, Pieces: []*Blob{bl}})
		}
		if err := c.Commit(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitPacks50k: the catalogue's share of a first sync of 50,000
// small files (three rows each, in transactions of a pack's members).
func BenchmarkCommitPacks50k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		c, err := Open(filepath.Join(b.TempDir(), "bench.db"), OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		tg, _ := c.EnsureTarget("local:/bench")
		b.StartTimer()
		commitPacks(b, c, tg, 50_000, 7_000)
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkExportRecords50k: the records of those 50,000 versions, read
// back in the parts a sync writes (one after each pack).
func BenchmarkExportRecords50k(b *testing.B) {
	c, err := Open(filepath.Join(b.TempDir(), "bench.db"), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tg, _ := c.EnsureTarget("local:/bench")
	commitPacks(b, c, tg, 50_000, 7_000)
	now := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		next, n, err := c.ExportRecordsPart(tg.ID, RecordsMark{}, now, io.Discard, true)
		if err != nil || n != 8+2*50_000 || next.Version == 0 {
			b.Fatalf("%d lines, %v", n, err)
		}
	}
}
