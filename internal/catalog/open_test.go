package catalog

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFreshCatalogHasLegacyTableAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	db := rawDB(t, path, true)
	var version int
	var appID int64
	var mode string
	db.QueryRow("PRAGMA user_version").Scan(&version)
	db.QueryRow("PRAGMA application_id").Scan(&appID)
	db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	equal(t, "user_version", version, schemaVersion)
	equal(t, "application_id", appID, int64(applicationID))
	equal(t, "journal_mode", mode, "wal")

	// The Python tools' table is there, declared as they declared it, its
	// nine columns first.
	var ddl string
	db.QueryRow("SELECT sql FROM sqlite_master WHERE name = 'sync_history'").Scan(&ddl)
	if !strings.HasPrefix(ddl, strings.TrimSuffix(legacyTableSQL, ")")+", ") {
		t.Fatalf("sync_history is declared as\n%s\nwant it to start like the Python tools'\n%s", ddl, legacyTableSQL)
	}

	// A fresh catalogue and a migrated legacy one have the same schema.
	_, legacyPath := openLegacy(t)
	equal(t, "schema", schema(t, rawDB(t, path, true)), schema(t, rawDB(t, legacyPath, true)))
}

func schema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func TestLegacyCatalogMigratesKeepingRows(t *testing.T) {
	before := legacyRows(t, rawDB(t, fixture, true))
	if len(before) != 5 {
		t.Fatalf("fixture has %d rows, want 5", len(before))
	}
	c, path := openLegacy(t)
	after := legacyRows(t, rawDB(t, path, true))
	equal(t, "legacy rows after migration", after, before)

	ts, err := c.Targets()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Location != "glacier::my-vault" {
		t.Fatalf("targets = %+v, want one glacier::my-vault", ts)
	}
	equal(t, "target created", ts[0].Created, time.Date(2024, 3, 16, 12, 0, 0, 0, time.UTC))
	equal(t, "target last used", ts[0].LastUsed, time.Date(2024, 3, 16, 16, 0, 0, 0, time.UTC))

	vs, err := c.Select(ts[0].ID, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "paths", paths(vs), []string{
		"/home/alice/backup-src/docs/report.txt",
		"/home/alice/backup-src/empty.txt",
		`/home/alice/backup-src/it's a "quoted" name|pipe.txt`,
		"/home/alice/backup-src/photos/img 01.bin",
	})
	report := vs[0]
	equal(t, "latest report.txt row", report.ID, int64(5))
	equal(t, "legacy MTimeNS", report.MTimeNS, int64(0))
	equal(t, "legacy MTime", report.MTime, 1710604800.123456)
	equal(t, "legacy compression", report.Compression, "zstd")
	equal(t, "legacy checksum", report.Checksum, "3fc608aebdee066493c19c3f0898dbc54bed95f70fba3bf84937966f681474c7")
	equal(t, "legacy timestamp", report.Timestamp, time.Date(2024, 3, 16, 16, 0, 0, 0, time.UTC))

	// The original was copied aside before the upgrade, unchanged.
	baks, _ := filepath.Glob(path + fmt.Sprintf(".pre-v%d-*.bak", schemaVersion))
	if len(baks) != 1 {
		t.Fatalf("backups before upgrade: %v, want one", baks)
	}
	equal(t, "backup rows", legacyRows(t, rawDB(t, baks[0], true)), before)

	// Opening again changes nothing and makes no second backup.
	c.Close()
	c2, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ts2, _ := c2.Targets()
	equal(t, "targets after reopen", ts2, ts)
	baks, _ = filepath.Glob(path + fmt.Sprintf(".pre-v%d-*.bak", schemaVersion))
	equal(t, "backups after reopen", len(baks), 1)
}

func TestLegacyTargetAdoption(t *testing.T) {
	c, _ := openLegacy(t)
	tg, ok, err := c.Target("glacier:us-east-1:my-vault")
	if err != nil || !ok {
		t.Fatalf("Target = %+v, %v, %v; want the adopted legacy target", tg, ok, err)
	}
	equal(t, "adopted location", tg.Location, "glacier:us-east-1:my-vault")
	if _, ok, _ := c.Target("glacier::my-vault"); ok {
		t.Fatal("legacy name still exists after adoption")
	}
	vs, err := c.Select(tg.ID, nil, time.Time{})
	if err != nil || len(vs) != 4 {
		t.Fatalf("adopted target has %d files (%v), want 4", len(vs), err)
	}
	// Another region is another vault: no adoption, a new target.
	other, err := c.EnsureTarget("glacier:eu-west-1:my-vault")
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == tg.ID {
		t.Fatal("second region adopted the same legacy target")
	}
	// Another vault is not adopted either.
	if _, ok, _ := c.Target("glacier:us-east-1:other-vault"); ok {
		t.Fatal("unrelated vault found")
	}
}

func TestEnsureTargetAdoptsToo(t *testing.T) {
	c, _ := openLegacy(t)
	tg, err := c.EnsureTarget("glacier:us-east-1:my-vault")
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := c.Targets()
	if len(ts) != 1 || ts[0].ID != tg.ID || ts[0].Location != "glacier:us-east-1:my-vault" {
		t.Fatalf("targets = %+v, want the legacy one renamed", ts)
	}
}

