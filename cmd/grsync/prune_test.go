package main

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/testutil/moto"
)

// pruneBase is day 0 of the prune scenarios.
var pruneBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pruneDay(d float64) time.Time { return pruneBase.Add(time.Duration(d * 24 * float64(time.Hour))) }

// copyTree copies the regular files under src to dst with their modes and
// modification times: a snapshot of the source at one point.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		q := filepath.Join(dst, rel)
		writeFile(t, q, data, fi.ModTime())
		return os.Chmod(q, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// firstArchiveOf is the object holding the first recorded version of path.
func firstArchiveOf(t *testing.T, db, path string) string {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var id string
	if err := c.QueryRow(`SELECT o.archive_id FROM sync_history h JOIN version_pieces p ON p.version_id = h.id
		JOIN blobs b ON b.id = p.blob_id JOIN objects o ON o.id = b.object_id WHERE h.path = ? ORDER BY h.id LIMIT 1`, path).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// pruneStore is a target for the prune scenario.
type pruneStore struct {
	env     []string
	target  []string
	minDays int                  // the class's minimum storage duration
	has     func(id string) bool // whether the store holds object id
	read    []string             // restore and verify flags (waiting for retrievals)
	// prepare, if set, changes the catalogue after the syncs (before forget).
	prepare func(db string)
	why     string // the reason the prune before the minimum gives, if set
}

// pruneScenario: four daily syncs with changes (one object per file), a
// deletion, then forget --keep-last 2. The objects only the forgotten
// versions used are listed but kept a day before their class's minimum
// storage duration is over (an early deletion is priced, and refused by
// --max-cost), and deleted a day after; then every kept point restores
// identically, and verify finds nothing missing.
func pruneScenario(t *testing.T, ps pruneStore) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	run := func(at time.Time, want int, args ...string) result {
		t.Helper()
		env := append(append([]string{}, ps.env...), "GRSYNC_FAKE_NOW="+at.Format(time.RFC3339))
		r := grsync(t, dir, env, append(args, "--encryption-key-file", key)...)
		if r.code != want {
			t.Fatalf("%s: grsync %v: want exit %d:\n%s", at.Format(time.DateOnly), args, want, r)
		}
		return r
	}
	changes := []func(){
		func() {
			writeFile(t, filepath.Join(src, "a.txt"), []byte("a, day 0"), pruneDay(0))
			writeFile(t, filepath.Join(src, "sub", "b.bin"), randomBytes(t, 40000), pruneDay(0))
			writeFile(t, filepath.Join(src, "c.txt"), []byte("c, gone on day 2"), pruneDay(0))
		},
		func() { writeFile(t, filepath.Join(src, "a.txt"), []byte("a, day 1, longer"), pruneDay(1)) },
		func() {
			writeFile(t, filepath.Join(src, "sub", "b.bin"), randomBytes(t, 50000), pruneDay(2))
			os.Remove(filepath.Join(src, "c.txt"))
		},
		func() { writeFile(t, filepath.Join(src, "a.txt"), []byte("a, day 3"), pruneDay(3)) },
	}
	for d, change := range changes {
		change()
		run(pruneDay(float64(d)), 0, append(append([]string{}, ps.target...), "--pack-size", "0", src)...)
		copyTree(t, src, filepath.Join(dir, "snap", strconv.Itoa(d)))
	}
	db := filepath.Join(dir, "glacier.db")
	if ps.prepare != nil {
		ps.prepare(db)
	}
	a0 := firstArchiveOf(t, db, filepath.Join(src, "a.txt"))
	r := run(pruneDay(3), 0, "forget", "--keep-last", "2")
	wantSummary(t, r, "forgot 4 versions of 5 paths") // a, b, c and the folder sub as of day 0
	if ps.minDays > 0 {
		early := pruneDay(float64(ps.minDays - 1))
		r = run(early, 0, "prune")
		wantSummary(t, r, "delete         0 objects", "wait           3 objects",
			"free on "+pruneDay(float64(ps.minDays)).Local().Format(time.DateOnly), "early deletion now pays", "actual bills may differ")
		if ps.why != "" {
			wantSummary(t, r, ps.why)
		}
		if !ps.has(a0) {
			t.Fatalf("day %d: prune deleted an object inside its minimum storage duration", ps.minDays-1)
		}
		r = run(early, 0, "prune", "--dry-run", "--allow-early-delete")
		wantSummary(t, r, "delete         3 objects", "early deletion:", "dry run: nothing was deleted")
		r = run(early, 2, "prune", "--allow-early-delete", "--max-cost", "0.000000001")
		wantStderr(t, r, "--max-cost", "nothing was requested or changed")
		if !ps.has(a0) {
			t.Fatal("a prune refused by --max-cost deleted an object")
		}
	}
	r = run(pruneDay(float64(ps.minDays+1)), 0, "prune")
	wantSummary(t, r, "deleted 3 objects")
	if ps.has(a0) {
		t.Fatalf("day %d: the unused object is still in the store", ps.minDays+1)
	}
	// Every kept point restores as it was; nothing kept was deleted.
	for _, d := range []int{2, 3} {
		out := filepath.Join(dir, "out"+strconv.Itoa(d))
		run(pruneDay(float64(d+4)), 0, append([]string{"restore", "--output", out, "--at", pruneDay(float64(d)).Format(time.RFC3339)}, ps.read...)...)
		sameTree(t, filepath.Join(dir, "snap", strconv.Itoa(d)), filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
	}
	r = run(pruneDay(float64(ps.minDays+2)), 0, append([]string{"verify"}, ps.read...)...)
	wantSummary(t, r, "0 missing, 0 unknown, 0 with another size")
	if ls := run(pruneDay(float64(ps.minDays+2)), 0, "ls", "--versions", filepath.Join(src, "a.txt")); !strings.Contains(ls.stdout, "forgotten (content deleted)") ||
		strings.Count(ls.stdout, "live") != 2 {
		t.Errorf("ls --versions should show a's forgotten first version and two live ones:\n%s", ls)
	}
}

func TestPruneScenarioLocalStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	pruneScenario(t, pruneStore{target: []string{"--local-store", st}, minDays: 0,
		has: func(id string) bool { _, err := os.Stat(filepath.Join(st, "archives", id)); return err == nil }})
}

func TestPruneScenarioGlacierVault(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "v")
	pruneScenario(t, pruneStore{env: env, target: []string{"--vault", "v", "--region", "us-east-1"}, minDays: 90,
		has:  func(id string) bool { return vaultHas(t, srv, "v", id) },
		read: []string{"--wait", "--poll", "50ms"}})
}

func TestPruneScenarioMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	// The third: GLACIER objects whose class the catalogue does not record
	// (as in catalogues older than the objects table, whose rows were
	// migrated): prune holds them for the longest minimum, 180 days.
	noClass := func(db string) {
		c, err := sql.Open("sqlite", db)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Exec(`UPDATE objects SET storage_class = NULL`); err != nil {
			t.Fatal(err)
		}
	}
	for _, class := range []struct {
		name, class string
		minDays     int
		prepare     func(string)
		why         string
	}{{"GLACIER", "GLACIER", 90, nil, "GLACIER bills at least 90 days"}, {"DEEP_ARCHIVE", "DEEP_ARCHIVE", 180, nil, "DEEP_ARCHIVE bills at least 180 days"},
		{"class_not_recorded", "GLACIER", 180, noClass, "its storage class is not recorded: assuming the longest minimum storage duration, 180 days from its upload on " + pruneDay(0).UTC().Format(time.DateOnly)}} {
		t.Run(class.name, func(t *testing.T) {
			t.Parallel()
			bucket := "prune-" + strings.ToLower(strings.ReplaceAll(class.name, "_", "-"))
			createBucket(t, c, bucket)
			pruneScenario(t, pruneStore{env: m.Env(), minDays: class.minDays, prepare: class.prepare, why: class.why,
				target: []string{"--bucket", bucket, "--region", "us-east-1", "--storage-class", class.class},
				has: func(id string) bool {
					_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("grsync/" + id)})
					return err == nil
				},
				read: []string{"--tier", "Bulk", "--wait", "--poll", "200ms"}})
		})
	}
}

