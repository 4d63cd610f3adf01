package catalog

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// fill100k gives a catalogue 100,000 rows in one target: 80,000 files in 400
// directories, 20,000 of them with a second version.
func fill100k(b *testing.B, c *Catalog) Target {
	b.Helper()
	tg, err := c.EnsureTarget("local:/bench")
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err = c.update("fill", func(tx *sql.Tx) error {
		for i := range 100_000 {
			f := i % 80_000
			p := fmt.Sprintf("/home/user/dir%03d/file-%06d.dat", f%400, f)
			v := Version{TargetID: tg.ID, Path: p, Size: int64(i), MTimeNS: at.UnixNano() + int64(i), Mode: 0o644,
				ArchiveID: fmt.Sprintf("archive-%07d", i), Checksum: "00", Compression: "age+zstd",
				Timestamp: at.Add(time.Duration(i) * time.Second), ContentHash: fmt.Sprintf("%064d", i), StoredSize: 1}
			if _, err := insertVersion(tx, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return tg
}

func BenchmarkLatestStates100k(b *testing.B) {
	c, err := Open(filepath.Join(b.TempDir(), "bench.db"), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tg := fill100k(b, c)
	for _, bc := range []struct {
		name     string
		prefixes []string
		want     int
	}{
		{"all", nil, 80_000},
		{"one-dir", []string{"/home/user/dir042"}, 200},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := c.LatestStates(tg.ID, bc.prefixes)
				if err != nil || len(s) != bc.want {
					b.Fatalf("%d states, %v; want %d", len(s), err, bc.want)
				}
			}
		})
	}
	b.Run("select-all", func(b *testing.B) {
		for b.Loop() {
			if vs, err := c.Select(tg.ID, nil, time.Time{}); err != nil || len(vs) != 80_000 {
				b.Fatalf("%d versions, %v", len(vs), err)
			}
		}
	})
}

// BenchmarkOpen100k measures Open (quick_check included) and Close of a
// catalogue with 100,000 rows.
func BenchmarkOpen100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	c, err := Open(path, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	fill100k(b, c)
	c.Close()
	for b.Loop() {
		c, err := Open(path, OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkRecord measures one Record: one transaction, fsynced.
func BenchmarkRecord(b *testing.B) {
	c, err := Open(filepath.Join(b.TempDir(), "bench.db"), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tg, _ := c.EnsureTarget("local:/bench")
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Record(Version{TargetID: tg.ID, Path: fmt.Sprintf("/f/%d", i), ArchiveID: "a"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObjectUses100k: what prune and grsync cost read first, over
// 100,000 objects (one archive per row, as migrated catalogues have them),
// 20,000 of them used only by forgotten versions.
func BenchmarkObjectUses100k(b *testing.B) {
	c, err := Open(filepath.Join(b.TempDir(), "bench.db"), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tg := fill100k(b, c)
	err = c.update("pieces and forget", func(tx *sql.Tx) error {
		if err := attachPieces(tx); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE sync_history SET forgotten_at = '2026-01-01T00:00:00.000000000Z' WHERE id <= 20000`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		uses, err := c.ObjectUses(tg.ID)
		if err != nil || len(uses) != 100_000 {
			b.Fatalf("%d objects, %v", len(uses), err)
		}
		dead := 0
		for _, u := range uses {
			if !u.Live() {
				dead++
			}
		}
		if dead != 20_000 {
			b.Fatalf("%d unused objects, want 20,000", dead)
		}
	}
}
