package main

import (
	"context"
	"database/sql"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/testutil/moto"
)

// The us-east-1 prices of docs/COSTS.md ("The price table"), written out
// here so that the hand calculations below do not use the code they check.
const (
	gib                  = float64(1 << 30) // a "GB" on an AWS bill
	glacierGBMonth       = 0.0036           // GLACIER storage, per GB-month
	deepGBMonth          = 0.00099          // DEEP_ARCHIVE storage, per GB-month
	standardGBMonth      = 0.023            // STANDARD storage, per GB-month
	glacierPut           = 0.03 / 1000      // GLACIER PUT, per request
	deepPut              = 0.05 / 1000      // DEEP_ARCHIVE PUT, per request
	standardPut          = 0.005 / 1000     // STANDARD PUT, per request
	getRequest           = 0.0004 / 1000    // GET and HEAD (GLACIER, DEEP_ARCHIVE, STANDARD), per request
	deepStandardRestore  = 0.10 / 1000      // DEEP_ARCHIVE Standard-tier restore, per request
	deepStandardPerGB    = 0.02             // DEEP_ARCHIVE Standard-tier retrieval, per GB
	transferOutPerGB     = 0.09             // data transfer out to the internet, per GB
	indexBytes           = 32 << 10         // archive index per GLACIER/DEEP_ARCHIVE object, at the class's price
	metadataBytes        = 8 << 10          // name and metadata per GLACIER/DEEP_ARCHIVE object, at STANDARD's price
	restoredCopyDays     = 7.0              // how long a restored copy stays (grsync's default --days)
	glacierMinDays       = 90.0
	daysPerBillingMonth  = 30.0
	nanoDollarsPerDollar = 1e9
)

// nano is a line of a bill rounded to the nano-dollar, as the estimates
// round each line.
func nano(dollars float64) cost.Money { return cost.Money(math.Round(dollars * nanoDollarsPerDollar)) }

// jsonUSD reads a JSON dollar amount.
func jsonUSD(t *testing.T, what string, v any) cost.Money {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%s: not a dollar amount: %v", what, v)
	}
	return nano(f)
}

// sameMoney fails unless got is want to within a few nano-dollars (the
// estimates round each line; the hand calculations may round at another
// step).
func sameMoney(t *testing.T, what string, got, want cost.Money) {
	t.Helper()
	if d := got - want; d < -3 || d > 3 {
		t.Errorf("%s: %s ($%s), hand calculation %s ($%s)", what, got, got.Decimal(), want, want.Decimal())
	}
}

// storedBytes is what the pieces of the versions of paths like pattern
// (an SQL LIKE pattern) hold in the store, and the objects they are in.
func storedBytes(t *testing.T, db, pattern string) (bytes int64, objects []string) {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.QueryRow(`SELECT coalesce(sum(b.length), 0) FROM sync_history h JOIN version_pieces p ON p.version_id = h.id
		JOIN blobs b ON b.id = p.blob_id WHERE h.path LIKE ?`, pattern).Scan(&bytes); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(`SELECT DISTINCT o.archive_id FROM sync_history h JOIN version_pieces p ON p.version_id = h.id
		JOIN blobs b ON b.id = p.blob_id JOIN objects o ON o.id = b.object_id WHERE h.path LIKE ? ORDER BY 1`, pattern)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, id)
	}
	return bytes, objects
}

