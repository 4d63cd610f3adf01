package catalog

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// A catalogue at schema version 4 gains targets.store_id and keeps its
// targets and rows.
func TestUpgradeFromVersion4(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v4.db")
	oldCatalogue(t, path, []func(*sql.Tx, time.Time) error{migrate1, migrate2, migrate3, migrate4},
		"PRAGMA user_version = 4",
		"INSERT INTO targets (id, location, key_fingerprint, encrypted) VALUES (1, 'local:/s', 'k1:00', 1)",
		"INSERT INTO sync_history (path, file_size, mtime, archive_id, target_id, mtime_ns, deleted, compression) VALUES ('/a', 3, 1.5, 'x', 1, 1500000000, 0, 'grsync1+zstd+age')",
	)

	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tg, ok, err := c.Target("local:/s")
	if err != nil || !ok || tg.KeyFingerprint != "k1:00" || tg.StoreID != "" {
		t.Fatalf("target after upgrade: %+v, %v, %v", tg, ok, err)
	}
	if err := c.SetStoreID(tg.ID, "00112233445566778899aabbccddeeff"); err != nil {
		t.Fatal(err)
	}
	tg, _, _ = c.Target("local:/s")
	equal(t, "store id", tg.StoreID, "00112233445566778899aabbccddeeff")
	counts, err := c.EncodingCounts(tg.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "encoding counts", counts, map[string]int{"grsync1+zstd+age": 1})
}

func TestMoveTarget(t *testing.T) {
	c := newCatalog(t)
	old := mustTarget(t, c, "local:/old")
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	mustRecord(t, c, version(old.ID, "/f", 3, at))
	if err := c.SetKey(old.ID, "k1:ab", true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStoreID(old.ID, "id-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.TouchTarget(old.ID); err != nil {
		t.Fatal(err)
	}
	found, err := c.TargetsByStoreID("id-1")
	if err != nil || len(found) != 1 || found[0].ID != old.ID {
		t.Fatalf("TargetsByStoreID = %+v, %v", found, err)
	}
	if none, err := c.TargetsByStoreID(""); err != nil || len(none) != 0 {
		t.Errorf("TargetsByStoreID(\"\") = %v, %v; want none", none, err)
	}

	// An empty target an older grsync created at the new path is replaced.
	empty := mustTarget(t, c, "local:/new")
	moved, err := c.MoveTarget(old.ID, "local:/new")
	if err != nil {
		t.Fatal(err)
	}
	if moved.ID != old.ID || moved.Location != "local:/new" || moved.StoreID != "id-1" || moved.KeyFingerprint != "k1:ab" {
		t.Errorf("moved target = %+v", moved)
	}
	if _, ok, _ := c.Target("local:/old"); ok {
		t.Error("the old location is still a target")
	}
	vs, err := c.Select(old.ID, nil, time.Time{})
	if err != nil || len(vs) != 1 {
		t.Errorf("rows of the moved target: %v, %v", vs, err)
	}
	if d, _, _ := c.DefaultTarget(); d.ID != old.ID {
		t.Errorf("default target %+v, want the moved one", d)
	}
	ts, _ := c.Targets()
	for _, tg := range ts {
		if tg.ID == empty.ID {
			t.Error("the empty target at the new location was kept")
		}
	}

	// A target with backups at the new location is never replaced.
	other := mustTarget(t, c, "local:/other")
	mustRecord(t, c, version(other.ID, "/g", 3, at))
	_, err = c.MoveTarget(old.ID, "local:/other")
	wantErrIs(t, err, ErrTargetExists)
	if tg, ok, _ := c.Target("local:/new"); !ok || tg.ID != old.ID {
		t.Error("a refused move changed the target")
	}
	_, err = c.MoveTarget(99, "local:/elsewhere")
	wantErrIs(t, err, ErrNoTarget)
}

func TestReadOnlyCatalogRefusesStoreID(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/s")
	path := c.Path()
	c.Close()
	ro, err := Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.ReadOnly() {
		t.Error("ReadOnly() = false for a read-only catalogue")
	}
	wantErrIs(t, ro.SetStoreID(tg.ID, "x"), ErrReadOnly)
	_, err = ro.MoveTarget(tg.ID, "local:/t")
	wantErrIs(t, err, ErrReadOnly)
}

// A catalogue written at version 7 before version 6 was merged (so without
// targets.store_id) gains the column when opened, read-only or not.
func TestVersion7WithoutVersion6GainsStoreID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v7.db")
	oldCatalogue(t, path, []func(*sql.Tx, time.Time) error{migrate1, migrate2, migrate3, migrate4, migrate7},
		"PRAGMA user_version = 7",
		"INSERT INTO targets (id, location) VALUES (1, 'local:/s')",
	)
	ro, err := Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok, err := ro.Target("local:/s"); err != nil || !ok || tg.StoreID != "" {
		t.Errorf("read-only: target %+v, %v, %v", tg, ok, err)
	}
	ro.Close()
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetStoreID(1, "00112233445566778899aabbccddeeff"); err != nil {
		t.Fatalf("the store id of a completed version 7 catalogue: %v", err)
	}
	if lacks, err := lacksStoreID(c.db); err != nil || lacks {
		t.Errorf("store_id still missing: %v, %v", lacks, err)
	}
}
