package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/testutil/moto"
	"github.com/grsync/grsync/internal/ui"
)

// Issue 10's scenario, on each kind of store: a tree backed up over four
// runs a day apart (new versions, a renamed folder, a copy, a deletion of
// a file and of a folder, a mode change, an empty folder, a symlink), the
// catalogue deleted, then recovered from the store with only the key and
// the target flags. The recovered catalogue lists the same versions
// (ls --deleted), restores at three points in time the source as it was
// then, and a full restore equals the source, mtimes and modes included,
// folders too: a deleted folder does not come back.

// recoverCase is a store to run the scenario on.
type recoverCase struct {
	env    []string
	target []string // target flags
	cold   []string // restore and recover flags for a store that thaws (a vault)
	wait   []string // verify's, for a store whose listing is a job
	sync   []string // sync's own flags (e.g. --catalogue-class)
}

// day0 is the fake clock of the first run; runs are a day apart.
var day0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func atDay(d float64) []string {
	return []string{"GRSYNC_FAKE_NOW=" + day0.Add(time.Duration(d*24*float64(time.Hour))).Format(time.RFC3339)}
}

// sourceAt is where history keeps a copy of the source as each run left it.
func sourceAt(dir string, day int) string {
	return filepath.Join(dir, "source-after-day-"+strconv.Itoa(day))
}

