package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/testutil/moto"
)

// createLockBucket creates a bucket with Object Lock enabled (versioning
// on), as aws s3api create-bucket --object-lock-enabled-for-bucket does.
func createLockBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

// objectLocks returns the Object Lock retain-until date of every archive
// object (PREFIX grsync/) in the bucket, by archive id, failing the test
// for one without the mode.
func objectLocks(t *testing.T, c *s3.Client, bucket, mode string) map[string]time.Time {
	t.Helper()
	ctx := context.Background()
	out := map[string]time.Time{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("grsync/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			if string(h.ObjectLockMode) != mode || h.ObjectLockRetainUntilDate == nil {
				t.Errorf("object %s has lock %q until %v, want %s", aws.ToString(o.Key), h.ObjectLockMode, h.ObjectLockRetainUntilDate, mode)
				continue
			}
			out[strings.TrimPrefix(aws.ToString(o.Key), "grsync/")] = h.ObjectLockRetainUntilDate.UTC()
		}
	}
	return out
}

// refLocks reads the lock of every ref object (PREFIX grsync-refs/NAME)
// of a bucket: each must be GOVERNANCE-locked.
func refLocks(t *testing.T, c *s3.Client, bucket string) map[string]time.Time {
	t.Helper()
	ctx := context.Background()
	out := map[string]time.Time{}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("grsync-refs/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		if h.ObjectLockMode != "GOVERNANCE" || h.ObjectLockRetainUntilDate == nil {
			t.Errorf("ref %s has lock %q until %v, want GOVERNANCE", aws.ToString(o.Key), h.ObjectLockMode, h.ObjectLockRetainUntilDate)
			continue
		}
		out[strings.TrimPrefix(aws.ToString(o.Key), "grsync-refs/")] = h.ObjectLockRetainUntilDate.UTC()
	}
	return out
}