// vaultHas reports whether the emulator's vault holds archive id, by
// asking for a retrieval of it (which a missing archive refuses).
func vaultHas(t *testing.T, srv *glacieremu.Server, vault, id string) bool {
	t.Helper()
	body := strings.NewReader(`{"Type":"archive-retrieval","ArchiveId":"` + id + `","Tier":"Expedited"}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/-/vaults/"+vault+"/jobs", body)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/glacier/aws4_request")
	req.Header.Set("x-amz-glacier-version", "2012-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusAccepted
}

// Kill -9 at seeded random moments during prune (deleting, and
// repacking), each time after more syncs and a forget, until 20 prunes
// (GRSYNC_CRASH_KILLS) were killed before they finished: at every kill, no
// version forget kept points at an object the store no longer holds, and
// no object marked deleted is still in the store. Then one complete prune
// finishes: verify is clean and everything restores identically.
func TestPruneKill9(t *testing.T) {
	t.Parallel()
	rng := crashRand(t, 0x5851f42d4c957f2d)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	st := filepath.Join(dir, "store")
	key := newKey(t, dir)
	mtime := time.Unix(1700000000, 0)
	rewrite := func(i int) {
		mtime = mtime.Add(time.Second)
		size := 1 + rng.IntN(20000)
		if i == 0 {
			size = 2<<20 + rng.IntN(1<<20) // chunked
		}
		writeFile(t, filepath.Join(src, "d"+strconv.Itoa(i%5), "f"+strconv.Itoa(i)+".bin"), randomBytes(t, size), mtime)
	}
	for i := 0; i < 300; i++ {
		rewrite(i)
	}
	db := filepath.Join(dir, "glacier.db")
	base := []string{"--local-store", st, "--encryption-key-file", key, "--quiet"}
	midDeletion := 0 // kills that left condemned objects: between condemning and marking
	check := func(when string) {
		t.Helper()
		c, err := sql.Open("sqlite", db)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var n int
		if err := c.QueryRow(`SELECT count(*) FROM objects WHERE condemned_at IS NOT NULL AND deleted_at IS NULL`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			midDeletion++
		}
		rows, err := c.Query(`SELECT DISTINCT o.archive_id, o.deleted_at IS NOT NULL, o.condemned_at IS NOT NULL FROM objects o
			LEFT JOIN blobs b ON b.object_id = o.id LEFT JOIN version_pieces p ON p.blob_id = b.id
			LEFT JOIN sync_history h ON h.id = p.version_id AND h.forgotten_at IS NULL
			WHERE h.id IS NOT NULL OR o.deleted_at IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var deleted, condemned bool
			if err := rows.Scan(&id, &deleted, &condemned); err != nil {
				t.Fatal(err)
			}
			_, serr := os.Stat(filepath.Join(st, "archives", id))
			switch {
			case deleted && serr == nil:
				t.Fatalf("%s: object %s is marked deleted but still in the store", when, id)
			case !deleted && (condemned || serr != nil):
				t.Fatalf("%s: a kept version points at object %s, condemned %v, in the store: %v", when, id, condemned, serr)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Prunes are started until kills of them were killed before they
	// finished (a run can finish before its kill moment); more than
	// maxAttempts attempts fail the test rather than count short.
	kills, killed := crashKills(), 0
	maxAttempts := 3 * kills
	took := 300 * time.Millisecond // how long a prune took, the last time one finished
	k := 0
	for ; killed < kills; k++ {
		if k == maxAttempts {
			t.Fatalf("only %d of %d prunes were killed before they finished; want %d kills", killed, k, kills)
		}
		for j := 0; j < 120; j++ {
			rewrite(rng.IntN(300))
		}
		pack := "64M"
		if k%2 == 0 {
			pack = "0" // one object per file: many whole objects to delete
		}
		mustRun(t, dir, 0, append(append([]string{}, base...), "--pack-size", pack, src)...)
		mustRun(t, dir, 0, "forget", "--keep-last", "2")
		args := append([]string{"prune", "--encryption-key-file", key, "--quiet"}, "--local-store", st)
		if k%3 != 0 {
			args = append(args, "--repack")
		}
		// The kill comes at a random moment from a tenth into a run as long
		// as the last one that finished (the machine's speed varies; the
		// first tenth is mostly starting up) to its end.
		cmd := exec.Command(grsyncBin, args...)
		cmd.Dir, cmd.Env = dir, cleanEnv()
		if d, finished := runOrKill(t, cmd, time.Duration((0.1+0.9*rng.Float64())*float64(took))); finished {
			took = d
		} else {
			killed++
			took = took * 5 / 4 // runs are longer than thought, until one finishes
		}
		check(fmt.Sprintf("after prune %d (%d killed so far)", k, killed))
	}
	t.Logf("%d of %d prunes were killed before they finished, %d of them between condemning objects and marking them deleted", killed, k, midDeletion)
	// What the kills left (condemned objects, a new pack a killed repack
	// stored but did not record): a complete prune finishes it.
	mustRun(t, dir, 0, "prune", "--repack", "--encryption-key-file", key)
	check("after the complete run")
	r := mustRun(t, dir, 0, "verify")
	wantSummary(t, r, "0 missing, 0 unknown, 0 with another size, 0 stored by interrupted runs")
	r = mustRun(t, dir, 0, "prune", "--repack", "--dry-run", "--encryption-key-file", key)
	wantSummary(t, r, "delete         0 objects")
	mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", "out")
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
}

// A repack, then the catalogue is lost: rebuilt from the store, whose
// older version records name the packs prune deleted, every file still
// restores (its pieces are found in the new packs by their content).
func TestPruneRepackThenRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	for i := 0; i < 12; i++ {
		writeFile(t, filepath.Join(src, "f"+strconv.Itoa(i)), randomBytes(t, 20000+i), time.Unix(1700000000, 0))
	}
	writeFile(t, filepath.Join(src, "big"), randomBytes(t, 3<<20), time.Unix(1700000000, 0))
	target := []string{"--local-store", "st", "--encryption-key-file", key}
	mustRun(t, dir, 0, append(target, "--jobs", "1", src)...)
	for i := 0; i < 12; i += 2 {
		writeFile(t, filepath.Join(src, "f"+strconv.Itoa(i)), randomBytes(t, 30000), time.Unix(1700000100, 0))
	}
	mustRun(t, dir, 0, append(target, "--jobs", "1", src)...)
	mustRun(t, dir, 0, "forget", "--keep-last", "1")
	r := mustRun(t, dir, 0, append([]string{"prune", "--repack"}, target...)...)
	wantSummary(t, r, "repacked 1 pack into 1 new pack", "deleted 1 object")
	mustRun(t, dir, 0, append([]string{"inventory", "--rebuild", "--db", "fresh.db"}, target...)...)
	mustRun(t, dir, 0, "restore", "--db", "fresh.db", "--encryption-key-file", key, "--output", "out")
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
}

// Every plan carries a price, --max-cost refuses one above it before
// anything is requested or written, --prices replaces figures, and prune
// and cost speak JSON.
func TestPriceOnEveryPlan(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "v")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for i := 0; i < 5; i++ {
		writeFile(t, filepath.Join(src, "f"+strconv.Itoa(i)), randomBytes(t, 200000), time.Unix(1700000000, 0))
	}
	key := newKey(t, dir)
	vault := []string{"--vault", "v", "--region", "us-east-1", "--encryption-key-file", key}

	// sync --dry-run: PUTs, bytes, first month, the 90-day commitment.
	r := mustRunEnv(t, dir, env, 0, append(vault, "--dry-run", src)...)
	wantSummary(t, r, "would upload 5 files", "estimate: 1 object into VAULT", "upload requests", "stored data (vault) for 1 month",
		"VAULT bills at least 90 days of storage", "actual bills may differ")
	// sync --max-cost below it: refused, nothing uploaded, no catalogue made.
	r = mustRunEnv(t, dir, env, 2, append(vault, "--max-cost", "0.000001", src)...)
	wantStderr(t, r, "above --max-cost $0.000001", "nothing was requested or changed")
	if n := srv.Stats()[glacieremu.OpUploadArchive].Requests + srv.Stats()[glacieremu.OpInitiateMultipartUpload].Requests; n != 0 {
		t.Fatalf("a refused sync sent %d uploads", n)
	}
	mustNotExist(t, filepath.Join(dir, "glacier.db"))
	mustRunEnv(t, dir, env, 0, append(vault, "--max-cost", "1", src)...)

	// restore: the plan's price before requesting; --max-cost refuses it.
	r = mustRunEnv(t, dir, env, 2, append([]string{"restore", "--output", "out", "--max-cost", "0.000001"}, vault...)...)
	wantSummary(t, r, "retrieval jobs (Standard, vault)", "data transfer out to the internet", "actual bills may differ")
	wantStderr(t, r, "--max-cost")
	if n := srv.Stats()[glacieremu.OpInitiateJob].Requests; n != 0 {
		t.Fatalf("a refused restore requested %d jobs", n)
	}
	mustNotExist(t, filepath.Join(dir, "out"))

	// --prices: the file's figures and name in every estimate.
	prices := filepath.Join(dir, "prices.json")
	writeFile(t, prices, []byte(`{"version": 1, "region": "eu-west-1", "classes": {"VAULT": {"storage_per_gb_month": 1}}}`), time.Time{})
	r = mustRunEnv(t, dir, env, 0, "cost", "--prices", prices)
	wantSummary(t, r, "VAULT: 3 objects", // a pack, the records, the catalogue snapshot
		"× $1.00 per GB-month", "(eu-west-1, with "+prices+")")

	// JSON: cost and prune.
	r = mustRunEnv(t, dir, env, 0, "cost", "--json")
	lines := jsonLines(t, "grsync", r.stdout)
	if lines[0]["message_type"] != "cost_class" || lines[0]["class"] != "VAULT" || lines[len(lines)-1]["message_type"] != "summary" ||
		lines[len(lines)-1]["command"] != "cost" || lines[len(lines)-1]["monthly_usd"] == nil {
		t.Errorf("cost --json: %s", r.stdout)
	}
	writeFile(t, filepath.Join(src, "f0"), randomBytes(t, 1000), time.Unix(1700000100, 0))
	mustRunEnv(t, dir, env, 0, append(vault, src)...)
	mustRunEnv(t, dir, env, 0, "forget", "--keep-last", "1")
	r = mustRunEnv(t, dir, env, 0, "prune", "--json", "--repack", "--encryption-key-file", key)
	lines = jsonLines(t, "grsync", r.stdout)
	var plan, sum map[string]any
	for _, l := range lines {
		switch l["message_type"] {
		case "prune_plan":
			plan = l
		case "summary":
			sum = l
		}
	}
	if plan == nil || sum == nil || lines[len(lines)-1]["message_type"] != "summary" {
		t.Fatalf("prune --json needs a prune_plan and a final summary: %s", r.stdout)
	}
	if plan["partial_packs"] != float64(1) || plan["estimate"] == nil || plan["disclaimer"] == nil || len(plan["repack"].([]any)) != 1 {
		t.Errorf("prune_plan: %v", plan)
	}
	if rp := plan["repack"].([]any)[0].(map[string]any); rp["repack"] != false || !strings.Contains(rp["why"].(string), "inside its minimum storage duration") {
		t.Errorf("a pack a day old is not repacked: %v", rp)
	}
	if sum["command"] != "prune" || sum["deleted"] != float64(0) || sum["denied"] == nil {
		t.Errorf("prune summary: %v", sum)
	}
}