// history backs up src over four runs and returns the key. After the run
// of day d, the source as it was is copied to sourceAt(dir, d).
func history(t *testing.T, dir string, c recoverCase) (src, key string) {
	t.Helper()
	src = filepath.Join(dir, "src")
	key = newKey(t, dir)
	mt := time.Unix(1700000000, 0)
	writeFile(t, filepath.Join(src, "notes.txt"), []byte("notes, first version"), mt)
	writeFile(t, filepath.Join(src, "docs", "report.txt"), []byte("the report"), mt)
	writeFile(t, filepath.Join(src, "docs", "data.bin"), randomBytes(t, 200_000), mt)
	writeFile(t, filepath.Join(src, "photos", "big.jpg"), randomBytes(t, 1_500_000), mt) // chunked
	writeFile(t, filepath.Join(src, "run.sh"), []byte("#!/bin/sh\necho hi\n"), mt)
	writeFile(t, filepath.Join(src, "trash", "junk.txt"), []byte("to be deleted with its folder"), mt)
	mustDo(t, os.Mkdir(filepath.Join(src, "empty"), 0o750))
	mustDo(t, os.Symlink("notes.txt", filepath.Join(src, "latest")))
	sync := func(d int) {
		t.Helper()
		mustRunEnv(t, dir, append(append([]string{}, c.env...), atDay(float64(d))...), 0,
			append(append(append([]string{}, c.target...), c.sync...), "--encryption-key-file", key, src)...)
		copySource(t, src, sourceAt(dir, d))
	}
	sync(0)
	// Day 1: a new version, a folder renamed, a copy, a mode change.
	writeFile(t, filepath.Join(src, "notes.txt"), []byte("notes, second version, longer"), mt.Add(time.Hour))
	if err := os.Rename(filepath.Join(src, "docs"), filepath.Join(src, "papers")); err != nil {
		t.Fatal(err)
	}
	big, _ := os.ReadFile(filepath.Join(src, "photos", "big.jpg"))
	writeFile(t, filepath.Join(src, "photos", "copy of big.jpg"), big, mt)
	if err := os.Chmod(filepath.Join(src, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	sync(1)
	// Day 2: deletions (a file, a folder with a file), a third version, a
	// new file.
	if err := os.Remove(filepath.Join(src, "papers", "data.bin")); err != nil {
		t.Fatal(err)
	}
	mustDo(t, os.RemoveAll(filepath.Join(src, "trash")))
	writeFile(t, filepath.Join(src, "notes.txt"), []byte("notes, third"), mt.Add(2*time.Hour))
	writeFile(t, filepath.Join(src, "new.txt"), []byte("new on day two"), mt.Add(2*time.Hour))
	sync(2)
	// Day 3: one small change: version records after the newest snapshot.
	writeFile(t, filepath.Join(src, "new.txt"), []byte("new, changed on day three"), mt.Add(3*time.Hour))
	sync(3)
	return src, key
}

// snapshotOf is what the lost catalogue gives: ls --deleted, every
// version of every file and folder (a deleted folder listed as deleted,
// not current), restores at three points in time.
type snapshotOf struct {
	ls       string
	versions string            // ls --deleted --versions --folders
	out      map[string]string // restore --at T: output folder
}

var restorePoints = []float64{0.5, 1.5, 2.5}

func capture(t *testing.T, dir, db string, c recoverCase, key, tag string) snapshotOf {
	t.Helper()
	s := snapshotOf{out: map[string]string{}}
	s.ls = mustRunEnv(t, dir, c.env, 0, "ls", "--deleted", "--db", db).stdout
	s.versions = mustRunEnv(t, dir, c.env, 0, "ls", "--deleted", "--versions", "--folders", "--db", db).stdout
	for _, d := range restorePoints {
		at := day0.Add(time.Duration(d * 24 * float64(time.Hour))).Format(time.RFC3339)
		out := filepath.Join(dir, tag+"-at-"+at)
		mustRunEnv(t, dir, c.env, 0, append(append([]string{"restore", "--db", db, "--encryption-key-file", key, "--at", at, "--output", out}, c.cold...), c.target...)...)
		s.out[at] = out
	}
	return s
}

// checkRecovered compares what the recovered catalogue db gives with what
// the lost one gave, and with the source: restores at three points equal
// the source as it was then, and a full restore the source now (files,
// folders, symlinks). verify agrees with the store, but for a snapshot
// whose size was changed (damaged).
func checkRecovered(t *testing.T, dir, db, src, key string, c recoverCase, lost snapshotOf, damaged ...string) {
	t.Helper()
	got := capture(t, dir, db, c, key, "recovered")
	if got.ls != lost.ls {
		t.Errorf("ls --deleted differs after recovery:\nlost:\n%s\nrecovered:\n%s", lost.ls, got.ls)
	}
	if got.versions != lost.versions {
		t.Errorf("ls --deleted --versions --folders differs after recovery:\nlost:\n%s\nrecovered:\n%s", lost.versions, got.versions)
	}
	checkPoints(t, dir, src, lost, got)
	full := filepath.Join(dir, "recovered-full")
	mustRunEnv(t, dir, c.env, 0, append(append([]string{"restore", "--db", db, "--encryption-key-file", key, "--output", full}, c.cold...), c.target...)...)
	sameTree(t, src, filepath.Join(full, strings.TrimPrefix(src, "/")), checkMeta)
	sameFolders(t, src, filepath.Join(full, strings.TrimPrefix(src, "/")), checkMeta)
	want := 0
	if len(damaged) > 0 {
		want = 1
	}
	r := mustRunEnv(t, dir, c.env, want, append(append([]string{"verify", "--db", db}, c.wait...), c.target...)...)
	if !strings.Contains(r.stdout, "0 missing, 0 unknown") {
		t.Errorf("verify of the recovered catalogue:\n%s", r)
	}
	for _, id := range damaged {
		if !strings.Contains(r.stdout, "size differs: "+id) {
			t.Errorf("verify should name the damaged snapshot %s:\n%s", id, r)
		}
	}
	// The recovered catalogue is the one to go on with: nothing to upload.
	r = mustRunEnv(t, dir, append(append([]string{}, c.env...), atDay(4)...), 0,
		append(append(append([]string{"--db", db}, c.target...), c.sync...), "--encryption-key-file", key, src)...)
	if !strings.Contains(r.stdout, "uploaded      0 files") {
		t.Errorf("a sync with the recovered catalogue uploaded something:\n%s", r)
	}
}

// checkPoints compares the restores at restorePoints of got with lost's
// (the whole output, folders included) and with the source as history
// left it on the day before each point.
func checkPoints(t *testing.T, dir, src string, lost, got snapshotOf) {
	t.Helper()
	for _, d := range restorePoints {
		at := day0.Add(time.Duration(d * 24 * float64(time.Hour))).Format(time.RFC3339)
		sameTree(t, lost.out[at], got.out[at], checkMeta)
		was, out := sourceAt(dir, int(d)), filepath.Join(got.out[at], strings.TrimPrefix(src, "/"))
		sameFolders(t, filepath.Join(lost.out[at], strings.TrimPrefix(src, "/")), out, checkMeta)
		sameTree(t, was, out, checkMeta)
		sameFolders(t, was, out, checkMeta)
	}
}

// recoverJSON runs recover with --json and returns its summary.
func recoverJSON(t *testing.T, dir string, env []string, want int, args ...string) (map[string]any, []map[string]any) {
	t.Helper()
	r := mustRunEnv(t, dir, env, want, append([]string{"--json", "recover"}, args...)...)
	var sum map[string]any
	var plans []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		switch m["message_type"] {
		case "summary":
			sum = m
		case "recover_plan":
			plans = append(plans, m)
		}
	}
	return sum, plans
}

func runRecoverScenario(t *testing.T, c recoverCase) {
	dir := t.TempDir()
	src, key := history(t, dir, c)
	db := filepath.Join(dir, "glacier.db")
	lost := capture(t, dir, db, c, key, "lost")
	for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
		os.Remove(db + suffix)
	}
	rec := filepath.Join(dir, "recovered.db")
	args := append(append([]string{"--db", rec, "--encryption-key-file", key}, c.cold...), c.target...)
	sum, plans := recoverJSON(t, dir, c.env, 0, args...)
	if len(plans) == 0 || plans[0]["snapshot"] == "" || plans[0]["from"] != "pointers" || sum["rebuilt"] != false || sum["records"].(float64) < 1 {
		t.Fatalf("recover should find a snapshot through the store's pointers, and the records after it: plans %v, summary %v", plans, sum)
	}
	checkRecovered(t, dir, rec, src, key, c, lost)
	// recover never overwrites a catalogue.
	r := grsync(t, dir, c.env, append([]string{"recover"}, args...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "exists") || !strings.Contains(r.stderr, "another --db") {
		t.Errorf("recover over an existing catalogue must be refused with exit 2 and the fix:\n%s", r)
	}
}

func TestRecoverFromLocalStore(t *testing.T) {
	t.Parallel()
	runRecoverScenario(t, recoverCase{target: []string{"--local-store", "st"}})
}

func TestRecoverFromVault(t *testing.T) {
	t.Parallel()
	_, env := emulator(t, glacieremu.Config{}, "v")
	runRecoverScenario(t, recoverCase{env: env, target: []string{"--vault", "v", "--region", "us-east-1"},
		cold: []string{"--tier", "Expedited", "--wait", "--poll", "50ms"}, wait: []string{"--wait", "--poll", "50ms"}})
}

func TestRecoverFromMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	createBucket(t, s3Client(m), "rec")
	runRecoverScenario(t, recoverCase{env: m.Env(), target: []string{"--bucket", "rec", "--prefix", "home", "--region", "us-east-1",
		"--storage-class", "DEEP_ARCHIVE"}, cold: []string{"--tier", "Bulk", "--wait", "--poll", "1s"}})
}

