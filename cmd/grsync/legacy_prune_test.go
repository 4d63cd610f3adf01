package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
)

// legacyUploads is when the Python tool uploaded each archive, by hand from
// its catalogue: the earliest HTTP Date (the timestamp column) of the rows
// naming it.
func legacyUploads(t *testing.T) map[string]time.Time {
	t.Helper()
	c, err := sql.Open("sqlite", "file:"+filepath.Join(legacyDir, "glacier.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.Query(`SELECT archive_id, timestamp FROM sync_history`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id, ts string
		if err := rows.Scan(&id, &ts); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC1123, ts)
		if err != nil {
			t.Fatal(err)
		}
		if old, ok := out[id]; !ok || at.Before(old) {
			out[id] = at.UTC()
		}
	}
	return out
}

// The Python tool's catalogue and vault (the emulator, seeded with the
// fixture's archives), used by grsync: the migration records each
// archive's upload time as the earliest time its rows were recorded, and
// no class. After a grsync sync and forget --keep-last 1, the older
// report.txt's archive is unused: prune holds it until 90 days after that
// upload (a vault's minimum; the store fixes the class), lists it with its
// free date and "class not recorded", deletes it a day after, and the
// kept files still restore.
func TestLegacyCataloguePrune(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "my-vault")
	for _, a := range legacyArchives(t) {
		if err := srv.SeedArchive("my-vault", a.id, a.desc, a.created, a.data); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "glacier.db")
	copyFile(t, filepath.Join(legacyDir, "glacier.db"), db, 0o600)
	key := filepath.Join(dir, "legacy.key")
	copyFile(t, filepath.Join(legacyDir, "legacy.key"), key, 0o600)
	run := func(at time.Time, want int, args ...string) result {
		t.Helper()
		r := grsync(t, dir, append(append([]string{}, env...), "GRSYNC_FAKE_NOW="+at.Format(time.RFC3339)), args...)
		if r.code != want {
			t.Fatalf("%s: grsync %v: want exit %d:\n%s", at.Format(time.DateOnly), args, want, r)
		}
		return r
	}
	vault := []string{"--vault", "my-vault", "--region", "us-east-1", "--encryption-key-file", key}
	day := time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC)
	// The first sync migrates the catalogue (and adopts the legacy target).
	writeFile(t, filepath.Join(dir, "src", "new.txt"), []byte("new"), day)
	run(day, 0, append(append([]string{}, vault...), filepath.Join(dir, "src"))...)

	uploads := legacyUploads(t)
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(`SELECT archive_id, uploaded_at, storage_class IS NULL FROM objects WHERE kind = 'archive'`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id, uploaded string
		var noClass bool
		if err := rows.Scan(&id, &uploaded, &noClass); err != nil {
			t.Fatal(err)
		}
		n++
		at, err := time.Parse(time.RFC3339Nano, uploaded)
		if want, ok := uploads[id]; err != nil || !ok || !at.Equal(want) || !noClass {
			t.Errorf("archive %.12s…: uploaded_at %q (%v), class recorded %v; want %v and no class", id, uploaded, err, !noClass, want)
		}
	}
	rows.Close()
	c.Close()
	if n != len(uploads) || n != 5 {
		t.Fatalf("%d legacy archives became objects, want %d", n, len(uploads))
	}

	// The Python tool recorded no stored sizes: the restore plan prices
	// each archive at its file's size, not at 0 B.
	r := run(day, 0, append([]string{"restore", "--dry-run", "--output", filepath.Join(dir, "out")}, vault...)...)
	if !strings.Contains(r.stdout, "to retrieve") || strings.Contains(r.stdout, " 0 B to retrieve") {
		t.Errorf("the restore plan of the Python tool's archives should retrieve their files' bytes:\n%s", r)
	}

	// forget: the report.txt row of 12:00 is the one version no kept
	// point saw (its content was replaced at 16:00).
	r = run(day, 0, "forget", "--keep-last", "1")
	wantSummary(t, r, "forgot 1 version of ")
	old := firstArchiveOf(t, db, legacyRoot+"/docs/report.txt")
	uploaded := uploads[old]
	if !uploaded.Equal(time.Date(2024, 3, 16, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("the forgotten report.txt was uploaded at %v", uploaded)
	}
	free := uploaded.AddDate(0, 0, 90)
	r = run(free.AddDate(0, 0, -1), 0, "prune")
	wantSummary(t, r, "delete         0 objects", "wait           1 object", "class not recorded",
		"uploaded 2024-03-16, free on "+free.Local().Format(time.DateOnly), "vault bills at least 90 days of storage")
	if !vaultHas(t, srv, "my-vault", old) {
		t.Fatal("prune deleted a legacy archive inside the vault's 90 days")
	}
	r = run(free.AddDate(0, 0, 1), 0, "prune")
	wantSummary(t, r, "deleted 1 object")
	// No stored size was recorded: the report counts the file's size.
	if strings.Contains(r.stdout, "deleted 1 object (0 B)") {
		t.Errorf("the legacy archive should count its file's size, not 0 B:\n%s", r)
	}
	if vaultHas(t, srv, "my-vault", old) {
		t.Fatal("the unused legacy archive is still in the vault after its 90 days")
	}
	// Every kept legacy file (the 16:00 report.txt included) still restores.
	out := filepath.Join(dir, "out")
	run(free.AddDate(0, 0, 2), 0, append([]string{"restore", "--output", out, "--wait", "--poll", "50ms"}, vault...)...)
	sameTree(t, filepath.Join(legacyDir, "source"), filepath.Join(out, strings.TrimPrefix(legacyRoot, "/")), contentOnly)
	if b, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(dir, "/"), "src", "new.txt")); err != nil || string(b) != "new" {
		t.Errorf("new.txt: %q, %v", b, err)
	}
}