func TestRowsAddedByOldToolAreLinked(t *testing.T) {
	c, path := openLegacy(t)
	tg, _, _ := c.Target("glacier:us-east-1:my-vault")
	c.Close()
	// The Python tool keeps running against the migrated catalogue.
	db := rawDB(t, path, false)
	if _, err := db.Exec(`insert into sync_history (path, file_size, mtime, archive_id, location, checksum,
		compression, timestamp) values ('/home/alice/new.txt', 3, 1710700000.5, 'NEW',
		'/123456789012/vaults/my-vault/archives/NEW', 'ab', 'zstd', 'Sun, 17 Mar 2024 18:00:00 GMT')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Read-only: linked in memory, the file is left alone.
	before, _ := os.ReadFile(path)
	r, err := Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Latest(tg.ID, "/home/alice/new.txt"); !ok || err != nil {
		t.Fatalf("read-only open does not show the old tool's row: %v %v", ok, err)
	}
	r.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("read-only open changed the file")
	}

	c, err = Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, ok, err := c.Latest(tg.ID, "/home/alice/new.txt")
	if err != nil || !ok {
		t.Fatalf("row of the old tool not linked to the adopted target: %v %v", ok, err)
	}
	equal(t, "timestamp", v.Timestamp, time.Date(2024, 3, 17, 18, 0, 0, 0, time.UTC))
	ts, _ := c.Targets()
	equal(t, "targets", len(ts), 1)
}

func TestSecondOpenIsRefused(t *testing.T) {
	c := newCatalog(t)
	_, err := Open(c.Path(), OpenOptions{})
	wantErrIs(t, err, ErrLocked)
	if !strings.Contains(err.Error(), "another grsync is using "+c.Path()) {
		t.Fatalf("message %q does not say who holds what", err)
	}
	// Readers are not locked out.
	r, err := Open(c.Path(), OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	c.Close()
	c2, err := Open(c.Path(), OpenOptions{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	c2.Close()
}

func TestLockHeldByAnotherProcessAndReleasedWhenKilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grsync.db")
	cmd, _, out := startHelper(t, "hold-lock", path)
	line, err := out.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	_, err = Open(path, OpenOptions{})
	wantErrIs(t, err, ErrLocked)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatalf("open after the holder was killed: %v", err)
	}
	c.Close()
}

func TestTooNewCatalogIsRefusedUntouched(t *testing.T) {
	c := newCatalog(t)
	path := c.Path()
	c.Close()
	db := rawDB(t, path, false)
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	for _, ro := range []bool{false, true} {
		_, err := Open(path, OpenOptions{ReadOnly: ro})
		wantErrIs(t, err, ErrTooNew)
		if !strings.Contains(err.Error(), "upgrade grsync") {
			t.Fatalf("message %q does not tell the user to upgrade", err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a too-new catalogue was modified")
	}
}

func TestGarbageAndCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("this is my shopping list, not a database\n"), 0o644)
	short := filepath.Join(dir, "short.db")
	os.WriteFile(short, []byte("SQLite"), 0o644)

	// A real catalogue whose pages were overwritten (header intact).
	c, path := openLegacy(t)
	tg, _, _ := c.Target("glacier::my-vault")
	for i := range 200 {
		mustRecord(t, c, version(tg.ID, "/f/"+strings.Repeat("x", i), int64(i), time.Unix(int64(i), 0)))
	}
	c.Close()
	b, _ := os.ReadFile(path)
	for i := 4096 + 100; i < len(b)-100; i += 1024 {
		copy(b[i:], "CORRUPTION!CORRUPTION!CORRUPTION!")
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	os.WriteFile(corrupt, b, 0o644)

	for _, p := range []string{garbage, short, corrupt} {
		for _, ro := range []bool{false, true} {
			before, _ := os.ReadFile(p)
			_, err := Open(p, OpenOptions{ReadOnly: ro})
			wantErrIs(t, err, ErrCorrupt)
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("message %q does not name the file", err)
			}
			after, _ := os.ReadFile(p)
			if !bytes.Equal(before, after) {
				t.Fatalf("%s was modified", p)
			}
		}
	}
}

func TestForeignSQLiteDatabaseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "places.sqlite")
	db := rawDB(t, path, false)
	db.Exec("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
	db.Close()
	_, err := Open(path, OpenOptions{})
	wantErrIs(t, err, ErrNotCatalog)
}

func TestEmptyFileBecomesCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	os.WriteFile(path, nil, 0o644)
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustTarget(t, c, "local:/x")
}

func TestReadOnlyOpen(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing.db"), OpenOptions{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open of a missing catalogue: %v, want not-exist", err)
	}

	// A legacy catalogue is readable without being changed.
	path := copyFile(t, fixture, t.TempDir(), "glacier.db")
	before, _ := os.ReadFile(path)
	c, err := Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	tg, ok, err := c.Target("glacier:us-east-1:my-vault")
	if err != nil || !ok || tg.Location != "glacier::my-vault" {
		t.Fatalf("read-only lookup: %+v %v %v, want the legacy target unrenamed", tg, ok, err)
	}
	vs, err := c.Select(tg.ID, []string{"/home/alice/backup-src/docs"}, time.Time{})
	if err != nil || len(vs) != 1 || vs[0].ID != 5 {
		t.Fatalf("select: %+v %v", vs, err)
	}
	_, err = c.Record(version(tg.ID, "/x", 1, time.Now()))
	wantErrIs(t, err, ErrReadOnly)
	_, err = c.EnsureTarget("local:/x")
	wantErrIs(t, err, ErrReadOnly)
	wantErrIs(t, c.SetSetting("k", "v"), ErrReadOnly)
	c.Close()
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("read-only open changed the catalogue")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("read-only open left files: %v", ents)
	}
}

func TestCatalogPathWithURISpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars&x=1")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "cat?.db")
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustTarget(t, c, "local:/x")
	c.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("catalogue not at its path: %v", err)
	}
	c, err = Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok, _ := c.Target("local:/x"); !ok {
		t.Fatal("target lost")
	}
}