// A vault whose service keeps no tags (as moto's) has no catalogue
// pointers: recover says it needs the inventory first, requests it and
// exits 3; run again, it requests the snapshot's and the records' jobs
// (exit 3 again), then, once they are ready, recovers. No job is requested
// twice.
func TestRecoverFromVaultWithoutPointers(t *testing.T) {
	t.Parallel()
	delay := 300 * time.Millisecond
	srv, env := emulator(t, glacieremu.Config{NoTags: true, Delays: glacieremu.Delays{Expedited: delay, Standard: delay, Bulk: delay, Inventory: delay}}, "v")
	c := recoverCase{env: env, target: []string{"--vault", "v", "--region", "us-east-1"}, cold: []string{"--tier", "Expedited", "--wait", "--poll", "50ms"},
		wait: []string{"--wait", "--poll", "50ms"}}
	dir := t.TempDir()
	src, key := history(t, dir, c)
	db := filepath.Join(dir, "glacier.db")
	lost := capture(t, dir, db, c, key, "lost")
	os.Remove(db)
	rec := filepath.Join(dir, "recovered.db")
	args := append([]string{"--db", rec, "--encryption-key-file", key, "--tier", "Expedited"}, c.target...)
	sum, plans := recoverJSON(t, dir, env, 3, args...)
	if len(plans) != 1 || plans[0]["inventory"] != true || sum["pending"].(float64) != 1 {
		t.Fatalf("first run: the inventory is needed first: %v %v", plans, sum)
	}
	time.Sleep(delay + 100*time.Millisecond)
	sum, plans = recoverJSON(t, dir, env, 3, args...)
	if len(plans) != 1 || plans[0]["from"] != "listing" || plans[0]["snapshot"] == "" || sum["pending"].(float64) < 2 {
		t.Fatalf("second run: the snapshot and the records after it are requested: %v %v", plans, sum)
	}
	jobs := srv.Stats()[glacieremu.OpInitiateJob].Requests
	time.Sleep(delay + 100*time.Millisecond)
	sum, _ = recoverJSON(t, dir, env, 0, args...)
	if sum["records"].(float64) < 1 {
		t.Fatalf("third run: recovered from the snapshot and the records: %v", sum)
	}
	if n := srv.Stats()[glacieremu.OpInitiateJob].Requests; n != jobs {
		t.Errorf("the third run requested %d new jobs; the recorded ones must be reused", n-jobs)
	}
	checkRecovered(t, dir, rec, src, key, c, lost)
}

// snapshotIDs returns the catalogue's snapshot objects, oldest first.
func snapshotIDs(t *testing.T, db string) []string { return objectIDs(t, db, "snapshot") }

// objectIDs returns the catalogue's objects of kind in the store, oldest
// first.
func objectIDs(t *testing.T, db, kind string) []string {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query("SELECT archive_id FROM objects WHERE kind = ? AND deleted_at IS NULL ORDER BY id", kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// versionRows counts the catalogue's versions of files, and of folders and
// symlinks (deletions included).
func versionRows(t *testing.T, db string) (files, others int) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.QueryRow("SELECT COUNT(*) FILTER (WHERE kind = 0), COUNT(*) FILTER (WHERE kind <> 0) FROM sync_history").Scan(&files, &others); err != nil {
		t.Fatal(err)
	}
	return files, others
}

// A damaged newest snapshot (a byte flipped on a local store; truncated in
// S3) is refused with a message that names it, and the one before it is
// used with the records after it: nothing is lost.
func TestRecoverRefusesTamperedSnapshotLocal(t *testing.T) {
	t.Parallel()
	c := recoverCase{target: []string{"--local-store", "st"}}
	dir := t.TempDir()
	src, key := history(t, dir, c)
	db := filepath.Join(dir, "glacier.db")
	ids := snapshotIDs(t, db)
	if len(ids) < 2 {
		t.Fatalf("the history should leave at least two snapshots: %v", ids)
	}
	lost := capture(t, dir, db, c, key, "lost")
	os.Remove(db)
	p := filepath.Join(dir, "st", "archives", ids[len(ids)-1])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "recovered.db")
	r := mustRunEnv(t, dir, nil, 0, append([]string{"recover", "--db", rec, "--encryption-key-file", key}, c.target...)...)
	if !strings.Contains(r.stdout, "refused: snapshot "+ids[len(ids)-1]) || strings.Count(r.stdout, "recover from") != 2 {
		t.Fatalf("the tampered snapshot must be refused by name, and the previous one planned:\n%s", r)
	}
	checkRecovered(t, dir, rec, src, key, c, lost)
}