// objectSize is the stored size the catalogue records for object id.
func objectSize(t *testing.T, db, id string) int64 {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int64
	if err := c.QueryRow(`SELECT size FROM objects WHERE archive_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// On moto S3 in GLACIER: one pack holds a small file that stays and five
// files deleted the next day; a second pack holds a file deleted the day
// after. After forget --keep-last 1, prune:
//   - reports the first pack as partly used, with its unused bytes (the
//     deleted files' stored pieces) and what they cost a month (text and
//     --json), equal to a hand calculation;
//   - with --allow-early-delete on day 50, deletes the second pack inside
//     its 90 days, printing the fee, which equals the hand calculation;
//     the pack is gone from the bucket and the kept file still restores;
//   - on day 100, with --repack-horizon 1m, judges the first pack not worth
//     repacking (the comparison printed equals the hand calculation), and
//     with 1y worth it: the retrieval is shown and priced before the
//     repack, the old pack is deleted, and the kept file restores.
func TestPruneOnPricedStore(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "priced")
	has := func(id string) bool {
		_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("priced"), Key: aws.String("grsync/" + id)})
		return err == nil
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	db := filepath.Join(dir, "glacier.db")
	key := newKey(t, dir)
	target := []string{"--bucket", "priced", "--region", "us-east-1", "--storage-class", "GLACIER"}
	run := func(d float64, want int, args ...string) result {
		t.Helper()
		env := append(m.Env(), "GRSYNC_FAKE_NOW="+pruneDay(d).Format(time.RFC3339))
		r := grsync(t, dir, env, append(args, "--encryption-key-file", key)...)
		if r.code != want {
			t.Fatalf("day %g: grsync %v: want exit %d:\n%s", d, args, want, r)
		}
		return r
	}
	sync := func(d float64) { run(d, 0, append(append([]string{}, target...), src)...) }
	kept := randomBytes(t, 1000)
	restoreKept := func(d float64, out string) {
		t.Helper()
		run(d, 0, "restore", "--output", filepath.Join(dir, out), "--tier", "Bulk", "--wait", "--poll", "200ms")
		got, err := os.ReadFile(filepath.Join(dir, out, strings.TrimPrefix(src, "/"), "a.txt"))
		if err != nil || string(got) != string(kept) {
			t.Fatalf("day %g: the kept a.txt does not restore: %v", d, err)
		}
	}
	writeFile(t, filepath.Join(src, "a.txt"), kept, pruneDay(0))
	for i := 0; i < 5; i++ {
		writeFile(t, filepath.Join(src, "big"+strconv.Itoa(i)), randomBytes(t, 800000), pruneDay(0))
	}
	sync(0)
	for i := 0; i < 5; i++ {
		os.Remove(filepath.Join(src, "big"+strconv.Itoa(i)))
	}
	writeFile(t, filepath.Join(src, "c.bin"), randomBytes(t, 200000), pruneDay(1))
	sync(1)
	os.Remove(filepath.Join(src, "c.bin"))
	sync(2)
	run(2, 0, "forget", "--keep-last", "1")

	dead, deadObjs := storedBytes(t, db, filepath.Join(src, "big")+"%")
	live, liveObjs := storedBytes(t, db, filepath.Join(src, "a.txt"))
	_, cObjs := storedBytes(t, db, filepath.Join(src, "c.bin"))
	if len(deadObjs) != 1 || len(liveObjs) != 1 || deadObjs[0] != liveObjs[0] || len(cObjs) != 1 || cObjs[0] == liveObjs[0] {
		t.Fatalf("a.txt and the big files should share one pack, c.bin another: %v %v %v", liveObjs, deadObjs, cObjs)
	}
	pack, cPack := liveObjs[0], cObjs[0]
	size := objectSize(t, db, pack)
	if dead < 5*800000 || live < 1000 {
		t.Fatalf("stored bytes: %d dead, %d live", dead, live)
	}

	// The partly used pack: its unused bytes and their monthly cost.
	deadMonthly := nano(float64(dead) / gib * glacierGBMonth)
	r := run(50, 0, "prune", "--dry-run", "--json")
	plan := ofType(jsonLines(t, "prune --json", r.stdout), "prune_plan")
	if len(plan) != 1 {
		t.Fatalf("prune --json: one prune_plan:\n%s", r)
	}
	wantFields(t, "prune_plan", plan[0], map[string]any{"partial_packs": float64(1), "partial_bytes": float64(size),
		"partial_dead_bytes": float64(dead), "waiting": float64(1), "delete": float64(0)})
	sameMoney(t, "partial_dead_monthly", jsonUSD(t, "partial_dead_monthly", plan[0]["partial_dead_monthly"].(map[string]any)["total_usd"]), deadMonthly)
	r = run(50, 0, "prune", "--dry-run")
	wantSummary(t, r, "partly used    1 pack: 3.8 MiB of 3.8 MiB unused, "+deadMonthly.String()+" a month")

	// --allow-early-delete on day 50: c.bin's pack (uploaded on day 1) has
	// 41 of its 90 days left; the fee is billed on its size plus the 32 KB
	// index.
	fee := nano(float64(objectSize(t, db, cPack)+indexBytes) / gib * (glacierMinDays - 49) / daysPerBillingMonth * glacierGBMonth)
	r = run(50, 0, "prune", "--dry-run", "--allow-early-delete", "--json")
	msgs := jsonLines(t, "prune --allow-early-delete --json", r.stdout)
	plan = ofType(msgs, "prune_plan")
	wantFields(t, "prune_plan", plan[0], map[string]any{"delete": float64(1), "waiting": float64(0)})
	sameMoney(t, "estimate", jsonUSD(t, "estimate", plan[0]["estimate"].(map[string]any)["total_usd"]), fee)
	if objs := ofType(msgs, "prune_object"); len(objs) != 1 || objs[0]["archive"] != cPack || objs[0]["action"] != "delete" {
		t.Errorf("the early deletion should name c.bin's pack: %v", objs)
	} else {
		sameMoney(t, "early_fee_usd", jsonUSD(t, "early_fee_usd", objs[0]["early_fee_usd"]), fee)
	}
	r = run(50, 0, "prune", "--allow-early-delete")
	wantSummary(t, r, "early deletion: 41 days of the 90-day minimum left (GLACIER)",
		"pruned s3:priced: deleted 1 object (", " KiB), early-deletion fees "+fee.String()) // the size varies by a few bytes with the random data
	if has(cPack) {
		t.Fatal("prune --allow-early-delete left the pack in the bucket")
	}
	if !has(pack) {
		t.Fatal("prune --allow-early-delete deleted the partly used pack")
	}
	restoreKept(51, "out51")
	// The same, in text, on a fresh look: nothing is left to delete early.
	r = run(52, 0, "prune", "--allow-early-delete")
	wantSummary(t, r, "pruned s3:priced: deleted 0 objects")
	if strings.Contains(r.stdout, "early-deletion fees") {
		t.Errorf("a second prune should pay no fee:\n%s", r)
	}

	// Repacking the partly used pack on day 100 (outside its 90 days).
	// Repacking: restoring the pack in Bulk (free for GLACIER) keeps a
	// STANDARD copy 7 days, one ranged GET, the live bytes out to the
	// internet, one PUT of the new pack, and storing it (data, index,
	// metadata) over the horizon, at least 90 days. Keeping: storing the
	// pack as it is over the horizon.
	overhead := func(months float64) cost.Money {
		return nano(indexBytes/gib*months*glacierGBMonth) + nano(metadataBytes/gib*months*standardGBMonth)
	}
	retrieval := nano(float64(size)/gib*restoredCopyDays/daysPerBillingMonth*standardGBMonth) + nano(getRequest) +
		nano(float64(live)/gib*transferOutPerGB)
	repack := func(months float64) cost.Money {
		stored := max(months, glacierMinDays/daysPerBillingMonth)
		return retrieval + nano(glacierPut) + nano(float64(live)/gib*stored*glacierGBMonth) + overhead(stored)
	}
	keep := func(months float64) cost.Money {
		return nano(float64(size)/gib*months*glacierGBMonth) + overhead(months)
	}
	if repack(1) <= keep(1) || repack(365.0/30) >= keep(365.0/30) {
		t.Fatalf("the scenario should be worth repacking over a year only: 1m %s vs %s, 1y %s vs %s", repack(1), keep(1), repack(365.0/30), keep(365.0/30))
	}
	r = run(100, 0, "prune", "--dry-run", "--repack", "--repack-horizon", "1m", "--json")
	plan = ofType(jsonLines(t, "prune --repack --json", r.stdout), "prune_plan")
	rp := plan[0]["repack"].([]any)
	if len(rp) != 1 {
		t.Fatalf("one pack should be weighed: %v", plan[0])
	}
	one := rp[0].(map[string]any)
	wantFields(t, "repack 1m", one, map[string]any{"archive": pack, "repack": false, "size": float64(size),
		"live_bytes": float64(live), "dead_bytes": float64(dead), "tier": "Bulk"})
	sameMoney(t, "repack cost over 1 month", jsonUSD(t, "cost", one["cost"].(map[string]any)["total_usd"]), repack(1))
	sameMoney(t, "keep over 1 month", jsonUSD(t, "keep", one["keep"].(map[string]any)["total_usd"]), keep(1))
	sameMoney(t, "retrieval", jsonUSD(t, "retrieval", one["retrieval"].(map[string]any)["total_usd"]), retrieval)
	r = run(100, 0, "prune", "--dry-run", "--repack", "--repack-horizon", "1m")
	wantSummary(t, r, "repack         0 packs of 1 partly used pack (0 B), compared over 1 month",
		": repacking costs "+repack(1).String()+", keeping it "+keep(1).String()+" over 1 month")

	r = run(100, 0, "prune", "--repack", "--repack-horizon", "1y", "--wait", "--poll", "200ms")
	wantSummary(t, r, "repack         1 pack of 1 partly used pack (3.8 MiB), compared over a year",
		"retrieval for the repack (requested before anything is rewritten):",
		"restored copy kept 7 days (STANDARD)", "data transfer out to the internet",
		"repacked 1 pack into 1 new pack", "pruned s3:priced: deleted 1 object (3.8 MiB)")
	i, j, k := strings.Index(r.stdout, "retrieval for the repack"), strings.Index(r.stdout, "estimate (what this prune pays"), strings.Index(r.stdout, "repacked 1 pack")
	if i < 0 || j < i || k < j {
		t.Errorf("the retrieval and its price come before the repack:\n%s", r)
	}
	// The retrieval's total, then the estimate's (the repack over a year).
	if !strings.Contains(r.stdout[i:j], "total") || !strings.Contains(r.stdout[i:j], retrieval.String()) {
		t.Errorf("the retrieval total should be %s:\n%s", retrieval, r.stdout[i:j])
	}
	if !strings.Contains(r.stdout[j:k], repack(365.0/30).String()) {
		t.Errorf("the repack over a year should cost %s:\n%s", repack(365.0/30), r.stdout[j:k])
	}
	if has(pack) {
		t.Fatal("the repacked pack is still in the bucket")
	}
	restoreKept(101, "out101")
}
