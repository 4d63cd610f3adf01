package catalog

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A catalogue written at schema version 1 upgrades to the covering index
// and keeps its rows.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	oldCatalogue(t, path, []func(*sql.Tx, time.Time) error{migrate1},
		"PRAGMA user_version = 1",
		"INSERT INTO targets (id, location) VALUES (1, 'local:/s')",
		"INSERT INTO sync_history (path, file_size, mtime, archive_id, target_id, mtime_ns, deleted) VALUES ('/a', 3, 1.5, 'x', 1, 1500000000, 0)",
		"INSERT INTO sync_history (path, file_size, mtime, archive_id, target_id, mtime_ns, deleted) VALUES ('/a', 4, 2.5, 'y', 1, 2500000000, 0)",
	)

	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var v int
	c.db.QueryRow("PRAGMA user_version").Scan(&v)
	if v != schemaVersion {
		t.Fatalf("user_version %d, want %d", v, schemaVersion)
	}
	var n int
	c.db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type='index' AND name='sync_history_states'").Scan(&n)
	if n != 1 {
		t.Fatal("the covering index is missing")
	}
	st, err := c.LatestStates(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := st["/a"]; got.Size != 4 || got.MTimeNS != 2500000000 {
		t.Errorf("latest state of /a: %+v", got)
	}
	baks, _ := filepath.Glob(path + fmt.Sprintf(".pre-v%d-*.bak", schemaVersion))
	if len(baks) != 1 {
		t.Errorf("a backup should be made before upgrading: %v", baks)
	}
}

// A catalogue written at schema version 9 keeps its recorded retrievals,
// each as one of the whole archive.
func TestUpgradeFromVersion9KeepsRetrievalsWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v9.db")
	oldCatalogue(t, path, migrationsUpTo(9),
		"PRAGMA user_version = 9",
		"INSERT INTO targets (id, location) VALUES (1, 'glacier:us-east-1:v')",
		"INSERT INTO retrievals (target_id, kind, archive_id, job_id, tier, ready, size) VALUES (1, 'archive', 'A', 'J', 'Bulk', 1, 5000000)",
	)
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, ok, err := c.Retrieval(1, KindArchive, "A")
	if err != nil || !ok {
		t.Fatalf("recorded retrieval after the upgrade: %v, %v", ok, err)
	}
	if r.JobID != "J" || r.Offset != 0 || r.Length != 0 || !r.Covers(0, 5000000) {
		t.Errorf("recorded retrieval after the upgrade: %+v, want job J of the whole archive", r)
	}
}

// migrationsUpTo returns the migrations up to schema version n.
func migrationsUpTo(n int) []func(*sql.Tx, time.Time) error {
	var ms []func(*sql.Tx, time.Time) error
	for _, m := range migrations() {
		if m.version <= n {
			ms = append(ms, m.apply)
		}
	}
	return ms
}

// oldCatalogue writes a catalogue at path as an older grsync left it: the
// migrations ms applied, then stmts, in one transaction.
func oldCatalogue(t *testing.T, path string, ms []func(*sql.Tx, time.Time) error, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := m(tx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range stmts {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// A catalogue written at schema version 10 loses the index of versions by
// content hash and keeps its rows.
func TestUpgradeFromVersion10DropsTheContentIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v10.db")
	oldCatalogue(t, path, migrationsUpTo(10),
		"PRAGMA user_version = 10",
		"INSERT INTO targets (id, location) VALUES (1, 'local:/s')",
		"INSERT INTO sync_history (path, file_size, mtime, archive_id, target_id, mtime_ns, content_hash, deleted) VALUES ('/a', 3, 1.5, 'x', 1, 1500000000, 'h', 0)",
	)
	indexes := func(db *sql.DB) int {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type='index' AND name='sync_history_target_content'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if indexes(db) != 1 {
		t.Fatal("the version 10 catalogue was made without the content index")
	}
	db.Close()
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if indexes(c.db) != 0 {
		t.Error("the content index is still there after the upgrade")
	}
	if st, err := c.LatestStates(1, nil); err != nil || st["/a"].Size != 3 {
		t.Errorf("latest state of /a after the upgrade: %+v, %v", st["/a"], err)
	}
}