func TestRecoverRefusesTruncatedSnapshotMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	s3c := s3Client(m)
	createBucket(t, s3c, "trunc")
	c := recoverCase{env: m.Env(), target: []string{"--bucket", "trunc", "--region", "us-east-1", "--storage-class", "STANDARD"}}
	dir := t.TempDir()
	src, key := history(t, dir, c)
	db := filepath.Join(dir, "glacier.db")
	ids := snapshotIDs(t, db)
	lost := capture(t, dir, db, c, key, "lost")
	os.Remove(db)
	// Cut the newest snapshot's last 100 bytes, keeping its metadata.
	ctx := context.Background()
	k := aws.String("grsync/" + ids[len(ids)-1])
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("trunc"), Key: k})
	if err != nil {
		t.Fatalf("the newest snapshot %s: %v", *k, err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("trunc"), Key: k, Body: bytes.NewReader(b[:len(b)-100]),
		Metadata: obj.Metadata}); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "recovered.db")
	sum, plans := recoverJSON(t, dir, c.env, 0, append([]string{"--db", rec, "--encryption-key-file", key}, c.target...)...)
	if len(plans) != 2 || len(plans[1]["refused"].([]any)) != 1 || plans[1]["snapshot"] == plans[0]["snapshot"] {
		t.Fatalf("the truncated snapshot must be refused and the one before used: %v %v", plans, sum)
	}
	checkRecovered(t, dir, rec, src, key, c, lost, ids[len(ids)-1])
}

// Kill -9 while the snapshot is being uploaded: the store keeps the
// snapshot before it and the version records the killed run stored
// first, so recover gives back everything the killed run recorded; the
// next sync with the catalogue aborts the dead upload and takes the
// snapshot again.
func TestRecoverAfterKillDuringSnapshotUpload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	mt := time.Unix(1700000000, 0)
	for i := range 1500 {
		writeFile(t, filepath.Join(src, "d"+strconv.Itoa(i%30), "file-"+strconv.Itoa(i)+".txt"), []byte("content "+strconv.Itoa(i)), mt)
	}
	key := newKey(t, dir)
	target := []string{"--local-store", "st", "--encryption-key-file", key}
	mustRunEnv(t, dir, atDay(0), 0, append(target, "--quiet", src)...)
	// A month later, a new mtime for half the files: no content to upload,
	// version records, and a snapshot due (the newest is 30 days old).
	for i := 0; i < 1500; i += 2 {
		p := filepath.Join(src, "d"+strconv.Itoa(i%30), "file-"+strconv.Itoa(i)+".txt")
		os.Chtimes(p, mt.Add(time.Hour), mt.Add(time.Hour))
	}
	objects := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "st", "archives", "*.json"))
		return len(m)
	}
	uploading := func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "st", "uploads", "*.part"))
		return len(m) > 0
	}
	before := objects()
	cmd := exec.Command(grsyncBin, append(target, "--bwlimit", "24k", "--quiet", src)...)
	cmd.Dir, cmd.Env = dir, append(cleanEnv(), atDay(31)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for objects() == before || !uploading() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the run never got to uploading its snapshot (%d objects, was %d)", objects(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // well into the snapshot's upload
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if objects() != before+1 {
		t.Fatalf("want the records object stored and the snapshot not: %d objects, was %d", objects(), before)
	}

	db := filepath.Join(dir, "glacier.db")
	c := recoverCase{target: []string{"--local-store", "st"}}
	lost := capture(t, dir, db, c, key, "lost")
	kept := filepath.Join(dir, "kept.db")
	b, _ := os.ReadFile(db)
	os.WriteFile(kept, b, 0o600)
	os.Remove(db)
	rec := filepath.Join(dir, "recovered.db")
	sum, plans := recoverJSON(t, dir, nil, 0, "--db", rec, "--encryption-key-file", key, "--local-store", "st")
	if sum["records"].(float64) != 1 || sum["added"].(float64) != 750 || len(plans) != 1 {
		t.Fatalf("recover should take the first snapshot and the killed run's records (750 versions): %v %v", plans, sum)
	}
	if got := mustRun(t, dir, 0, "ls", "--deleted", "--db", rec).stdout; got != lost.ls {
		t.Errorf("ls --deleted differs after recovery:\nlost:\n%s\nrecovered:\n%s", lost.ls, got)
	}
	out := filepath.Join(dir, "out")
	mustRun(t, dir, 0, "restore", "--db", rec, "--encryption-key-file", key, "--output", out)
	sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)

	// The killed run's catalogue goes on: the dead upload is aborted, the
	// snapshot taken.
	r := mustRunEnv(t, dir, atDay(32), 0, append([]string{"--db", kept}, append(target, src)...)...)
	if !strings.Contains(r.stdout, "snapshot stored") {
		t.Errorf("the next sync should store the snapshot the kill stopped:\n%s", r)
	}
	if r := mustRun(t, dir, 0, "uploads", "list", "--db", kept); !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Errorf("the killed snapshot upload was left open:\n%s", r)
	}
}

