package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/retention"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/faulty"
)

var day0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func days(n float64) time.Duration { return time.Duration(n * 24 * float64(time.Hour)) }

// pruneSetup is setup with the target at location (its store stays a
// local folder: prune's rules follow the target's kind and the classes the
// catalogue records) and a clock the test moves.
func pruneSetup(t *testing.T, location, class string) (*Config, string, *time.Time) {
	t.Helper()
	cfg, dir := setup(t, 0)
	if location != "" {
		tg, err := cfg.Catalog.EnsureTarget(location)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Target = tg
	}
	cfg.Class = class
	now := day0
	cfg.Now = func() time.Time { return now }
	return cfg, dir, &now
}

// twoVersions syncs file a twice (day 0 and day 1, one object per file)
// and forgets its first version: the day-0 object is then unused. It
// returns that object.
func twoVersions(t *testing.T, cfg *Config, dir string, now *time.Time) catalog.Object {
	t.Helper()
	ctx := context.Background()
	a := filepath.Join(dir, "src", "a")
	cfg.NoPacking = true
	for i, content := range []string{"first content of a", "second content of a, longer"} {
		*now = day0.Add(days(float64(i)))
		if err := os.MkdirAll(filepath.Dir(a), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(a, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := day0.Add(days(float64(i)))
		os.Chtimes(a, mt, mt)
		if res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{filepath.Dir(a)}}); err != nil || res.Uploaded != 1 {
			t.Fatalf("sync %d: %+v %v", i, res, err)
		}
	}
	first := firstObject(t, cfg, a)
	plan, err := PlanForget(cfg, ForgetOptions{Policy: retention.Policy{Last: 1}})
	if err != nil || len(plan.Forget) != 1 {
		t.Fatalf("forget plan: %+v %v", plan, err)
	}
	if err := ApplyForget(cfg, plan); err != nil {
		t.Fatal(err)
	}
	return first
}

