package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// syncSummaryJSON is what these tests read of sync's JSON summary.
type syncSummaryJSON struct {
	Uploaded      int   `json:"uploaded"`
	UploadedBytes int64 `json:"uploaded_bytes"`
	StoredBytes   int64 `json:"stored_bytes"`
	Objects       int   `json:"objects"`
}

func syncSummaryOf(t *testing.T, r result) syncSummaryJSON {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var s syncSummaryJSON
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("sync summary: %v\n%s", err, r)
	}
	return s
}

// pieceObjects returns the objects holding the pieces of the latest
// version of path, in the order of the pieces, each once.
func pieceObjects(t *testing.T, db, path string) []string {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.Query(`SELECT o.archive_id FROM version_pieces p JOIN blobs b ON b.id = p.blob_id JOIN objects o ON o.id = b.object_id
		WHERE p.version_id = (SELECT max(id) FROM sync_history WHERE path = ?) ORDER BY p.seq`, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	seen := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Issue 12 through the binary: a 32 MiB file in chunks; 1 MiB of it
// overwritten in the middle, then one byte inserted at its start: each
// second backup stores a few MiB, not the file. restore --at gives each
// version, the latest by default; the restore plan reports its objects
// per restored GiB; verify --read-data passes, and names the file when a
// pack holding one of its chunks (not its first) is damaged.
func TestChunkedFileChangesUploadLittle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	img := filepath.Join(src, "disk.img")
	const size = 32 << 20
	data := randomBytes(t, size)
	writeFile(t, img, data, time.Unix(1700000000, 0))
	key := newKey(t, dir)
	db := filepath.Join(dir, "glacier.db")
	st := filepath.Join(dir, "store")
	target := []string{"--local-store", st, "--encryption-key-file", key}
	sync := func(d int) syncSummaryJSON {
		t.Helper()
		env := []string{"GRSYNC_FAKE_NOW=" + pruneDay(float64(d)).Format(time.RFC3339)}
		r := mustRunEnv(t, dir, env, 0, append([]string{"--pack-size", "8M", "--json", src}, target...)...)
		copyTree(t, src, filepath.Join(dir, "snap", strconv.Itoa(d)))
		return syncSummaryOf(t, r)
	}
	first := sync(0)
	// A pack closes once its members reach 8 MiB, so one holds up to
	// 8 MiB + a chunk (8 MiB at most): 32 MiB of random chunks make 2 to 4.
	if first.Uploaded != 1 || first.UploadedBytes != size || first.StoredBytes < size || first.Objects < 2 {
		t.Fatalf("first backup: %+v, want the whole 32 MiB in packs of about 8 MiB", first)
	}

	// 1 MiB overwritten in the middle.
	copy(data[size/2:], randomBytes(t, 1<<20))
	writeFile(t, img, data, time.Unix(1700000100, 0))
	over := sync(1)
	// An insertion at the start.
	data = append([]byte{'!'}, data...)
	writeFile(t, img, data, time.Unix(1700000200, 0))
	ins := sync(2)
	t.Logf("32 MiB file: 1 MiB overwritten stored %.2f MiB (%.2f MiB new content); one byte inserted at the start stored %.2f MiB (%.2f MiB)",
		float64(over.StoredBytes)/(1<<20), float64(over.UploadedBytes)/(1<<20), float64(ins.StoredBytes)/(1<<20), float64(ins.UploadedBytes)/(1<<20))
	for _, c := range []struct {
		what string
		s    syncSummaryJSON
	}{{"1 MiB overwritten", over}, {"one byte inserted", ins}} {
		if c.s.Uploaded != 1 || c.s.UploadedBytes == 0 || c.s.UploadedBytes >= 16<<20 || c.s.StoredBytes >= 16<<20 {
			t.Errorf("%s: %+v; want the file uploaded in a few MiB (under 16 MiB of its 32)", c.what, c.s)
		}
	}
	if over.UploadedBytes < 1<<20 {
		t.Errorf("1 MiB overwritten, %d bytes of new content stored", over.UploadedBytes)
	}

	// Each version restores at its time; the latest by default.
	for _, c := range []struct {
		at   string
		snap int
	}{{pruneDay(0.5).Format(time.RFC3339), 0}, {pruneDay(1.5).Format(time.RFC3339), 1}, {"", 2}} {
		out := filepath.Join(dir, "out"+strconv.Itoa(c.snap))
		args := []string{"restore", "--output", out, "--encryption-key-file", key}
		if c.at != "" {
			args = append(args, "--at", c.at)
		}
		mustRun(t, dir, 0, args...)
		sameTree(t, filepath.Join(dir, "snap", strconv.Itoa(c.snap)), filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
	}

	// The plan says how fragmented the latest version is.
	objs := pieceObjects(t, db, img)
	r := mustRun(t, dir, 0, "restore", "--dry-run", "--json", "--output", "never", "--encryption-key-file", key)
	plan := ofType(jsonLines(t, "restore --dry-run --json", r.stdout), "restore_plan")
	if len(plan) != 1 {
		t.Fatalf("no restore plan:\n%s", r)
	}
	wantPerGiB := float64(len(objs)) / (float64(len(data)) / (1 << 30))
	if plan[0]["archives"] != float64(len(objs)) || plan[0]["restored_bytes"] != float64(len(data)) || plan[0]["objects_per_gib"] != wantPerGiB {
		t.Errorf("restore plan %v: want %d objects for %d bytes, %.1f objects per GiB", plan[0], len(objs), len(data), wantPerGiB)
	}

	// verify --read-data reads every chunk; a damaged pack names the file.
	r = mustRun(t, dir, 0, "verify", "--read-data", "--encryption-key-file", key)
	wantSummary(t, r, "0 damaged")
	if len(objs) < 2 {
		t.Fatalf("the file's chunks lie in %d packs; the test needs two", len(objs))
	}
	damaged := objs[len(objs)-1] // not the object its catalogue row names
	p := filepath.Join(st, "archives", damaged)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, dir, 1, "verify", "--read-data", "--encryption-key-file", key)
	wantSummary(t, r, "1 damaged", damaged, img)

	// A restore of the file (its chunks decoded ahead, in parallel) fails
	// on the damaged member, names it, and leaves no file and no
	// temporary file behind.
	out := filepath.Join(dir, "damaged-out")
	r = mustRun(t, dir, 1, "restore", "--encryption-key-file", key, "--output", out)
	if !strings.Contains(r.stdout+r.stderr, "of pack "+damaged+": ") {
		t.Errorf("the failed restore should name the damaged pack %s:\n%s", damaged, r)
	}
	if _, err := os.Stat(filepath.Join(out, strings.TrimPrefix(img, "/"))); err == nil {
		t.Error("a file whose chunk is damaged was restored")
	}
	noTemporaryFiles(t, out)
}