// catalogue push stores what the store lacks of the catalogue, and only
// that; verify reports the newest snapshot and warns about what no
// snapshot or records object holds (here: a forget).
func TestCataloguePushAndVerifyReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	target := []string{"--local-store", "st", "--encryption-key-file", key}
	writeFile(t, filepath.Join(src, "a"), []byte("one"), time.Unix(1700000000, 0))
	mustRunEnv(t, dir, atDay(0), 0, append(target, src)...)
	writeFile(t, filepath.Join(src, "a"), []byte("two!"), time.Unix(1700000100, 0))
	mustRunEnv(t, dir, atDay(1), 0, append(target, src)...)
	mustRunEnv(t, dir, atDay(1), 0, append([]string{"catalogue", "push"}, target...)...)
	r := mustRunEnv(t, dir, atDay(1), 0, append([]string{"catalogue", "push"}, target...)...)
	if !strings.Contains(r.stdout, "no snapshot stored") || !strings.Contains(r.stdout, "holds the whole catalogue") {
		t.Errorf("a push with nothing new stores nothing:\n%s", r)
	}
	r = mustRunEnv(t, dir, atDay(1.5), 0, "verify")
	if !strings.Contains(r.stdout, "newest snapshot in the store of") || !strings.Contains(r.stdout, "(0.5 days old)") || strings.Contains(r.stdout, "warning") {
		t.Errorf("verify should report the snapshot's age and no warning:\n%s", r)
	}
	mustRunEnv(t, dir, atDay(2), 0, "forget", "--keep-last", "1")
	r = mustRunEnv(t, dir, atDay(2), 0, "verify")
	if !strings.Contains(r.stdout, "warning: the catalogue has") || !strings.Contains(r.stdout, "forgotten versions") || !strings.Contains(r.stdout, "grsync catalogue push") {
		t.Errorf("verify should warn that the forget is in no snapshot:\n%s", r)
	}
	r = mustRunEnv(t, dir, atDay(2), 0, append([]string{"catalogue", "push"}, target...)...)
	if !strings.Contains(r.stdout, "catalogue snapshot stored") {
		t.Errorf("push should store the forget:\n%s", r)
	}
	if r = mustRunEnv(t, dir, atDay(2), 0, "verify"); strings.Contains(r.stdout, "warning") {
		t.Errorf("after the push, nothing is missing from the store:\n%s", r)
	}
	for _, bad := range []string{"0", "-1", "101"} {
		r := grsync(t, dir, nil, append([]string{"catalogue", "push", "--keep-snapshots", bad}, target...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "--keep-snapshots") {
			t.Errorf("--keep-snapshots %s: want exit 2 naming the flag:\n%s", bad, r)
		}
	}
}

// recover's usage errors: each exits 2 naming the problem and leaves no
// catalogue behind.
func TestRecoverMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a"), []byte("a"), time.Unix(1700000000, 0))
	key := newKey(t, dir)
	mustRun(t, dir, 0, "--local-store", "plain", "--db", "plain.db", src) // not encrypted
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"recover", "--db", "new.db"}, "target flags"},
		{[]string{"recover", "--db", "new.db", "--local-store", "nowhere"}, "does not exist"},
		{[]string{"recover", "--db", "new.db", "--local-store", "plain", "--encryption-key-file", key}, "not encrypted"},
		{[]string{"recover", "--db", "new.db", "--local-store", "plain", "--tier", "Slow"}, "--tier"},
		{[]string{"recover", "--db", "plain.db", "--local-store", "plain"}, "never overwrites"},
	} {
		r := grsync(t, dir, nil, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("grsync %s: want exit 2 saying %q:\n%s", strings.Join(c.args, " "), c.want, r)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "new.db*")); len(m) > 0 {
			t.Errorf("grsync %s left %v", strings.Join(c.args, " "), m)
		}
	}
	mustRun(t, dir, 0, "recover", "--db", "new.db", "--local-store", "plain")
}

// Lossless without snapshots: with every catalogue snapshot gone from the
// store, inventory --rebuild gives back the scenario from the
// version records, pack indexes and descriptions alone: the same
// ls --deleted (the renamed folder, the copy, the deleted file and folder,
// the mode change, every version), restores at three points equal to the
// source then, and a full restore equal to the source now.
func TestInventoryRebuildWithoutSnapshots(t *testing.T) {
	t.Parallel()
	c := recoverCase{target: []string{"--local-store", "st"}}
	dir := t.TempDir()
	src, key := history(t, dir, c)
	db := filepath.Join(dir, "glacier.db")
	ids := snapshotIDs(t, db)
	files, others := versionRows(t, db)
	lost := capture(t, dir, db, c, key, "lost")
	os.Remove(db)
	for _, id := range ids {
		for _, p := range []string{id, id + ".json"} {
			mustDo(t, os.Remove(filepath.Join(dir, "st", "archives", p)))
		}
	}
	fresh := filepath.Join(dir, "rebuilt.db")
	r := mustRun(t, dir, 0, "inventory", "--rebuild", "--db", fresh, "--local-store", "st", "--encryption-key-file", key)
	// Every row the lost catalogue had: deletions too, from the records.
	if want := fmt.Sprintf(": %d file versions added (%d from version records, 0 from pack indexes", files, files); !strings.Contains(r.stdout, want) ||
		!strings.Contains(r.stdout, fmt.Sprintf(", %d versions of folders and symlinks", others)) {
		t.Fatalf("the rebuild should add the lost catalogue's %d file versions and %d of folders and symlinks:\n%s", files, others, r)
	}
	checkRecovered(t, dir, fresh, src, key, c, lost)
}