// catalogObjects reads the catalogue's live objects of its only target.
func catalogObjects(t *testing.T, db string) (catalog.Target, []catalog.Object) {
	t.Helper()
	c, err := catalog.Open(db, catalog.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts, err := c.Targets()
	if err != nil || len(ts) != 1 {
		t.Fatalf("targets: %v %v", ts, err)
	}
	objs, err := c.Objects(ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return ts[0], objs
}

// Issue 15 on moto: a bucket without Object Lock is refused before
// anything is uploaded or recorded; a first sync with --object-lock writes
// every object (packs, version records) locked for at least its class's
// minimum, records the locks and the target's setting; later commands
// use it without the flags and refuse another; a sync on a clock near the
// end of the locks extends them (never earlier); verify reports locks
// that end soon and those that ended.
func TestMotoObjectLock(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "plain")
	createLockBucket(t, c, "locked")
	env := m.Env()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "small.txt"), randomBytes(t, 3000), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "sub", "other.txt"), randomBytes(t, 70000), time.Unix(1700000001, 0))
	writeFile(t, filepath.Join(src, "big.bin"), randomBytes(t, 9<<20), time.Unix(1700000002, 0)) // chunks: a multipart pack
	key := newKey(t, dir)
	db := filepath.Join(dir, "glacier.db")
	base := []string{"--db", db, "--region", "us-east-1", "--encryption-key-file", key}

	// No Object Lock on the bucket: refused, nothing stored or recorded.
	r := grsync(t, dir, env, append(base, "--bucket", "plain", "--object-lock", "governance", src)...)
	if r.code != 2 || !strings.Contains(r.stderr, `bucket "plain" does not have Object Lock enabled`) || !strings.Contains(r.stderr, "put-object-lock-configuration") {
		t.Fatalf("a bucket without Object Lock must be refused with exit 2 and the fix:\n%s", r)
	}
	if out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("plain")}); err != nil || len(out.Contents) != 0 {
		t.Fatalf("the refused sync stored %d objects (%v)", len(out.Contents), err)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("the refused sync created a catalogue")
	}

	target := slices.Clip(append(base, "--bucket", "locked"))
	start := time.Now().UTC()
	r = mustRunEnv(t, dir, env, 0, append(target, "--object-lock", "governance", src)...)
	if !strings.Contains(r.stdout, "uploaded      3 files") || !strings.Contains(r.stdout, "object lock governance: no lock of what the kept versions need ends within 30 days") {
		t.Fatalf("first locked sync:\n%s", r)
	}
	locks := objectLocks(t, c, "locked", "GOVERNANCE")
	refs := refLocks(t, c, "locked")
	if !refs["marker"].After(start.Add(209*24*time.Hour)) || len(refs) < 2 {
		t.Errorf("the store marker and the catalogue pointers must be locked for 210 days: %v", refs)
	}
	tg, objs := catalogObjects(t, db)
	if tg.LockMode != "GOVERNANCE" || tg.LockDays != 210 {
		t.Errorf("the target records lock %q for %d days, want GOVERNANCE for 210 (DEEP_ARCHIVE's 180 + 30)", tg.LockMode, tg.LockDays)
	}
	kinds := map[catalog.ObjectKind]int{}
	for _, o := range objs {
		kinds[o.Kind]++
		until, ok := locks[o.ArchiveID]
		if !ok {
			t.Errorf("object %s is in the catalogue, not locked in the bucket", o.ArchiveID)
			continue
		}
		// At least the class's minimum storage duration from the upload.
		if min := start.Add(180 * 24 * time.Hour); until.Before(min) {
			t.Errorf("%s %s is locked until %v, before %v", o.Kind, o.ArchiveID, until, min)
		}
		if o.LockMode != "GOVERNANCE" || !o.LockUntil.Equal(until) {
			t.Errorf("%s %s recorded with lock %s until %v; the bucket says %v", o.Kind, o.ArchiveID, o.LockMode, o.LockUntil, until)
		}
	}
	if kinds[catalog.ObjectPack] < 2 || kinds[catalog.ObjectRecords] != 1 || kinds[catalog.ObjectSnapshot] != 1 || len(locks) != len(objs) {
		t.Errorf("objects %v in the catalogue, %d locked in the bucket: want packs, one records object and one snapshot, all locked", kinds, len(locks))
	}

	// Later commands know the lock; another is refused before anything runs.
	for _, args := range [][]string{
		append(target, "--object-lock", "compliance", src),
		append(append([]string{"restore", "--output", "never"}, target...), "--lock-days", "400"),
	} {
		r := grsync(t, dir, env, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "a target's lock cannot change") {
			t.Errorf("grsync %s: want exit 2 refusing another lock:\n%s", strings.Join(args, " "), r)
		}
	}
	pol := mustRunEnv(t, dir, env, 0, "iam-policy", "--db", db, "--append-only")
	if !strings.Contains(pol.stdout, `"s3:PutObjectRetention"`) || !strings.Contains(pol.stdout, `"s3:object-lock-remaining-retention-days": "211"`) {
		t.Errorf("iam-policy of the locked target, without flags, lacks what locks need:\n%s", pol.stdout)
	}

	// 195 days later, a sync without the flags extends every lock to now +
	// 210 days, and records it; the new file's pack is locked too.
	fake := start.Add(195 * 24 * time.Hour).Truncate(time.Second)
	writeFile(t, filepath.Join(src, "new.txt"), randomBytes(t, 5000), time.Unix(1700000003, 0))
	r = mustRunEnv(t, dir, append(env, "GRSYNC_FAKE_NOW="+fake.Format(time.RFC3339)), 0, append(target, "--json", src)...)
	sum := lastSummary(t, r.stdout)
	var lk struct {
		Mode     string    `json:"mode"`
		Due      int       `json:"due"`
		Extended int       `json:"extended"`
		Until    time.Time `json:"until"`
		Cost     string    `json:"cost_usd"`
		Failed   int       `json:"failed"`
	}
	if err := json.Unmarshal(sum["locks"], &lk); err != nil {
		t.Fatalf("summary without locks: %v\n%s", err, r.stdout)
	}
	// Every object: the first sync's, and the new pack, records object and
	// catalogue snapshot (the first is 195 days old), which the store
	// locked on its own (real) clock, so that their locks too end within
	// 30 days of the test's; but the first snapshot, which the new one
	// replaces: older snapshots' locks are left to run out.
	_, objs2 := catalogObjects(t, db)
	newestSnap := int64(0)
	for _, o := range objs2 {
		if o.Kind == catalog.ObjectSnapshot {
			newestSnap = max(newestSnap, o.ID)
		}
	}
	needed := 0
	for _, o := range objs2 {
		if o.Kind != catalog.ObjectSnapshot || o.ID == newestSnap {
			needed++
		}
	}
	if lk.Mode != "GOVERNANCE" || lk.Due != needed || lk.Extended != needed || lk.Failed != 0 || lk.Cost == "" || lk.Cost == "0" {
		t.Errorf("locks of the second sync: %+v, want %d extended at a price", lk, needed)
	}
	wantUntil := fake.Add(210 * 24 * time.Hour)
	after := objectLocks(t, c, "locked", "GOVERNANCE")
	_, objs2 = catalogObjects(t, db)
	for _, o := range objs2 {
		until := after[o.ArchiveID]
		if o.Kind == catalog.ObjectSnapshot && o.ID != newestSnap {
			if !until.Equal(locks[o.ArchiveID]) {
				t.Errorf("the replaced snapshot %s: lock %v, was %v; it must be left to run out", o.ArchiveID, until, locks[o.ArchiveID])
			}
			continue
		}
		if until.Before(wantUntil) {
			t.Errorf("%s %s locked until %v, want extended to %v", o.Kind, o.ArchiveID, until, wantUntil)
		}
		if old, ok := locks[o.ArchiveID]; ok {
			if until.Before(old) {
				t.Errorf("%s %s: lock moved earlier, %v -> %v", o.Kind, o.ArchiveID, old, until)
			}
		}
		if !o.LockUntil.Equal(until) {
			t.Errorf("%s %s recorded until %v; the bucket says %v", o.Kind, o.ArchiveID, o.LockUntil, until)
		}
	}
	if len(objs2) != len(objs)+3 {
		t.Errorf("%d objects after the second sync, want %d + a pack, a records object and a snapshot", len(objs2), len(objs))
	}

	// verify on a clock near the new end warns (exit 0), and once the
	// locks have ended it fails (exit 1).
	near := wantUntil.Add(-10 * 24 * time.Hour)
	r = mustRunEnv(t, dir, append(env, "GRSYNC_FAKE_NOW="+near.Format(time.RFC3339)), 0, append([]string{"verify"}, target...)...)
	if !strings.Contains(r.stdout, "locks of needed objects end within 30 days (0 ended)") || !strings.Contains(r.stdout, "lock ends "+wantUntil.Format(time.DateOnly)) {
		t.Errorf("verify near the end of the locks:\n%s", r)
	}
	ended := wantUntil.Add(24 * time.Hour)
	r = grsync(t, dir, append(env, "GRSYNC_FAKE_NOW="+ended.Format(time.RFC3339)), append([]string{"verify", "--json", "--lock-warn-days", "5"}, target...)...)
	sum = lastSummary(t, r.stdout)
	var vl struct {
		WarnDays int `json:"lock_warn_days"`
		Ending   []struct {
			ID    string `json:"archive"`
			Ended bool   `json:"ended"`
		} `json:"ending"`
		Unlocked []string `json:"unlocked"`
	}
	if err := json.Unmarshal(sum["locks"], &vl); err != nil || r.code != 1 || vl.WarnDays != 5 || len(vl.Ending) < len(objs) || len(vl.Unlocked) != 0 {
		t.Errorf("verify after the locks ended: %+v %v\n%s", vl, err, r)
	}
	for _, e := range vl.Ending {
		if _, old := locks[e.ID]; old && !e.Ended {
			t.Errorf("object %s: lock not reported ended", e.ID)
		}
	}
	// lock extend --dry-run prices what that clock would extend, sending nothing.
	r = mustRunEnv(t, dir, append(env, "GRSYNC_FAKE_NOW="+ended.Format(time.RFC3339)), 0, append([]string{"lock", "extend", "--dry-run"}, target...)...)
	if !strings.Contains(r.stdout, "locks ending within 30 days, to extend to") || !strings.Contains(r.stdout, "nothing was sent") {
		t.Errorf("lock extend --dry-run:\n%s", r)
	}
	if same := objectLocks(t, c, "locked", "GOVERNANCE"); len(same) != len(after) {
		t.Errorf("dry run changed the bucket")
	} else {
		for id, u := range same {
			if !u.Equal(after[id]) {
				t.Errorf("dry run moved the lock of %s: %v -> %v", id, after[id], u)
			}
		}
	}
	// lock extend, as cron runs it 10 days before the locks end: every
	// object a kept version needs is locked for another 210 days from then.
	r = mustRunEnv(t, dir, append(env, "GRSYNC_FAKE_NOW="+near.Format(time.RFC3339)), 0, append([]string{"lock", "extend"}, target...)...)
	if !strings.Contains(r.stdout, ": extended ") || strings.Contains(r.stdout, "not extended") {
		t.Errorf("lock extend:\n%s", r)
	}
	extended := objectLocks(t, c, "locked", "GOVERNANCE")
	_, neededObjs := catalogObjects(t, db)
	snapshots := 0 // only the newest is needed: older ones run out
	for _, o := range neededObjs {
		u := extended[o.ArchiveID]
		if o.Kind == catalog.ObjectSnapshot {
			if !u.Before(near.Add(210 * 24 * time.Hour)) {
				snapshots++
			}
			continue
		}
		if u.Before(near.Add(210 * 24 * time.Hour)) {
			t.Errorf("object %s (%v): lock until %v after lock extend, want %v or later", o.ArchiveID, o.Kind, u, near.Add(210*24*time.Hour))
		}
	}
	if snapshots != 1 {
		t.Errorf("lock extend extended %d catalogue snapshots, want the newest only", snapshots)
	}
	if _, dbObjs := catalogObjects(t, db); len(dbObjs) == 0 || !dbObjs[0].LockUntil.Equal(extended[dbObjs[0].ArchiveID]) {
		t.Errorf("the catalogue does not record the extended date: %+v vs %v", dbObjs, extended)
	}

	// big.bin deleted and forgotten: its pack is unused, but locked. Prune,
	// even with --allow-early-delete, lists it with the lock's date and
	// deletes nothing.
	later := append(env, "GRSYNC_FAKE_NOW="+near.Add(24*time.Hour).Format(time.RFC3339))
	if err := os.Remove(filepath.Join(src, "big.bin")); err != nil {
		t.Fatal(err)
	}
	mustRunEnv(t, dir, later, 0, append(slices.Clone(target), src)...)
	r = mustRunEnv(t, dir, later, 0, "forget", "--db", db, "--keep-last", "1")
	wantSummary(t, r, "forgot 3 versions of 6 paths") // big.bin among them
	before := objectLocks(t, c, "locked", "GOVERNANCE")
	for _, args := range [][]string{{"prune"}, {"prune", "--allow-early-delete"}} {
		r = mustRunEnv(t, dir, later, 0, append(args, target...)...)
		wantSummary(t, r, "locked: cannot be deleted before then", "S3 Object Lock (GOVERNANCE mode) retains it until", "wait           1 object (9.0 MiB)", "deleted 0 objects")
		if after := objectLocks(t, c, "locked", "GOVERNANCE"); len(after) != len(before) {
			t.Errorf("%v deleted a locked object: %d objects before, %d after", args, len(before), len(after))
		}
	}
}