// ls --versions lists every row of a file with its state: live (current
// marked), deleted, forgotten (content deleted once pruned), and
// changed-while-read.
func TestLsVersionsStates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	a := filepath.Join(src, "a.txt")
	run := func(d float64, args ...string) result {
		t.Helper()
		r := grsync(t, dir, []string{"GRSYNC_FAKE_NOW=" + pruneDay(d).Format(time.RFC3339)}, args...)
		if r.code != 0 {
			t.Fatalf("grsync %v:\n%s", args, r)
		}
		return r
	}
	for d, content := range []string{"one", "two, longer", ""} {
		if content == "" {
			os.Remove(a)
			writeFile(t, filepath.Join(src, "keep"), []byte("k"), pruneDay(0))
		} else {
			writeFile(t, a, []byte(content), pruneDay(float64(d)))
		}
		run(float64(d), "--local-store", "st", src)
	}
	writeFile(t, a, []byte("back again"), pruneDay(3))
	run(3, "--local-store", "st", src)
	run(4, "forget", "--keep-last", "2")
	c, err := sql.Open("sqlite", filepath.Join(dir, "glacier.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(`UPDATE sync_history SET flags = 1 WHERE id = (SELECT max(id) FROM sync_history WHERE path = ?)`, a); err != nil {
		t.Fatal(err)
	}
	c.Close()
	run(4, "prune")
	r := run(5, "ls", "--versions", a)
	want := []string{
		pruneDay(0).Local().Format(time.DateTime) + "         3 B  forgotten (content deleted)",
		pruneDay(1).Local().Format(time.DateTime) + "        11 B  forgotten (content deleted)",
		pruneDay(2).Local().Format(time.DateTime) + "           -  deleted",
		pruneDay(3).Local().Format(time.DateTime) + "        10 B  live (current, changed-while-read)",
		"4 versions of 1 file in local:",
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("ls --versions should say %q:\n%s", w, r)
		}
	}
	lines := jsonLines(t, "ls --versions --json", run(5, "ls", "--versions", "--json", a).stdout)
	if len(lines) != 5 || lines[0]["state"] != "forgotten" || lines[0]["content_stored"] != false || lines[2]["state"] != "deleted" ||
		lines[3]["state"] != "live" || lines[3]["current"] != true || lines[3]["changed_while_read"] != true || lines[4]["message_type"] != "summary" {
		t.Errorf("ls --versions --json: %v", lines)
	}
}