// Every snapshot in the store damaged (its bytes overwritten, its size
// and metadata kept): recover refuses each by name, says it rebuilds from
// the archives' own metadata instead, and the rebuilt catalogue is the
// lost one: nothing is missing from the restores.
func runAllSnapshotsDamaged(t *testing.T, c recoverCase, overwrite func(t *testing.T, dir, id string)) {
	dir := t.TempDir()
	src, key := history(t, dir, c)
	db := filepath.Join(dir, "glacier.db")
	ids := snapshotIDs(t, db)
	if len(ids) < 2 {
		t.Fatalf("the history should leave at least two snapshots: %v", ids)
	}
	files, _ := versionRows(t, db)
	lost := capture(t, dir, db, c, key, "lost")
	os.Remove(db)
	for _, id := range ids {
		overwrite(t, dir, id)
	}
	rec := filepath.Join(dir, "recovered.db")
	r := mustRunEnv(t, dir, c.env, 0, append([]string{"recover", "--db", rec, "--encryption-key-file", key}, c.target...)...)
	for _, id := range ids {
		if !strings.Contains(r.stdout, "refused: snapshot "+id) {
			t.Errorf("the damaged snapshot %s must be refused by name:\n%s", id, r)
		}
	}
	rebuilding := strings.Index(r.stdout, "no usable catalogue snapshot; rebuilding from every version records object, pack index and description")
	if rebuilding < 0 || !strings.Contains(r.stdout[rebuilding:], fmt.Sprintf("rebuilt the catalogue %s from the objects in", rec)) ||
		!strings.Contains(r.stdout, fmt.Sprintf(": %d file versions", files)) {
		t.Fatalf("recover should say it rebuilds, then that it rebuilt the %d file versions:\n%s", files, r)
	}
	checkRecovered(t, dir, rec, src, key, c, lost)
}

func TestRecoverRebuildsWhenEverySnapshotIsDamagedLocal(t *testing.T) {
	t.Parallel()
	runAllSnapshotsDamaged(t, recoverCase{target: []string{"--local-store", "st"}}, func(t *testing.T, dir, id string) {
		p := filepath.Join(dir, "st", "archives", id)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mustDo(t, os.WriteFile(p, randomBytes(t, int(fi.Size())), 0o600))
	})
}

func TestRecoverRebuildsWhenEverySnapshotIsDamagedMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	s3c := s3Client(m)
	createBucket(t, s3c, "dmg")
	runAllSnapshotsDamaged(t, recoverCase{env: m.Env(), target: []string{"--bucket", "dmg", "--region", "us-east-1", "--storage-class", "STANDARD"}},
		func(t *testing.T, dir, id string) {
			ctx := context.Background()
			k := aws.String("grsync/" + id)
			h, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dmg"), Key: k})
			if err != nil {
				t.Fatalf("the snapshot %s: %v", *k, err)
			}
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dmg"), Key: k,
				Body: bytes.NewReader(randomBytes(t, int(*h.ContentLength))), Metadata: h.Metadata}); err != nil {
				t.Fatal(err)
			}
		})
}

// expectedPlan is what recover should fetch, from the lost catalogue: its
// newest snapshot and the records objects stored with it or after it.
func expectedPlan(t *testing.T, db string) (snapshot string, records int, bytes int64) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var at string
	if err := d.QueryRow(`SELECT archive_id, size, uploaded_at FROM objects WHERE kind = 'snapshot' AND deleted_at IS NULL
		ORDER BY uploaded_at DESC, id DESC LIMIT 1`).Scan(&snapshot, &bytes, &at); err != nil {
		t.Fatal(err)
	}
	var n int
	var sum sql.NullInt64
	if err := d.QueryRow(`SELECT COUNT(*), SUM(size) FROM objects WHERE kind = 'records' AND deleted_at IS NULL AND uploaded_at >= ?`,
		at).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return snapshot, n, bytes + sum.Int64
}

