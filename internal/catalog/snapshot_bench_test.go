package catalog

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FillFiles gives the target n files as a sync with packs records them,
// written directly in SQL for speed: each file one row, one blob and one
// piece; 3,000 members per pack object; paths in 1,000 folders; keyed
// content hashes (random-looking hex, as with encryption on). A tenth of
// the files get a second version.
func FillFiles(tb testing.TB, c *Catalog, targetID int64, n int) {
	tb.Helper()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := c.update("fill", func(tx *sql.Tx) error {
		insObj, err := tx.Prepare(`INSERT INTO objects (target_id, archive_id, kind, pack_id, size, tree_hash, storage_class, uploaded_at, run_id)
			VALUES (?, ?, 'pack', ?, ?, ?, 'DEEP_ARCHIVE', ?, 1)`)
		if err != nil {
			return err
		}
		insBlob, err := tx.Prepare(`INSERT INTO blobs (target_id, object_id, hash, size, offset, length, member, kind, encoding)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'file', 'grsync2+zstd+age')`)
		if err != nil {
			return err
		}
		insVer, err := tx.Prepare(insertVersionSQL)
		if err != nil {
			return err
		}
		insPiece, err := tx.Prepare(`INSERT INTO version_pieces (version_id, seq, blob_id) VALUES (?, 0, ?)`)
		if err != nil {
			return err
		}
		var obj int64
		var archive string
		var off int64
		for i := range n {
			f := i
			if i >= n-n/10 {
				f = i - (n - n/10) // second versions
			}
			h := sha256.Sum256([]byte(fmt.Sprint("content", i)))
			hash := hex.EncodeToString(h[:])
			if i%3000 == 0 {
				p := sha256.Sum256([]byte(fmt.Sprint("pack", i)))
				archive = hex.EncodeToString(p[:16])
				res, err := insObj.Exec(targetID, archive, hex.EncodeToString(p[16:]), 64<<20, hex.EncodeToString(p[:]), formatTime(at))
				if err != nil {
					return err
				}
				obj, _ = res.LastInsertId()
				off = 0
			}
			size := int64(1000 + i%50000)
			res, err := insBlob.Exec(targetID, obj, hash, size, off, size/2+200, i%3000)
			if err != nil {
				return err
			}
			blob, _ := res.LastInsertId()
			off += size/2 + 200
			ts := at.Add(time.Duration(i) * time.Millisecond)
			path := fmt.Sprintf("/home/user/projects/dir%03d/sub%02d/file-%07d.dat", f%1000, f%37, f)
			res, err = insVer.Exec(path, size, float64(ts.Unix()), archive, "local:/bench", nil, "grsync2+zstd+age",
				ts.Format(httpTimeFormat), targetID, ts.UnixNano(), 0o644, hash, nil, nil, false, formatTime(ts), 0, 1000, 1000, nil, nil, 0, 1)
			if err != nil {
				return err
			}
			v, _ := res.LastInsertId()
			if _, err := insPiece.Exec(v, blob); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// benchSnapshot measures WriteSnapshot of a catalogue of n files; the
// bytes a snapshot stores are measured in package engine (compressed
// and encrypted).
func benchSnapshot(b *testing.B, n int) {
	dir := b.TempDir()
	c, err := Open(filepath.Join(dir, "bench.db"), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tg, err := c.EnsureTarget("local:/bench")
	if err != nil {
		b.Fatal(err)
	}
	FillFiles(b, c, tg.ID, n)
	out := filepath.Join(dir, "snap.db")
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.WriteSnapshot(tg.ID, out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	fi, _ := os.Stat(out)
	b.ReportMetric(float64(fi.Size())/1e6, "MB-file")
}

func BenchmarkWriteSnapshot100k(b *testing.B) { benchSnapshot(b, 100_000) }
func BenchmarkWriteSnapshot1M(b *testing.B)   { benchSnapshot(b, 1_000_000) }