// lastSummary parses the last JSON line of stdout (the summary).
func lastSummary(t *testing.T, stdout string) map[string]json.RawMessage {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last line is no JSON object: %v\n%s", err, stdout)
	}
	return m
}

// appendOnlyProxy forwards to moto and answers every DELETE as S3 does
// to credentials of an append-only policy: 403 AccessDenied.
func appendOnlyProxy(t *testing.T, motoURL string) (string, *atomic.Int32) {
	t.Helper()
	u, err := url.Parse(motoURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var denied atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && r.URL.Query().Get("uploadId") == "" {
			denied.Add(1)
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &denied
}

// A nightly sync with append-only credentials (every delete answered
// AccessDenied; aborting an upload is allowed, as the policy allows it)
// into a locked bucket completes: everything is stored, locked and
// recorded, nothing is recorded as deleted, and what it tried to delete
// (the records of multipart uploads) stays.
func TestMotoAppendOnlySync(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createLockBucket(t, c, "nightly")
	proxy, denied := appendOnlyProxy(t, m.URL)
	env := append(m.Env(), "AWS_ENDPOINT_URL="+proxy)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "big.bin"), randomBytes(t, 12<<20), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "small"), randomBytes(t, 100), time.Unix(1700000001, 0))
	key := newKey(t, dir)
	db := filepath.Join(dir, "glacier.db")
	target := []string{"--db", db, "--region", "us-east-1", "--encryption-key-file", key, "--bucket", "nightly"}
	r := mustRunEnv(t, dir, env, 0, append(target, "--object-lock", "compliance", src)...)
	if !strings.Contains(r.stdout, "uploaded      2 files") || strings.Contains(r.stdout, "not deleted") {
		t.Fatalf("append-only sync:\n%s", r)
	}
	if denied.Load() == 0 {
		t.Fatal("the sync tried no delete: the test does not exercise append-only credentials")
	}
	locks := objectLocks(t, c, "nightly", "COMPLIANCE")
	_, objs := catalogObjects(t, db)
	if len(objs) < 2 || len(objs) != len(locks) {
		t.Fatalf("%d objects recorded, %d locked in the bucket", len(objs), len(locks))
	}
	for _, o := range objs {
		if !o.Deleted.IsZero() {
			t.Errorf("object %s recorded as deleted", o.ArchiveID)
		}
		if _, ok := locks[o.ArchiveID]; !ok {
			t.Errorf("object %s recorded but not in the bucket", o.ArchiveID)
		}
	}
	// The next night: nothing to do, still exit 0.
	writeFile(t, filepath.Join(src, "small"), randomBytes(t, 200), time.Unix(1700000100, 0))
	r = mustRunEnv(t, dir, env, 0, append(target, src)...)
	if !strings.Contains(r.stdout, "uploaded      1 file") {
		t.Fatalf("second append-only sync:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, append([]string{"verify"}, target...)...)
}

// A lock on a local store or a vault is refused by the store itself, with
// what to do instead, before anything is created.
func TestObjectLockRefusedOffS3(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "f"), []byte("x"), time.Time{})
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--local-store", "store", "--object-lock", "governance", src}, "a local directory has no object lock"},
		{[]string{"--local-store", "store", "--lock-days", "30", src}, "--lock-days 30 without --object-lock"},
		{[]string{"--local-store", "store", "--object-lock", "forever", src}, `unknown object lock mode "forever"`},
		{[]string{"--vault", "v", "--region", "us-east-1", "--object-lock", "compliance", src}, "a vault has no lock per archive"},
	} {
		r := mustRun(t, dir, 2, c.args...)
		if !strings.Contains(r.stderr, c.msg) {
			t.Errorf("grsync %s: want %q:\n%s", strings.Join(c.args, " "), c.msg, r)
		}
		for _, p := range []string{"store", "glacier.db"} {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				t.Fatalf("grsync %s created %s", strings.Join(c.args, " "), p)
			}
		}
	}
}