// recover prints its plan (the snapshot, the records objects, their count
// and bytes, the tier and the expected wait) before it requests anything:
// with every job request answered only after 30 s, the plan is printed at
// once, in full, and no job request has been answered yet. Once the vault
// answers, the same plan is printed and exactly its objects are requested
// (exit 3); the next run with --wait reuses those jobs and recovers the
// lost catalogue.
func TestRecoverPrintsItsPlanBeforeRequestingVault(t *testing.T) {
	t.Parallel()
	delay := 300 * time.Millisecond
	srv, env := emulator(t, glacieremu.Config{Delays: glacieremu.Delays{Expedited: delay, Standard: delay, Bulk: delay, Inventory: delay}}, "v")
	c := recoverCase{env: env, target: []string{"--vault", "v", "--region", "us-east-1"},
		cold: []string{"--tier", "Expedited", "--wait", "--poll", "50ms"}, wait: []string{"--wait", "--poll", "50ms"}}
	dir := t.TempDir()
	src, key := history(t, dir, c)
	db := filepath.Join(dir, "glacier.db")
	snap, records, size := expectedPlan(t, db)
	if records < 1 {
		t.Fatalf("the history should leave records after the newest snapshot")
	}
	lost := capture(t, dir, db, c, key, "lost")
	os.Remove(db)
	rec := filepath.Join(dir, "recovered.db")
	args := append([]string{"--db", rec, "--encryption-key-file", key, "--tier", "Standard"}, c.target...)

	const slow = 30 * time.Second
	if err := srv.SetFault(glacieremu.OpInitiateJob, glacieremu.Fault{Latency: slow}); err != nil {
		t.Fatal(err)
	}
	jobs := srv.Stats()[glacieremu.OpInitiateJob]
	cmd := exec.Command(grsyncBin, append([]string{"recover"}, args...)...)
	cmd.Dir, cmd.Env = dir, append(cleanEnv(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		first <- l
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(slow / 2):
	}
	st := srv.Stats()[glacieremu.OpInitiateJob]
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	plan := "recover from glacier:us-east-1:v (found through the store's catalogue pointers): the snapshot of "
	tail := fmt.Sprintf(" and %s stored since; %s, %s to fetch, tier Standard, expected wait 3-5 hours\n",
		ui.Count(records, "version records object"), ui.Count(records+1, "object"), ui.Bytes(size))
	if !strings.HasPrefix(line, plan) || !strings.HasSuffix(line, tail) {
		t.Fatalf("the plan should be printed first, at once: want %q...%q, got %q (stderr: %s)", plan, tail, line, stderr.String())
	}
	if st.BytesOut != jobs.BytesOut || st.Requests-jobs.Requests > 1 {
		t.Fatalf("when the plan was printed, a job request had been answered (or several sent): %+v, was %+v", st, jobs)
	}

	if err := srv.SetFault(glacieremu.OpInitiateJob, glacieremu.Fault{}); err != nil {
		t.Fatal(err)
	}
	// The killed run's request may still sit in the emulator's socket
	// (counted when it is read): wait until the count stays the same for
	// 300 ms before taking it as the baseline.
	jobs = srv.Stats()[glacieremu.OpInitiateJob]
	for stable := 0; stable < 6; {
		time.Sleep(50 * time.Millisecond)
		if now := srv.Stats()[glacieremu.OpInitiateJob]; now.Requests != jobs.Requests {
			jobs, stable = now, 0
		} else {
			stable++
		}
	}
	sum, plans := recoverJSON(t, dir, env, 3, args...)
	if len(plans) != 1 {
		t.Fatalf("one plan: %v", plans)
	}
	p := plans[0]
	if p["snapshot"] != snap || p["records"] != float64(records) || p["objects"] != float64(records+1) || p["bytes"] != float64(size) ||
		p["tier"] != "Standard" || p["expected_wait"] != "3-5 hours" || p["from"] != "pointers" || p["rebuild"] != false {
		t.Errorf("the plan should name the snapshot %s, %d records objects, %d objects, %d bytes, tier Standard, 3-5 hours: %v",
			snap, records, records+1, size, p)
	}
	if n := srv.Stats()[glacieremu.OpInitiateJob].Requests - jobs.Requests; n != int64(records+1) || sum["pending"] != float64(records+1) {
		t.Errorf("exactly the plan's %d objects should be requested: %d requests, summary %v", records+1, n, sum)
	}
	jobs = srv.Stats()[glacieremu.OpInitiateJob]
	sum, _ = recoverJSON(t, dir, env, 0, append(args, "--wait", "--poll", "50ms")...)
	if sum["snapshot"] != snap || sum["records"] != float64(records) {
		t.Errorf("recover should use the planned snapshot and records: %v", sum)
	}
	if n := srv.Stats()[glacieremu.OpInitiateJob].Requests - jobs.Requests; n != 0 {
		t.Errorf("the run with --wait requested %d new jobs; the recorded ones must be reused", n)
	}
	checkRecovered(t, dir, rec, src, key, c, lost)
}

// pendingSnapshot reports whether the catalogue notes a snapshot upload
// under way (noted before its first byte is sent).
func pendingSnapshot(db string) bool {
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		return false
	}
	defer d.Close()
	var n int
	if err := d.QueryRow("SELECT COUNT(*) FROM pending_uploads WHERE path LIKE 'snapshot %'").Scan(&n); err != nil {
		return false
	}
	return n > 0
}