// firstObject is the object holding the first version of path.
func firstObject(t *testing.T, cfg *Config, path string) catalog.Object {
	t.Helper()
	var id int64
	err := cfg.Catalog.History(cfg.Target.ID, []string{path}, func(_ string, rows []catalog.VersionState) error {
		id = rows[0].ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := cfg.Catalog.Pieces([]int64{id})
	if err != nil || len(ps[id]) != 1 {
		t.Fatalf("pieces of the first version: %v %v", ps, err)
	}
	return *ps[id][0].Object
}

// inStore reports whether the (local) store holds archive id's data file.
func inStore(t *testing.T, cfg *Config, id string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(strings.TrimPrefix(cfg.Store.Location(), "local:"), "archives", id))
	return err == nil
}

func findItem(items []PruneItem, id string) (PruneItem, bool) {
	for _, it := range items {
		if it.Object.ArchiveID == id {
			return it, true
		}
	}
	return PruneItem{}, false
}

// The minimum storage duration of each class, on the target kinds that
// bill it: an unused object one day short of it is listed with the date it
// becomes free and kept; one day past it, it is deleted from the store and
// marked deleted. An object whose class the catalogue did not record is
// held for the longest duration (180 days); a local store's go at once.
func TestPruneMinimumStorageDuration(t *testing.T) {
	cases := []struct {
		location, class string
		minDays         int
	}{
		{"s3:bucket", "GLACIER", 90},
		{"s3:bucket", "DEEP_ARCHIVE", 180},
		{"s3:bucket", "GLACIER_IR", 90},
		{"s3:bucket", "STANDARD_IA", 30},
		{"s3:bucket", "", 180},
		{"glacier:us-east-1:v", "VAULT", 90},
		{"", "LOCAL", 0},
	}
	for _, c := range cases {
		t.Run(c.location+" "+c.class, func(t *testing.T) {
			cfg, dir, now := pruneSetup(t, c.location, c.class)
			dead := twoVersions(t, cfg, dir, now)
			if c.class == "" { // as an older catalogue left it
				execSQL(t, dir, "UPDATE objects SET storage_class = NULL")
			}
			if c.minDays > 0 {
				*now = day0.Add(days(float64(c.minDays - 1)))
				plan, err := PlanPrune(cfg, PruneOptions{})
				if err != nil {
					t.Fatal(err)
				}
				it, ok := findItem(plan.Waiting, dead.ArchiveID)
				if !ok || len(plan.Delete) != 0 {
					t.Fatalf("day %d: the unused object must wait: %+v", c.minDays-1, plan)
				}
				if want := day0.Add(days(float64(c.minDays))); !it.Earliest.At.Equal(want) {
					t.Errorf("free on %v, want %v", it.Earliest.At, want)
				}
				if it.Fee.Total <= 0 && c.class != "" {
					t.Errorf("deleting it a day early must cost a fee: %+v", it.Fee)
				}
				res, err := Prune(context.Background(), cfg, PruneOptions{}, plan)
				if err != nil || res.Deleted != 0 || !inStore(t, cfg, dead.ArchiveID) {
					t.Fatalf("day %d: nothing may be deleted: %+v %v", c.minDays-1, res, err)
				}
			}
			*now = day0.Add(days(float64(c.minDays + 1)))
			plan, err := PlanPrune(cfg, PruneOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := findItem(plan.Delete, dead.ArchiveID); !ok || len(plan.Delete) != 1 || len(plan.Waiting) != 0 {
				t.Fatalf("day %d: the unused object (only) must be deleted: %+v", c.minDays+1, plan)
			}
			if plan.KeptMeta != 3 {
				t.Errorf("the two records objects and the catalogue snapshot must be kept, plan keeps %d", plan.KeptMeta)
			}
			res, err := Prune(context.Background(), cfg, PruneOptions{}, plan)
			if err != nil || res.Deleted != 1 || res.Fees != 0 {
				t.Fatalf("prune: %+v %v", res, err)
			}
			if inStore(t, cfg, dead.ArchiveID) {
				t.Error("the object is still in the store")
			}
			objs, _ := cfg.Catalog.Objects(cfg.Target.ID)
			for _, o := range objs {
				if o.ArchiveID == dead.ArchiveID {
					t.Error("the deleted object is not marked deleted")
				}
			}
			// The kept version restores.
			assertRestores(t, cfg, dir)
		})
	}
}

// assertRestores restores the latest versions and compares them with src.
func assertRestores(t *testing.T, cfg *Config, dir string) {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("out-%d", time.Now().UnixNano()))
	opt := RestoreOptions{Output: out, Wait: true, Poll: 20 * time.Millisecond}
	plan, err := PlanRestore(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Restore(context.Background(), cfg, opt, plan)
	if err != nil || len(res.Failures) > 0 || res.Restored == 0 {
		t.Fatalf("restore: %+v %v", res, err)
	}
	src := filepath.Join(dir, "src")
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(Destination(opt, p))
		if err != nil || !bytes.Equal(want, got) {
			t.Errorf("%s restores differently: %v", p, err)
		}
		return nil
	})
}

