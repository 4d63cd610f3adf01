package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
)

// memberAt is where a file's content lies in its pack, as the catalogue
// records it.
type memberAt struct {
	path              string
	off, length, size int64 // the member's bytes, and the pack's size
}

func packMembers(t *testing.T, db string) []memberAt {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.Query(`SELECT h.path, b.offset, b.length, o.size FROM sync_history h
		JOIN version_pieces vp ON vp.version_id = h.id JOIN blobs b ON b.id = vp.blob_id
		JOIN objects o ON o.id = b.object_id WHERE o.kind = 'pack' ORDER BY b.offset`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []memberAt
	for rows.Next() {
		var m memberAt
		if err := rows.Scan(&m.path, &m.off, &m.length, &m.size); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// recordedRange is the byte range the catalogue records for the one
// archive retrieval it holds.
func recordedRange(t *testing.T, db string) (off, length int64) {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.QueryRow(`SELECT range_offset, range_length FROM retrievals WHERE kind = 'archive'`).Scan(&off, &length); err != nil {
		t.Fatal(err)
	}
	return off, length
}

// One small file out of a 60 MiB pack in a vault is restored with one
// ranged retrieval job of a few MiB; everything, with a whole-archive job.
// A recorded ranged job that does not hold a new restore's member is
// replaced by a new one; one that does is reused.
func TestVaultRestoreByRange(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "v")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	const fileSize = 512 << 10
	contents := map[string][]byte{}
	for i := range 120 { // 60 MiB of incompressible small files
		p := filepath.Join(src, fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%03d.bin", i))
		contents[p] = randomBytes(t, fileSize)
		writeFile(t, p, contents[p], time.Unix(1700000000+int64(i), 0))
	}
	key := newKey(t, dir)
	db := filepath.Join(dir, "glacier.db")
	vault := []string{"--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, "--db", db}
	mustRunEnv(t, dir, env, 0, append(vault, "--pack-size", "64M", src)...)

	members := packMembers(t, db)
	if len(members) != 120 || members[0].size < 60<<20 || members[0].size != members[119].size {
		t.Fatalf("want the 120 files in one pack of over 60 MiB; the catalogue has %d members, first %+v", len(members), members[0])
	}
	packSize := members[0].size
	const mib = 1 << 20
	// a is near the start of the pack; b past its middle, eight MiB away.
	a, b := members[2], members[0]
	for _, m := range members {
		if m.off >= 40*mib && m.off/mib == (m.off+m.length-1)/mib {
			b = m
			break
		}
	}
	if b.off < 40*mib {
		t.Fatalf("no member within one MiB past 40 MiB: %+v", members)
	}
	jobs := func() []glacieremu.JobInfo {
		var out []glacieremu.JobInfo
		for _, j := range srv.Jobs("v") {
			if j.Action == "ArchiveRetrieval" {
				out = append(out, j)
			}
		}
		return out
	}
	restore := func(out string, paths ...string) result {
		t.Helper()
		args := append([]string{"restore", "--output", out, "--wait", "--poll", "50ms", "--tier", "Expedited"}, vault...)
		return mustRunEnv(t, dir, env, 0, append(args, paths...)...)
	}
	sameFile := func(out string, m memberAt) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(dir, out, strings.TrimPrefix(m.path, "/")))
		if err != nil || !bytes.Equal(got, contents[m.path]) {
			t.Errorf("%s restored to %s differs (%v)", m.path, out, err)
		}
	}

	// One file: one ranged job of at most 2 MiB (the member spans at most
	// two leaves; a node of the tree no larger than twice that is taken).
	r := restore("out1", a.path)
	sameFile("out1", a)
	t.Logf("plan: %s", strings.SplitN(r.stdout, "\n", 2)[0])
	js := jobs()
	if len(js) != 1 || !js[0].Ranged || js[0].Start > a.off || js[0].Start+js[0].Length < a.off+a.length || js[0].Length > 4*mib {
		t.Fatalf("restore of one file: jobs %+v, want one ranged job of a few MiB holding bytes %d-%d", js, a.off, a.off+a.length-1)
	}
	wantPlan := fmt.Sprintf("in 1 object (0 whole, 1 by byte range), %d.0 MiB to retrieve", js[0].Length/mib)
	if !strings.Contains(r.stdout, wantPlan) {
		t.Errorf("the plan should say the object is retrieved by range (%q):\n%s", wantPlan, r)
	}
	if gb := fmt.Sprintf("%.4g GB × $0.03 per GB", float64(js[0].Length)/(1<<30)); !strings.Contains(r.stdout, gb) {
		t.Errorf("the estimate should price the retrieval of the range (%q):\n%s", gb, r)
	}
	t.Logf("one file of %d KiB from a pack of %.1f MiB: job retrieves %d MiB at %d (whole: %.1f MiB)",
		fileSize>>10, float64(packSize)/mib, js[0].Length/mib, js[0].Start, float64(packSize)/mib)
	if o, l := recordedRange(t, db); o != js[0].Start || l != js[0].Length {
		t.Errorf("the catalogue records the range %d+%d, the job retrieves %d+%d", o, l, js[0].Start, js[0].Length)
	}

	// Another file the recorded range does not hold: a new ranged job,
	// which replaces the recorded one.
	restore("out2", b.path)
	sameFile("out2", b)
	js = jobs()
	if len(js) != 2 || !js[1].Ranged || js[1].Start > b.off || js[1].Start+js[1].Length < b.off+b.length {
		t.Fatalf("restore of a file outside the recorded range: jobs %+v, want a second ranged job holding %d-%d", js, b.off, b.off+b.length-1)
	}
	if o, l := recordedRange(t, db); o != js[1].Start || l != js[1].Length {
		t.Errorf("the catalogue records the range %d+%d, the new job retrieves %d+%d", o, l, js[1].Start, js[1].Length)
	}
	// The same file again: the recorded job holds it and is reused.
	restore("out3", b.path)
	sameFile("out3", b)
	if n := len(jobs()); n != 2 {
		t.Errorf("a restore the recorded range holds initiated %d new jobs", n-2)
	}

	// A file across the middle of the pack: the node of the tree holding
	// it is the whole pack, so the megabyte-aligned range is retrieved
	// (its output comes without tree hashes; the member is still
	// authenticated and hashed).
	var mid memberAt
	for _, m := range members {
		if m.off < 32*mib && m.off+m.length > 32*mib {
			mid = m
		}
	}
	if mid.path == "" {
		t.Fatal("no member across the middle of the pack")
	}
	restore("out4", mid.path)
	sameFile("out4", mid)
	js = jobs()
	if len(js) != 3 || !js[2].Ranged || js[2].Start != 31*mib || js[2].Length != 2*mib {
		t.Fatalf("restore of a file across the middle: jobs %+v, want a ranged job of bytes 31-33 MiB", js)
	}

	// Everything: the ranged job does not hold it; one whole-archive job.
	r = mustRunEnv(t, dir, env, 0, append([]string{"--json", "restore", "--output", "out5", "--wait", "--poll", "50ms", "--tier", "Expedited"}, vault...)...)
	wantFields(t, "restore plan", ofType(jsonLines(t, "restore", r.stdout), "restore_plan")[0],
		map[string]any{"files": 120, "archives": 1, "whole_objects": 1, "ranged_objects": 0, "bytes": float64(packSize)})
	js = jobs()
	if len(js) != 4 || js[3].Ranged || js[3].Length != packSize {
		t.Fatalf("restore of everything: jobs %+v, want a fourth job of the whole archive", js)
	}
	sameTree(t, src, filepath.Join(dir, "out5", strings.TrimPrefix(src, "/")), contentOnly)
	if o, l := recordedRange(t, db); o != 0 || l != 0 {
		t.Errorf("the catalogue records the range %d+%d, want the whole archive", o, l)
	}
	// A whole-archive job holds any file: reused.
	restore("out6", a.path)
	sameFile("out6", a)
	if n := len(jobs()); n != 4 {
		t.Errorf("a restore after a whole-archive retrieval initiated %d new jobs", n-4)
	}
}