// Kill -9 while the snapshot is being uploaded to S3 (moto) or to a vault
// (the emulator): the killed catalogue is consistent (verify finds the
// store agrees); the store keeps the snapshot before it and the killed
// run's version records, so recover gives back everything the killed run
// recorded; catalogue push with the killed catalogue stores the snapshot,
// leaves no upload open, and a recover then uses it. objects counts what
// the store holds but the refs.
func runKillDuringSnapshotUpload(t *testing.T, c recoverCase, objects func() int) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	mt := time.Unix(1700000000, 0)
	for i := range 1500 {
		writeFile(t, filepath.Join(src, "d"+strconv.Itoa(i%30), "file-"+strconv.Itoa(i)+".txt"), []byte("content "+strconv.Itoa(i)), mt)
	}
	key := newKey(t, dir)
	env := c.env
	// The first run a month ago; the others now (a vault's inventory is
	// dated by the service's clock).
	monthAgo := append(append([]string{}, env...), "GRSYNC_FAKE_NOW="+time.Now().Add(-31*24*time.Hour).UTC().Format(time.RFC3339))
	target := append(append(append([]string{}, c.target...), c.sync...), "--encryption-key-file", key)
	db := filepath.Join(dir, "glacier.db")
	mustRunEnv(t, dir, monthAgo, 0, append(target, "--quiet", src)...)
	// Now, a new mtime for half the files: no content to upload,
	// version records, and a snapshot due (the newest is 30 days old).
	for i := 0; i < 1500; i += 2 {
		p := filepath.Join(src, "d"+strconv.Itoa(i%30), "file-"+strconv.Itoa(i)+".txt")
		os.Chtimes(p, mt.Add(time.Hour), mt.Add(time.Hour))
	}
	before := objects()
	killWhen(t, dir, env, func() bool {
		if objects() == before || !pendingSnapshot(db) {
			return false
		}
		time.Sleep(300 * time.Millisecond) // well into the snapshot's upload
		return true
	}, append(target, "--bwlimit", "24k", "--quiet", src)...)
	if objects() != before+1 {
		t.Fatalf("want the records object stored and the snapshot not: %d objects, was %d", objects(), before)
	}

	// The killed catalogue agrees with the store.
	if r := mustRunEnv(t, dir, env, 0, append(append([]string{"verify"}, c.wait...), c.target...)...); !strings.Contains(r.stdout, "0 missing, 0 unknown") {
		t.Errorf("verify of the killed catalogue:\n%s", r)
	}
	lost := mustRunEnv(t, dir, env, 0, "ls", "--deleted", "--db", db).stdout
	kept := filepath.Join(dir, "kept.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, os.WriteFile(kept, b, 0o600))
	os.Remove(db)

	// Recover: the day-0 snapshot and the killed run's records.
	rec := filepath.Join(dir, "recovered.db")
	sum, plans := recoverJSON(t, dir, env, 0, append(append([]string{"--db", rec, "--encryption-key-file", key}, c.cold...), c.target...)...)
	if sum["records"] != 1.0 || sum["added"] != 750.0 || len(plans) != 1 || sum["rebuilt"] != false {
		t.Fatalf("recover should take the first snapshot and the killed run's records (750 versions): %v %v", plans, sum)
	}
	if got, want := mustRunEnv(t, dir, env, 0, "ls", "--deleted", "--versions", "--db", rec).stdout,
		mustRunEnv(t, dir, env, 0, "ls", "--deleted", "--versions", "--db", kept).stdout; got != want {
		t.Errorf("ls --deleted --versions differs after recovery:\nkilled:\n%s\nrecovered:\n%s", want, got)
	}
	if got := mustRunEnv(t, dir, env, 0, "ls", "--deleted", "--db", rec).stdout; got != lost {
		t.Errorf("ls --deleted differs after recovery:\nlost:\n%s\nrecovered:\n%s", lost, got)
	}
	out := filepath.Join(dir, "out")
	mustRunEnv(t, dir, env, 0, append(append([]string{"restore", "--db", rec, "--encryption-key-file", key, "--output", out}, c.cold...), c.target...)...)
	sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
	sameFolders(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)

	// The killed run's catalogue goes on: catalogue push stores the
	// snapshot the kill stopped, no upload stays open, the store agrees.
	r := mustRunEnv(t, dir, env, 0, append([]string{"catalogue", "push", "--db", kept}, target...)...)
	if !strings.Contains(r.stdout, "catalogue snapshot stored") {
		t.Fatalf("push should store the snapshot the kill stopped:\n%s", r)
	}
	if r := mustRunEnv(t, dir, env, 0, append([]string{"uploads", "list", "--db", kept}, c.target...)...); !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Errorf("the killed snapshot upload was left open:\n%s", r)
	}
	// (A vault's inventory, reused, is older than the pushed snapshot: it
	// is "too recent to be listed", not missing.)
	if r := mustRunEnv(t, dir, env, 0, append(append([]string{"verify", "--db", kept}, c.wait...), c.target...)...); !strings.Contains(r.stdout, "0 missing, 0 unknown") {
		t.Errorf("verify after the push:\n%s", r)
	}
	newest := snapshotIDs(t, kept)
	rec2 := filepath.Join(dir, "recovered-after-push.db")
	sum, plans = recoverJSON(t, dir, env, 0, append(append([]string{"--db", rec2, "--encryption-key-file", key}, c.cold...), c.target...)...)
	if len(plans) != 1 || plans[0]["snapshot"] != newest[len(newest)-1] || sum["records"] != 0.0 {
		t.Errorf("recover after the push should use its snapshot %s and nothing else: %v %v", newest[len(newest)-1], plans, sum)
	}
	if got := mustRunEnv(t, dir, env, 0, "ls", "--deleted", "--db", rec2).stdout; got != lost {
		t.Errorf("ls --deleted differs after the second recovery:\nlost:\n%s\nrecovered:\n%s", lost, got)
	}
}

func TestRecoverAfterKillDuringSnapshotUploadMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	s3c := s3Client(m)
	createBucket(t, s3c, "killed")
	runKillDuringSnapshotUpload(t, recoverCase{env: m.Env(), target: []string{"--bucket", "killed", "--region", "us-east-1"},
		sync: []string{"--storage-class", "STANDARD"}}, func() int {
		c, _ := bucketClasses(t, s3c, "killed")
		return len(c)
	})
}

func TestRecoverAfterKillDuringSnapshotUploadVault(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "v")
	runKillDuringSnapshotUpload(t, recoverCase{env: env, target: []string{"--vault", "v", "--region", "us-east-1"},
		cold: []string{"--tier", "Expedited", "--wait", "--poll", "50ms"}, wait: []string{"--wait", "--poll", "50ms"}}, func() int {
		// Archives stored: whole, or their multipart upload completed.
		st := srv.Stats()
		return int(st[glacieremu.OpUploadArchive].Requests - st[glacieremu.OpUploadArchive].Errors +
			st[glacieremu.OpCompleteMultipartUpload].Requests - st[glacieremu.OpCompleteMultipartUpload].Errors)
	})
}