func execSQL(t *testing.T, dir, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// An Object Lock date is a reason nothing overrides: past the minimum
// duration, and with --allow-early-delete, a locked object waits for its
// date; then it goes.
func TestPruneObjectLockHolds(t *testing.T) {
	cfg, dir, now := pruneSetup(t, "s3:bucket", "GLACIER")
	dead := twoVersions(t, cfg, dir, now)
	until := day0.Add(days(120))
	execSQL(t, dir, "UPDATE objects SET lock_mode = 'COMPLIANCE', lock_until = ? WHERE archive_id = ?",
		until.Format(time.RFC3339Nano), dead.ArchiveID)
	*now = day0.Add(days(100))
	plan, err := PlanPrune(cfg, PruneOptions{AllowEarly: true})
	if err != nil {
		t.Fatal(err)
	}
	it, ok := findItem(plan.Waiting, dead.ArchiveID)
	if !ok || !it.Locked(*now) || !it.Earliest.At.Equal(until) || len(plan.Delete) != 0 {
		t.Fatalf("a locked object must wait for its lock, even with AllowEarly: %+v", plan)
	}
	*now = until.Add(time.Hour)
	plan, _ = PlanPrune(cfg, PruneOptions{})
	if _, ok := findItem(plan.Delete, dead.ArchiveID); !ok {
		t.Fatalf("after its lock the object goes: %+v", plan)
	}
}

// Credentials that may not delete (append-only): prune finishes the rest,
// reports the objects, leaves them condemned (never used again for new
// content, never marked deleted while they exist); a prune with other
// credentials deletes them.
func TestPruneAppendOnlyLeavesObjectsCondemned(t *testing.T) {
	cfg, dir, now := pruneSetup(t, "", "LOCAL")
	dead := twoVersions(t, cfg, dir, now)
	f := faulty.New(cfg.Store, faulty.Config{})
	f.SetAppendOnly(true)
	cfg.Store = f
	plan, err := PlanPrune(cfg, PruneOptions{})
	if err != nil || len(plan.Delete) != 1 {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	res, err := Prune(context.Background(), cfg, PruneOptions{}, plan)
	if err != nil || res.Deleted != 0 || len(res.Denied) != 1 || res.Denied[0].ArchiveID != dead.ArchiveID {
		t.Fatalf("the denied deletion must be reported: %+v %v", res, err)
	}
	if !inStore(t, cfg, dead.ArchiveID) {
		t.Fatal("the object was deleted")
	}
	objs, _ := cfg.Catalog.Objects(cfg.Target.ID)
	var o catalog.Object
	for _, x := range objs {
		if x.ArchiveID == dead.ArchiveID {
			o = x
		}
	}
	if o.ID == 0 || o.Condemned.IsZero() || !o.Deleted.IsZero() {
		t.Fatalf("the object must stay condemned, not deleted: %+v", o)
	}
	// Its content is never used again for new versions.
	bs, _, _ := cfg.Catalog.ObjectBlobs(cfg.Target.ID, o.ID)
	if _, found, _ := cfg.Catalog.FindBlob(cfg.Target.ID, bs[0].Hash); found {
		t.Error("deduplication must not use a condemned object")
	}
	// The next prune (other credentials) finishes it first.
	f.SetAppendOnly(false)
	plan, _ = PlanPrune(cfg, PruneOptions{})
	if len(plan.Condemned) != 1 || len(plan.Delete) != 0 {
		t.Fatalf("the condemned object is finished first: %+v", plan)
	}
	res, err = Prune(context.Background(), cfg, PruneOptions{}, plan)
	if err != nil || res.Deleted != 1 || inStore(t, cfg, dead.ArchiveID) {
		t.Fatalf("second prune: %+v %v", res, err)
	}
	// A condemned object the store lost meanwhile counts as gone.
	if res, err := Prune(context.Background(), cfg, PruneOptions{}, &PrunePlan{}); err != nil || res.Deleted+res.AlreadyGone != 0 {
		t.Fatalf("nothing is left to do: %+v %v", res, err)
	}
	assertRestores(t, cfg, dir)
}

// Condemn checks, in its transaction, that nothing kept uses an object:
// an object a kept version uses is never condemned, and MarkObjectDeleted
// refuses one that was not condemned.
func TestCondemnRefusesLiveObjects(t *testing.T) {
	cfg, dir, now := pruneSetup(t, "", "LOCAL")
	twoVersions(t, cfg, dir, now)
	uses, err := cfg.Catalog.ObjectUses(cfg.Target.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	live := 0
	for _, u := range uses {
		ids = append(ids, u.ID)
		if u.Live() || !u.Prunable() {
			live++
		}
	}
	got, err := cfg.Catalog.Condemn(cfg.Target.ID, ids, *now)
	if err != nil || len(got) != len(ids)-live || len(got) != 1 {
		t.Fatalf("only the one unused archive may be condemned: %v of %v, %v", got, ids, err)
	}
	for _, u := range uses {
		if u.Live() {
			if err := cfg.Catalog.MarkObjectsDeleted(cfg.Target.ID, []int64{u.ID}, *now); err == nil {
				t.Error("an object that was not condemned was marked deleted")
			}
		}
	}
}

// Repacking a partly used pack on a store whose reads need a retrieval:
// without waiting, the retrieval is requested and nothing changes; once it
// is ready, the used members go into a new pack, the versions point to it,
// the old pack is deleted, everything restores.
func TestPruneRepackAfterRetrieval(t *testing.T) {
	cfg, dir := setup(t, 200*time.Millisecond)
	now := day0
	cfg.Now = func() time.Time { return now }
	cfg.Jobs = 1
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	write := func(i int, gen int) {
		b := make([]byte, 3000+i*1000)
		rand.Read(b)
		p := filepath.Join(src, fmt.Sprintf("f%02d", i))
		os.WriteFile(p, b, 0o644)
		mt := day0.Add(time.Duration(gen) * time.Hour)
		os.Chtimes(p, mt, mt)
	}
	ctx := context.Background()
	for gen := 0; gen < 2; gen++ {
		for i := 0; i < 10; i++ {
			if gen == 0 || i%2 == 0 {
				write(i, gen)
			}
		}
		now = day0.Add(time.Duration(gen) * time.Hour)
		if _, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}}); err != nil {
			t.Fatal(err)
		}
	}
	fplan, _ := PlanForget(cfg, ForgetOptions{Policy: retention.Policy{Last: 1}})
	if err := ApplyForget(cfg, fplan); err != nil || len(fplan.Forget) != 5 {
		t.Fatalf("forget: %d %v", len(fplan.Forget), err)
	}
	opt := PruneOptions{Repack: true, Poll: 50 * time.Millisecond}
	plan, err := PlanPrune(cfg, opt)
	if err != nil || len(plan.Partial) != 1 || len(plan.Repacks()) != 1 || len(plan.Delete) != 0 {
		t.Fatalf("one partly used pack to repack: %+v %v", plan, err)
	}
	old := plan.Partial[0].Object
	res, err := Prune(ctx, cfg, opt, plan)
	if err != nil || res.PendingRetrievals != 1 || res.NewPacks != 0 || res.Deleted != 0 || !inStore(t, cfg, old.ArchiveID) {
		t.Fatalf("without waiting the retrieval is requested and nothing changes: %+v %v", res, err)
	}
	opt.Wait = true
	plan, _ = PlanPrune(cfg, opt)
	res, err = Prune(ctx, cfg, opt, plan)
	if err != nil || res.Repacked != 1 || res.NewPacks != 1 || res.Deleted != 1 || inStore(t, cfg, old.ArchiveID) {
		t.Fatalf("repack: %+v %v", res, err)
	}
	assertRestores(t, cfg, dir)
	// Nothing is partly used any more.
	plan, _ = PlanPrune(cfg, opt)
	if len(plan.Partial) != 0 || len(plan.Delete) != 0 {
		t.Fatalf("after the repack: %+v", plan)
	}
}

