package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store/local"
)

// archiveOf returns the archive id the catalogue db records for path.
func archiveOf(t *testing.T, db, path string) string {
	t.Helper()
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var id string
	if err := sdb.QueryRow("SELECT archive_id FROM sync_history WHERE path = ? ORDER BY id DESC LIMIT 1", path).Scan(&id); err != nil {
		t.Fatalf("archive of %s: %v", path, err)
	}
	return id
}

// unrecord makes path's archive what a run killed after storing it, before
// recording it, leaves: its upload noted (pending_uploads), its object,
// content and row gone from the catalogue db. It returns the archive id.
func unrecord(t *testing.T, h *hostile, db, path string) string {
	t.Helper()
	id := archiveOf(t, db, path)
	var meta struct{ Description string }
	b, err := os.ReadFile(filepath.Join(h.store, "archives", id+".json"))
	if err != nil || json.Unmarshal(b, &meta) != nil {
		t.Fatalf("reading the archive's metadata: %v", err)
	}
	group, ok := format.IsObjectDescription(meta.Description)
	if !ok {
		t.Fatalf("not a grsync object description: %q", meta.Description)
	}
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	for _, q := range []string{
		"DELETE FROM version_pieces WHERE blob_id IN (SELECT b.id FROM blobs b JOIN objects o ON o.id = b.object_id WHERE o.archive_id = ?)",
		"DELETE FROM blobs WHERE object_id IN (SELECT id FROM objects WHERE archive_id = ?)",
		"DELETE FROM objects WHERE archive_id = ?",
		"DELETE FROM sync_history WHERE archive_id = ?",
		"INSERT INTO pending_uploads (target_id, path, group_id, started) SELECT id, ?, ?, '2020-01-01T00:00:00.000000000Z' FROM targets"} {
		args := []any{id}
		if strings.HasPrefix(q, "INSERT") {
			args = []any{path, group}
		}
		if _, err := sdb.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// unrecordedBackup backs up a.txt and b.txt (one object each), then makes
// a.txt's archive what a run killed after storing it, before recording it,
// leaves: noted as an upload, not recorded. It returns the catalogue, a.txt
// and that archive's id.
func unrecordedBackup(t *testing.T) (h *hostile, db, a, id string) {
	t.Helper()
	h = newHostile(t)
	src := filepath.Join(h.dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"), time.Time{})
	writeFile(t, filepath.Join(src, "b.txt"), []byte("b"), time.Time{})
	h.run(t, 0, append([]string{"--pack-size", "0"}, h.syncArgs(src)...)...) // one object per file
	db = filepath.Join(h.dir, "glacier.db")
	a = filepath.Join(src, "a.txt")
	return h, db, a, unrecord(t, h, db, a)
}

// Item 9: verify never deletes. An archive an interrupted run stored but
// never recorded, and one the catalogue does not know at all, are listed
// with what the user can do, and stay in the store.
func TestVerifyNeverDeletes(t *testing.T) {
	t.Parallel()
	h, _, a, id := unrecordedBackup(t)
	// And an archive of another program.
	st, err := local.Open(h.store, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Seed("someone-elses", "not grsync's", time.Time{}, bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for run := 0; run < 2; run++ {
		r := h.run(t, 1, "verify", "--encryption-key-file", h.key)
		wantSummary(t, r, "1 unknown", "1 stored by interrupted runs", "someone-elses", id, a, "inventory --rebuild", "nothing was deleted")
		if strings.Contains(r.stdout, "removed") {
			t.Errorf("verify must not remove anything:\n%s", r)
		}
	}
	for _, f := range []string{id, id + ".json", "someone-elses", "someone-elses.json"} {
		if _, err := os.Stat(filepath.Join(h.store, "archives", f)); err != nil {
			t.Errorf("verify deleted %s: %v", f, err)
		}
	}
}

// Item 9: the next sync adopts what an interrupted run stored but never
// recorded: the object is recorded with the content its index lists, the
// file is recorded against it, nothing is uploaded again, and verify then
// finds nothing unknown.
func TestSyncAdoptsWhatAnInterruptedRunStored(t *testing.T) {
	t.Parallel()
	h, db, a, id := unrecordedBackup(t)
	r := h.run(t, 0, "verify", "--encryption-key-file", h.key)
	wantSummary(t, r, "1 stored by interrupted runs", id, "the next sync records them")
	before := objectsOfKind(t, db)

	r = h.run(t, 0, append([]string{"--pack-size", "0"}, h.syncArgs(filepath.Dir(a))...)...)
	wantStderr(t, r, "recorded 1 object an interrupted run stored but had not recorded (their content is not sent again)")
	wantSummary(t, r, "uploaded      0 files (0 B of new content, 0 B stored in 0 objects)", "deduplicated  1 file", "unchanged     1 file")
	if got := archiveOf(t, db, a); got != id {
		t.Errorf("a.txt should be recorded against the adopted archive %s, got %s", id, got)
	}
	after := objectsOfKind(t, db)
	if after["pack"] != before["pack"]+1 {
		t.Errorf("the adopted pack alone should be new among packs: before %v, after %v", before, after)
	}
	r = h.run(t, 0, "verify", "--encryption-key-file", h.key)
	wantSummary(t, r, "0 unknown", "0 stored by interrupted runs")
	// A third run has nothing left to adopt.
	r = h.run(t, 0, append([]string{"--pack-size", "0"}, h.syncArgs(filepath.Dir(a))...)...)
	if strings.Contains(r.stderr, "interrupted") {
		t.Errorf("adoption is done once:\n%s", r)
	}
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out, a)...)
	if b, err := os.ReadFile(under(out, a)); err != nil || string(b) != "a" {
		t.Errorf("restoring a.txt from the adopted archive: %q, %v", b, err)
	}
}

// objectsOfKind counts the catalogue's objects by kind.
func objectsOfKind(t *testing.T, db string) map[string]int {
	t.Helper()
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	rows, err := sdb.Query("SELECT kind, count(*) FROM objects GROUP BY kind")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// Item 10: verify on a local store compares the data files' real sizes,
// and verify --read-data reads every archive (tree hash, authentication,
// content hash) and names each damaged one with its files.
func TestVerifyLocalStoreChecksDataAndReadsIt(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	names := []string{"deleted.bin", "truncated.bin", "flipped.bin", "fine.bin"}
	for i, n := range names {
		writeFile(t, filepath.Join(src, n), randomBytes(t, 100000+i), time.Time{})
	}
	h.run(t, 0, append([]string{"--pack-size", "0"}, h.syncArgs(src)...)...) // one object per file
	db := filepath.Join(h.dir, "glacier.db")
	ids := map[string]string{}
	for _, n := range names {
		ids[n] = filepath.Join(h.store, "archives", archiveOf(t, db, filepath.Join(src, n)))
	}
	h.run(t, 0, "verify", "--read-data", "--encryption-key-file", h.key)

	if err := os.Remove(ids["deleted.bin"]); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ids["truncated.bin"], 5000); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(ids["flipped.bin"])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(ids["flipped.bin"], data, 0o600); err != nil {
		t.Fatal(err)
	}

	r := h.run(t, 1, "verify")
	wantSummary(t, r, "1 missing", "1 with another size", filepath.Base(ids["deleted.bin"]), filepath.Base(ids["truncated.bin"]))
	r = h.run(t, 1, "verify", "--read-data", "--encryption-key-file", h.key)
	wantSummary(t, r, "6 archives read", "3 damaged") // four files', the version records and the catalogue snapshot
	for _, n := range names[:3] {
		wantSummary(t, r, filepath.Base(ids[n]), filepath.Join(src, n))
	}
	if strings.Contains(r.stdout, filepath.Join(src, "fine.bin")) {
		t.Errorf("the intact archive is not damaged:\n%s", r)
	}
	// An encrypted backup cannot be checked without the key.
	r = h.run(t, 2, "verify", "--read-data")
	wantStderr(t, r, "--encryption-key-file")

	// The Python tools' archives are read by their own readers.
	d2 := t.TempDir()
	storeDir, legacyDB, legacyKey := legacySetup(t, d2)
	r = mustRun(t, d2, 0, "verify", "--read-data", "--db", legacyDB, "--local-store", storeDir, "--encryption-key-file", legacyKey)
	wantSummary(t, r, "0 damaged")

	// On a cold store every read is a retrieval: the plan is priced first,
	// and --max-cost below it refuses it before any job is requested.
	srv, env := emulator(t, glacieremu.Config{}, "v")
	mustRunEnv(t, h.dir, env, 0, "--db", "v.db", "--vault", "v", "--region", "us-east-1", "--encryption-key-file", h.key, src)
	vault := []string{"--db", "v.db", "--encryption-key-file", h.key, "--wait", "--poll", "50ms"}
	r = mustRunEnv(t, h.dir, env, 2, append([]string{"verify", "--read-data", "--max-cost", "0.00001"}, vault...)...)
	wantStderr(t, r, "--max-cost")
	wantSummary(t, r, "read back 3 objects of 3 objects", "3 retrievals, tier Bulk", "retrieval jobs (Bulk, vault)", "actual bills may differ") // a pack, the records, the catalogue snapshot
	if n := srv.Stats()[glacieremu.OpInitiateJob].Requests; n != 0 {
		t.Errorf("a refused verify --read-data requested %d jobs", n)
	}
	// Within the limit it requests them, waits, and reads every object.
	r = mustRunEnv(t, h.dir, env, 0, append([]string{"verify", "--read-data", "--max-cost", "0.01"}, vault...)...)
	wantSummary(t, r, "3 archives read", "0 damaged")
	// --sample reads a share of them (at least one).
	r = mustRunEnv(t, h.dir, env, 0, append([]string{"verify", "--read-data", "--sample", "20"}, vault...)...)
	wantSummary(t, r, "read back 1 object of 3 objects", "1 archive read", "0 damaged")
}
