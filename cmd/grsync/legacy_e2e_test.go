package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/store/local"
)

const legacyDir = "../../testdata/legacy-python"
const legacyRoot = "/home/alice/backup-src"

type legacyArchive struct {
	id, desc string
	created  time.Time
	data     []byte
}

// legacyArchives reads the fixture archives with the descriptions and
// creation dates of the fixture inventory.
func legacyArchives(t *testing.T) []legacyArchive {
	t.Helper()
	var inv struct {
		ArchiveList []struct{ ArchiveId, ArchiveDescription, CreationDate string }
	}
	b, err := os.ReadFile(filepath.Join(legacyDir, "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	var out []legacyArchive
	for _, a := range inv.ArchiveList {
		data, err := os.ReadFile(filepath.Join(legacyDir, "archives", a.ArchiveId))
		if err != nil {
			t.Fatal(err)
		}
		created, err := time.Parse(time.RFC3339, a.CreationDate)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, legacyArchive{a.ArchiveId, a.ArchiveDescription, created, data})
	}
	return out
}

// legacySetup places the Python tool's archives into a local store under
// their Glacier ids and copies its catalogue and key, pointing the
// catalogue's vault target at the local store. It returns the store folder,
// the catalogue and the key file.
func legacySetup(t *testing.T, dir string) (storeDir, db, key string) {
	t.Helper()
	storeDir = filepath.Join(dir, "store")
	st, err := local.New(storeDir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range legacyArchives(t) {
		if err := st.Seed(a.id, a.desc, a.created, bytes.NewReader(a.data)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	db = filepath.Join(dir, "glacier.db")
	copyFile(t, filepath.Join(legacyDir, "glacier.db"), db, 0o644)
	key = filepath.Join(dir, "legacy.key")
	copyFile(t, filepath.Join(legacyDir, "legacy.key"), key, 0o600)

	// Migrate, then point the vault's records at the local store.
	cat, err := catalog.Open(db, catalog.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cat.Close()
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	abs, _ := filepath.Abs(storeDir)
	if _, err := sdb.Exec(`UPDATE targets SET location = ? WHERE location = 'glacier::my-vault'`, "local:"+abs); err != nil {
		t.Fatal(err)
	}
	return storeDir, db, key
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLegacyFixturesRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storeDir, db, key := legacySetup(t, dir)
	out := filepath.Join(dir, "out")
	r := mustRun(t, dir, 0, "restore", "--db", db, "--local-store", storeDir, "--encryption-key-file", key, "--output", out)
	if !strings.Contains(r.stdout, "restored 4 files") {
		t.Errorf("all four files should be restored:\n%s", r)
	}
	sameTree(t, filepath.Join(legacyDir, "source"), filepath.Join(out, strings.TrimPrefix(legacyRoot, "/")), contentOnly)
	// Mtimes come from the catalogue's float seconds.
	fi, err := os.Stat(filepath.Join(out, strings.TrimPrefix(legacyRoot, "/"), "photos", "img 01.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got := float64(fi.ModTime().UnixNano()) / 1e9; math.Abs(got-1710594000.123456) > 1e-6 {
		t.Errorf("mtime should be the catalogue's, got %f", got)
	}

	// The older version of report.txt (original tool, zstd) also restores.
	out2 := filepath.Join(dir, "out2")
	mustRun(t, dir, 0, "restore", "--db", db, "--local-store", storeDir, "--encryption-key-file", key,
		"--output", out2, "--at", "2024-03-16T12:30:00Z", legacyRoot+"/docs")
	want, _ := os.ReadFile(filepath.Join(legacyDir, "source", "docs", "report.txt"))
	got, err := os.ReadFile(filepath.Join(out2, strings.TrimPrefix(legacyRoot, "/"), "docs", "report.txt"))
	if err != nil || string(got) != string(want) {
		t.Errorf("report.txt as of 12:30 should restore: %v", err)
	}
}

func TestLegacyFixturesRebuildFromStoreListing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storeDir, _, key := legacySetup(t, dir)
	fresh := filepath.Join(dir, "fresh.db")
	r := mustRun(t, dir, 0, "inventory", "--rebuild", "--db", fresh, "--local-store", storeDir, "--encryption-key-file", key)
	if !strings.Contains(r.stdout, "5 file versions added (0 from version records, 0 from pack indexes, 5 from the Python tool)") {
		t.Errorf("rebuild should recover the five legacy archives:\n%s", r)
	}
	out := filepath.Join(dir, "out")
	mustRun(t, dir, 0, "restore", "--db", fresh, "--encryption-key-file", key, "--output", out)
	sameTree(t, filepath.Join(legacyDir, "source"), filepath.Join(out, strings.TrimPrefix(legacyRoot, "/")), contentOnly)
}

func TestLegacyCatalogueSyncSkipsUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storeDir, db, key := legacySetup(t, dir)
	// The user's tree, at a path of this machine: copy source/ and give each
	// file the mtime the catalogue recorded; rewrite the catalogue's paths.
	src := filepath.Join(dir, "backup-src")
	mtimes := map[string]float64{
		"docs/report.txt": 1710590400.123456, "photos/img 01.bin": 1710594000.123456,
		"empty.txt": 1710597600.123456, `it's a "quoted" name|pipe.txt`: 1710601200.123456,
	}
	for rel, mt := range mtimes {
		sec, frac := math.Modf(mt)
		b, err := os.ReadFile(filepath.Join(legacyDir, "source", rel))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(src, rel), b, time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000))
	}
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`UPDATE sync_history SET path = ? || substr(path, ?)`, src, len(legacyRoot)+1); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	r := mustRun(t, dir, 0, "--db", db, "--local-store", storeDir, "--encryption-key-file", key, "--encrypt", "true", src)
	if !strings.Contains(r.stdout, "uploaded      0 files") || !strings.Contains(r.stdout, "unchanged     4 files") {
		t.Errorf("nothing recorded by the Python tool should be uploaded again:\n%s", r)
	}
	// A changed file is uploaded (in grsync's format) and restores.
	writeFile(t, filepath.Join(src, "docs", "report.txt"), []byte("rewritten"), time.Unix(1720000000, 0))
	r = mustRun(t, dir, 0, "--db", db, "--local-store", storeDir, "--encryption-key-file", key, src)
	if !strings.Contains(r.stdout, "uploaded      1 file") {
		t.Errorf("the changed file should be uploaded:\n%s", r)
	}
	out := filepath.Join(dir, "out")
	mustRun(t, dir, 0, "restore", "--db", db, "--encryption-key-file", key, "--output", out)
	sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
}

// The Python tool's flags against the local store, and a bare --compress.
func TestPythonFlagsOnLocalStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "folder", "f.txt"), []byte("x"), time.Time{})
	key := newKey(t, dir)
	mustRun(t, dir, 0, "--local-store", "st", "--compress", "true", "--encrypt", "true", "--encryption-key-file", key,
		"--db", "local.db", "--desc", "My description", "--loglevel", "WARNING", "--part-size", "4194304", "folder")
	mustRun(t, dir, 0, "--local-store", "st2", "--db", "local2.db", "--compress", "folder")
	mustRun(t, dir, 0, "--local-store", "st2", "--db", "local2.db", "--list-incomplete-uploads")
	mustRun(t, dir, 0, "--local-store", "st2", "--db", "local2.db", "--abort-incomplete-uploads")
}
