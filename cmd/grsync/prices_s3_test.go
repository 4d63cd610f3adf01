package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/testutil/moto"
)

// On moto S3 in DEEP_ARCHIVE, through the binary: sync --dry-run prices
// the upload (one pack, its PUT and HEAD, a month of its data, index and
// metadata, and the version records object in STANDARD) and the 180-day
// commitment; restore prices its plan before requesting anything (one
// restore request in the Standard tier, the retrieval and the restored
// copy of the whole pack, one ranged GET, the file's stored bytes out to
// the internet). Each figure equals a hand calculation from the price
// table, in --json and in the text a user reads.
func TestPricesOnS3Plans(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "deep")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	db := filepath.Join(dir, "glacier.db")
	key := newKey(t, dir)
	const files, each = 3, 300000
	for i := 0; i < files; i++ {
		writeFile(t, filepath.Join(src, "f"+strconv.Itoa(i)), randomBytes(t, each), time.Unix(1700000000, 0))
	}
	target := []string{"--bucket", "deep", "--region", "us-east-1", "--storage-class", "DEEP_ARCHIVE", "--encryption-key-file", key}
	run := func(want int, args ...string) result {
		t.Helper()
		r := grsync(t, dir, m.Env(), args...)
		if r.code != want {
			t.Fatalf("grsync %v: want exit %d:\n%s", args, want, r)
		}
		return r
	}

	// The upload: 900,000 bytes in one pack, 300 bytes of version records
	// a file.
	data := float64(files * each)
	records := float64(files * 300)
	month := nano(deepPut) + nano(getRequest) + nano(data/gib*deepGBMonth) + nano(indexBytes/gib*deepGBMonth) +
		nano(metadataBytes/gib*standardGBMonth) + nano(standardPut) + nano(getRequest) + nano(records/gib*standardGBMonth)
	commitment := nano(deepPut) + nano(getRequest) + nano((data+indexBytes)/gib*180/daysPerBillingMonth*deepGBMonth) +
		nano(standardPut) + nano(getRequest)
	r := run(0, append([]string{"--dry-run", "--json"}, append(target, src)...)...)
	est := ofType(jsonLines(t, "sync --dry-run --json", r.stdout), "sync_estimate")
	if len(est) != 1 {
		t.Fatalf("sync --dry-run --json: one sync_estimate:\n%s", r)
	}
	wantFields(t, "sync_estimate", est[0], map[string]any{"class": "DEEP_ARCHIVE", "objects": float64(1), "min_days": float64(180)})
	sameMoney(t, "sync estimate", jsonUSD(t, "estimate", est[0]["estimate"].(map[string]any)["total_usd"]), month)
	sameMoney(t, "sync commitment", jsonUSD(t, "commitment", est[0]["commitment"].(map[string]any)["total_usd"]), commitment)
	r = run(0, append([]string{"--dry-run"}, append(target, src)...)...)
	wantSummary(t, r, "estimate: 1 object into DEEP_ARCHIVE", "PUT requests, one per object (DEEP_ARCHIVE)",
		"stored data (DEEP_ARCHIVE) for 1 month", "PUT requests, one per object (STANDARD)",
		"DEEP_ARCHIVE bills at least 180 days of storage: deleting it all at once would still cost "+commitment.String(),
		"actual bills may differ")
	if !strings.Contains(r.stdout, "total") || !strings.Contains(r.stdout, month.String()) {
		t.Errorf("sync --dry-run should total %s:\n%s", month, r)
	}
	mustNotExist(t, db)

	// The restore of one file: its pack restored whole, its piece read.
	run(0, append(target, src)...)
	need, objs := storedBytes(t, db, filepath.Join(src, "f1"))
	if len(objs) != 1 {
		t.Fatalf("f1 should be in one pack: %v", objs)
	}
	size := float64(objectSize(t, db, objs[0]))
	restore := nano(deepStandardRestore) + nano(size/gib*deepStandardPerGB) + nano(size/gib*restoredCopyDays/daysPerBillingMonth*standardGBMonth) +
		nano(getRequest) + nano(float64(need)/gib*transferOutPerGB)
	rargs := []string{"restore", "--output", filepath.Join(dir, "out"), "--tier", "Standard", "--encryption-key-file", key, filepath.Join(src, "f1")}
	r = run(0, append(rargs, "--dry-run", "--json")...)
	rp := ofType(jsonLines(t, "restore --dry-run --json", r.stdout), "restore_plan")
	if len(rp) != 1 {
		t.Fatalf("restore --dry-run --json: one restore_plan:\n%s", r)
	}
	wantFields(t, "restore_plan", rp[0], map[string]any{"files": float64(1), "archives": float64(1), "tier": "Standard", "priced": true})
	sameMoney(t, "restore estimate", jsonUSD(t, "estimate", rp[0]["estimate"].(map[string]any)["total_usd"]), restore)
	r = run(2, append(rargs, "--max-cost", "0.000001")...)
	wantSummary(t, r, "tier Standard", "restore requests (Standard, DEEP_ARCHIVE)", "data retrieval (Standard, DEEP_ARCHIVE)",
		"restored copy kept 7 days (STANDARD)", "data transfer out to the internet", restore.String())
	wantStderr(t, r, "the restore is estimated at "+restore.String()+", above --max-cost $0.000001", "nothing was requested or changed")
	mustNotExist(t, filepath.Join(dir, "out"))
}
