package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/testutil/moto"
)

// syncJSON runs a sync with --json and returns its summary.
func syncJSON(t *testing.T, dir string, env []string, args ...string) map[string]any {
	t.Helper()
	r := mustRunEnv(t, dir, env, 0, append([]string{"--json"}, args...)...)
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if m["message_type"] == "summary" {
			return m
		}
	}
	t.Fatalf("no summary:\n%s", r)
	return nil
}

// stringList reads a JSON array of strings.
func stringList(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// Keep the last 3 snapshots: seven syncs a month apart each take one (the
// newest is 30 days old), and from the fourth on each deletes the oldest,
// so the store holds exactly the newest three; --keep-snapshots 2 then
// leaves two. verify finds the store and the catalogue agree, and recover
// uses the newest.
func TestStoreKeepsTheLastThreeSnapshots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	target := []string{"--local-store", "st", "--encryption-key-file", key}
	inStore := func(id string) bool {
		_, err1 := os.Stat(filepath.Join(dir, "st", "archives", id))
		_, err2 := os.Stat(filepath.Join(dir, "st", "archives", id+".json"))
		return err1 == nil && err2 == nil
	}
	var taken, deleted []string
	sync := func(month int, extra ...string) {
		t.Helper()
		writeFile(t, filepath.Join(src, "month.txt"), []byte("month "+strconv.Itoa(month)), time.Unix(1700000000+int64(month), 0))
		sum := syncJSON(t, dir, atDay(float64(31*month)), append(append(append([]string{}, target...), extra...), src)...)
		snap := sum["snapshot"].(map[string]any)
		if snap["taken"] != true {
			t.Fatalf("month %d: a snapshot is due (none yet, or the newest is a month old): %v", month, snap)
		}
		taken = append(taken, snap["object"].(string))
		deleted = append(deleted, stringList(snap["deleted"])...)
		if len(snap["held"].([]any)) != 0 {
			t.Errorf("month %d: nothing holds a snapshot on a local store: %v", month, snap["held"])
		}
	}
	for month := range 7 {
		sync(month)
		keep := min(len(taken), 3)
		if !slices.Equal(deleted, taken[:len(taken)-keep]) {
			t.Fatalf("after month %d: deleted %v, want the oldest of %v past 3", month, deleted, taken)
		}
		for i, id := range taken {
			if want := i >= len(taken)-keep; inStore(id) != want {
				t.Errorf("after month %d: snapshot %d (%s) in the store: %v, want %v", month, i, id, !want, want)
			}
		}
	}
	if got := snapshotIDs(t, filepath.Join(dir, "glacier.db")); !slices.Equal(got, taken[4:]) {
		t.Errorf("the catalogue's snapshots: %v, want the newest three %v", got, taken[4:])
	}
	sync(7, "--keep-snapshots", "2")
	for i, id := range taken {
		if want := i >= 6; inStore(id) != want {
			t.Errorf("with --keep-snapshots 2: snapshot %d (%s) in the store: %v, want %v", i, id, !want, want)
		}
	}
	if r := mustRunEnv(t, dir, atDay(31*7), 0, "verify"); !strings.Contains(r.stdout, "0 missing, 0 unknown") {
		t.Errorf("the store should hold exactly the catalogue's objects:\n%s", r)
	}
	_, plans := recoverJSON(t, dir, nil, 0, append([]string{"--db", "recovered.db"}, target...)...)
	if len(plans) != 1 || plans[0]["snapshot"] != taken[7] {
		t.Errorf("recover should use the newest snapshot %s: %v", taken[7], plans)
	}
}

// bucketState is every key of the bucket (refs included) with its ETag.
func bucketState(t *testing.T, c *s3.Client, bucket string) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out[*o.Key] = *o.ETag
		}
	}
	return out
}

// bucketClasses lists the bucket's objects but the refs: key (without the
// "grsync/" prefix) → storage class and size.
func bucketClasses(t *testing.T, c *s3.Client, bucket string) (class map[string]string, size map[string]int64) {
	t.Helper()
	class, size = map[string]string{}, map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if strings.HasPrefix(*o.Key, "grsync-refs/") {
				continue
			}
			id := strings.TrimPrefix(*o.Key, "grsync/")
			class[id], size[id] = string(o.StorageClass), *o.Size
		}
	}
	return class, size
}