// usdOf is a float amount of dollars as Money, rounded to the nano-dollar.
func usdOf(f float64) cost.Money { return cost.Money(math.Round(f * 1e9)) }

// record commits an object of class and size uploaded at `at`, with one
// archive blob, and (live) a version using it.
func record(t *testing.T, cfg *Config, id, class string, size int64, at time.Time, live bool) {
	t.Helper()
	b := &catalog.Blob{Size: size, Length: size, Member: -1, Kind: catalog.BlobArchive, Hash: id}
	obj := &catalog.NewObject{Object: catalog.Object{TargetID: cfg.Target.ID, ArchiveID: id, Kind: catalog.ObjectArchive,
		Size: size, Class: class, Uploaded: at}, Blobs: []*catalog.Blob{b}}
	batch := &catalog.Batch{Objects: []*catalog.NewObject{obj}}
	if live {
		batch.Versions = append(batch.Versions, &catalog.NewVersion{Version: catalog.Version{TargetID: cfg.Target.ID,
			Path: "/data/" + id, Size: size, Timestamp: at}, Pieces: []*catalog.Blob{b}})
	}
	if err := cfg.Catalog.Commit(batch); err != nil {
		t.Fatal(err)
	}
}

// A stated workload, priced by hand: in an S3 target, three 1 GiB
// DEEP_ARCHIVE objects (one used), a 100 MiB GLACIER object nobody uses,
// all uploaded on day 0; prune on day 100 with --allow-early-delete.
func TestPruneCostsMatchHandCalculation(t *testing.T) {
	cfg, _, now := pruneSetup(t, "s3:bucket", "DEEP_ARCHIVE")
	const GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10
	record(t, cfg, "deep-used", "DEEP_ARCHIVE", GiB, day0, true)
	record(t, cfg, "deep-1", "DEEP_ARCHIVE", GiB, day0, false)
	record(t, cfg, "deep-2", "DEEP_ARCHIVE", GiB, day0, false)
	record(t, cfg, "glacier", "GLACIER", 100*MiB, day0, false)
	*now = day0.Add(days(100))

	plan, err := PlanPrune(cfg, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Delete) != 1 || plan.Delete[0].Object.ArchiveID != "glacier" || len(plan.Waiting) != 2 {
		t.Fatalf("GLACIER is past its 90 days, DEEP_ARCHIVE is not: %+v", plan)
	}
	// Deleting a 1 GiB DEEP_ARCHIVE object on day 100: 80 of its 180 days
	// are left, billed on 1 GiB + the 32 KiB index at $0.00099 a GB-month.
	fee := usdOf((GiB + 32*KiB) / float64(GiB) * 80.0 / 30 * 0.00099)
	for _, it := range plan.Waiting {
		if it.Fee.Total != fee {
			t.Errorf("early-deletion fee of %s: %s, by hand %s", it.Object.ArchiveID, it.Fee.Total, fee)
		}
	}
	// GLACIER a month: 100 MiB of data and the 32 KiB index at $0.0036,
	// the 8 KiB of name and metadata at STANDARD's $0.023.
	glacierMonth := usdOf(100*MiB/float64(GiB)*0.0036) + usdOf(32*KiB/float64(GiB)*0.0036) + usdOf(8*KiB/float64(GiB)*0.023)
	if plan.Saved.Total != glacierMonth || plan.Total() != 0 {
		t.Errorf("deleting the GLACIER object saves %s a month (by hand %s) and costs %s (nothing)", plan.Saved.Total, glacierMonth, plan.Total())
	}

	plan, _ = PlanPrune(cfg, PruneOptions{AllowEarly: true})
	if len(plan.Delete) != 3 || plan.Total() != 2*fee {
		t.Fatalf("with AllowEarly the two DEEP_ARCHIVE objects go too, for %s (by hand %s): %+v", plan.Total(), 2*fee, plan.Delete)
	}
	deepMonth := usdOf(2*GiB/float64(GiB)*0.00099) + usdOf(2*32*KiB/float64(GiB)*0.00099) + usdOf(2*8*KiB/float64(GiB)*0.023)
	if plan.Saved.Total != glacierMonth+deepMonth {
		t.Errorf("saved a month %s, by hand %s", plan.Saved.Total, glacierMonth+deepMonth)
	}

	// What the target costs a month now, by class.
	r, err := Costs(cfg, cost.Default())
	if err != nil {
		t.Fatal(err)
	}
	deep3 := usdOf(3*GiB/float64(GiB)*0.00099) + usdOf(3*32*KiB/float64(GiB)*0.00099) + usdOf(3*8*KiB/float64(GiB)*0.023)
	if len(r.Classes) != 2 || r.Classes[0].Name != "DEEP_ARCHIVE" || r.Classes[0].Monthly.Total != deep3 ||
		r.Classes[1].Name != "GLACIER" || r.Classes[1].Monthly.Total != glacierMonth {
		t.Fatalf("cost by class: %+v (by hand DEEP_ARCHIVE %s, GLACIER %s)", r.Classes, deep3, glacierMonth)
	}
	if r.Monthly.Total != deep3+glacierMonth || r.UnusedObjects != 3 || r.UnusedBytes != 2*GiB+100*MiB ||
		r.UnusedMonthly.Total != deepMonth+glacierMonth {
		t.Errorf("totals: %+v", r)
	}
	// Restoring the used 1 GiB object in Bulk: one restore request at
	// $0.025 per 1,000, $0.0025 per GB retrieved, the copy kept 7 days at
	// STANDARD's price, one GET, and the download at $0.09 per GB.
	rplan, err := PlanRestore(cfg, RestoreOptions{Output: t.TempDir()})
	if err != nil || len(rplan.Items) != 1 {
		t.Fatalf("restore plan: %+v %v", rplan, err)
	}
	est, err := RestoreCost(cfg, rplan, cost.Default(), store.TierBulk, 0)
	if err != nil {
		t.Fatal(err)
	}
	restore := usdOf(0.025/1000) + usdOf(0.0025) + usdOf(7.0/30*0.023) + usdOf(0.0004/1000) + usdOf(0.09)
	if est.Total != restore || est.Tier != store.TierBulk || est.Wait.String() != "within 48 hours" {
		t.Errorf("restore estimate %s (%s, %s), by hand %s", est.Total, est.Tier, est.Wait, restore)
	}
}
