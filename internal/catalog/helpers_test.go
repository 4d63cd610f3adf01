package catalog

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fixture is the Python tools' catalogue: five rows in vault my-vault.
const fixture = "testdata/glacier.db"

// newCatalog opens a fresh catalogue in a temporary directory.
func newCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := Open(filepath.Join(t.TempDir(), "grsync.db"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// copyFile copies src to dir/name and returns the new path.
func copyFile(t testing.TB, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// openLegacy copies the fixture and opens it read-write.
func openLegacy(t testing.TB) (*Catalog, string) {
	t.Helper()
	path := copyFile(t, fixture, t.TempDir(), "glacier.db")
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

// rawDB opens path with the bare driver, outside the catalogue's code.
func rawDB(t testing.TB, path string, readOnly bool) *sql.DB {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(abs, readOnly))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// legacyRows returns the nine original columns of every row as the driver
// returns them (types included), ordered by id.
func legacyRows(t testing.TB, db *sql.DB) [][]any {
	t.Helper()
	rows, err := db.Query(`SELECT id, path, file_size, mtime, archive_id, location, checksum, compression, timestamp,
		typeof(id), typeof(path), typeof(file_size), typeof(mtime), typeof(archive_id), typeof(location),
		typeof(checksum), typeof(compression), typeof(timestamp) FROM sync_history ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, 18)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustTarget(t testing.TB, c *Catalog, location string) Target {
	t.Helper()
	tg, err := c.EnsureTarget(location)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func mustRecord(t testing.TB, c *Catalog, v Version) int64 {
	t.Helper()
	id, err := c.Record(v)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// version is a live version of path with archive "a-"+path.
func version(targetID int64, path string, size int64, at time.Time) Version {
	return Version{TargetID: targetID, Path: path, Size: size, MTimeNS: at.UnixNano(), Mode: 0o644,
		ArchiveID: "a-" + path + at.String(), Checksum: "00", Compression: "age+zstd", Timestamp: at,
		ContentHash: "h-" + path, StoredSize: size + 100}
}

func paths(vs []Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Path)
	}
	return out
}

func wantErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func equal(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}