// --catalogue-class GLACIER_IR (sync and catalogue push) on S3: the
// snapshots and version records are stored in GLACIER_IR, the packs in
// DEEP_ARCHIVE, and recover reads them directly: its plan names the
// snapshot, the records and their bytes, and an immediate wait; the
// recovered catalogue is the lost one. A class that needs a restore, or
// is not one, is refused with exit 2 before anything is stored.
func TestCatalogueClassGlacierIRMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	s3c := s3Client(m)
	createBucket(t, s3c, "cat-ir")
	createBucket(t, s3c, "untouched")
	c := recoverCase{env: m.Env(), target: []string{"--bucket", "cat-ir", "--region", "us-east-1", "--storage-class", "DEEP_ARCHIVE"},
		cold: []string{"--tier", "Bulk", "--wait", "--poll", "1s"}, sync: []string{"--catalogue-class", "GLACIER_IR"}}
	dir := t.TempDir()
	src, key := history(t, dir, c)
	target := append(append([]string{}, c.target...), "--encryption-key-file", key)
	db := filepath.Join(dir, "glacier.db")

	// A class that is not readable without a restore, or not a class:
	// refused, naming the choices, before anything is stored; in a bucket
	// grsync never used, nothing is stored at all.
	before := bucketState(t, s3c, "cat-ir")
	for _, bad := range []string{"STANDARD_IA", "DEEP_ARCHIVE", "GLACIER", "ONEZONE_IA", "INTELLIGENT_TIERING", "hot", ""} {
		for _, args := range [][]string{
			append(append([]string{"sync", "--catalogue-class", bad}, target...), src),
			append([]string{"catalogue", "push", "--catalogue-class", bad}, target...),
			{"sync", "--catalogue-class", bad, "--db", filepath.Join(dir, "new.db"), "--bucket", "untouched", "--region", "us-east-1", "--encryption-key-file", key, src},
		} {
			r := grsync(t, dir, c.env, args...)
			if r.code != 2 || !strings.Contains(r.stderr, "invalid --catalogue-class") || !strings.Contains(r.stderr, "STANDARD or GLACIER_IR") {
				t.Errorf("grsync %s: want exit 2 naming STANDARD and GLACIER_IR:\n%s", strings.Join(args, " "), r)
			}
		}
	}
	if after := bucketState(t, s3c, "cat-ir"); !maps.Equal(after, before) {
		t.Errorf("a refused --catalogue-class changed the bucket:\nbefore %v\nafter  %v", before, after)
	}
	if got := bucketState(t, s3c, "untouched"); len(got) != 0 {
		t.Errorf("a refused --catalogue-class stored something in a new bucket: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
		t.Errorf("a refused --catalogue-class left a new catalogue")
	}

	// catalogue push stores the day-3 changes' snapshot in GLACIER_IR; a
	// later sync adds a records object after it.
	r := mustRunEnv(t, dir, append(append([]string{}, c.env...), atDay(3.2)...), 0, append([]string{"catalogue", "push", "--catalogue-class", "glacier_ir"}, target...)...)
	if !strings.Contains(r.stdout, "catalogue snapshot stored") {
		t.Fatalf("push should store a snapshot of the day-3 changes:\n%s", r)
	}
	writeFile(t, filepath.Join(src, "new.txt"), []byte("new, changed again on day three"), time.Unix(1700000000, 0).Add(4*time.Hour))
	mustRunEnv(t, dir, append(append([]string{}, c.env...), atDay(3.5)...), 0, append(append(append([]string{}, target...), c.sync...), src)...)

	// Every object grsync stored for the catalogue is in GLACIER_IR, as the
	// catalogue records it; the packs are in DEEP_ARCHIVE.
	snaps, recs := snapshotIDs(t, db), objectIDs(t, db, "records")
	if len(snaps) < 2 || len(recs) < 4 {
		t.Fatalf("want snapshots and records objects: %v %v", snaps, recs)
	}
	class, size := bucketClasses(t, s3c, "cat-ir")
	meta := map[string]bool{}
	for _, id := range append(append([]string{}, snaps...), recs...) {
		meta[id] = true
		if class[id] != "GLACIER_IR" {
			t.Errorf("catalogue object %s is in %q, want GLACIER_IR", id, class[id])
		}
	}
	for id, cl := range class {
		if !meta[id] && cl != "DEEP_ARCHIVE" {
			t.Errorf("pack %s is in %q, want DEEP_ARCHIVE", id, cl)
		}
	}
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var wrong int
	err = d.QueryRow("SELECT COUNT(*) FROM objects WHERE kind IN ('snapshot', 'records') AND storage_class <> 'GLACIER_IR'").Scan(&wrong)
	d.Close()
	if err != nil || wrong != 0 {
		t.Errorf("the catalogue records %d catalogue objects in another class than GLACIER_IR (%v)", wrong, err)
	}

	// Recover: the pushed snapshot and the records object after it, read
	// at once (no tier, no wait), their bytes announced.
	lost := capture(t, dir, db, c, key, "lost")
	os.Remove(db)
	rec := filepath.Join(dir, "recovered.db")
	sum, plans := recoverJSON(t, dir, c.env, 0, append([]string{"--db", rec}, target...)...)
	newest, last := snaps[len(snaps)-1], recs[len(recs)-1]
	if len(plans) != 1 {
		t.Fatalf("one plan: %v", plans)
	}
	p := plans[0]
	if p["snapshot"] != newest || p["records"] != 1.0 || p["objects"] != 2.0 || p["bytes"] != float64(size[newest]+size[last]) ||
		p["expected_wait"] != "immediate" || p["tier"] != nil || p["rebuild"] != false || p["inventory"] != false {
		t.Errorf("the plan should be the pushed snapshot %s and the records %s after it, %d bytes, read at once: %v",
			newest, last, size[newest]+size[last], p)
	}
	if sum["snapshot"] != newest || sum["records"] != 1.0 || sum["added"] != 1.0 || sum["rebuilt"] != false {
		t.Errorf("recover should add the one version stored after the snapshot: %v", sum)
	}
	checkRecovered(t, dir, rec, src, key, c, lost)
}
