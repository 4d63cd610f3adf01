package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
)

// clock is a settable clock for Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// syncOnce backs up src and fails the test on any failure.
func syncOnce(t *testing.T, cfg *Config, src string, pol SnapshotPolicy) SyncResult {
	t.Helper()
	res, err := Sync(context.Background(), cfg, SyncOptions{Sources: []string{src}, Snapshots: pol})
	if err != nil || len(res.Failures) > 0 || res.SnapshotErr != nil {
		t.Fatalf("sync: %v %v %v", err, res.Failures, res.SnapshotErr)
	}
	return res
}

// storeObjects counts the data objects in a local store's folder.
func storeObjects(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "store", "archives", "*"))
	n := 0
	for _, p := range m {
		if !strings.HasSuffix(p, ".json") {
			n++
		}
	}
	return n
}

func TestSnapshotTakenWhenDueOnly(t *testing.T) {
	cfg, dir := setup(t, 0)
	clk := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = clk.now
	src := filepath.Join(dir, "src")
	for i := range 5 {
		writeTestFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), fmt.Sprint("content ", i))
	}
	res := syncOnce(t, cfg, src, SnapshotPolicy{})
	if !res.Snapshot.Taken || res.Snapshot.Reason != "no snapshot yet" {
		t.Fatalf("the first sync takes a snapshot: %+v", res.Snapshot)
	}
	before := storeObjects(t, dir)
	// Nothing changed: nothing stored, not even a request for a snapshot.
	clk.t = clk.t.Add(24 * time.Hour)
	res = syncOnce(t, cfg, src, SnapshotPolicy{})
	if res.Snapshot.Taken || !strings.Contains(res.Snapshot.Reason, "holds the whole catalogue") || storeObjects(t, dir) != before {
		t.Fatalf("a sync that changed nothing stored something: %+v, %d objects (was %d)", res.Snapshot, storeObjects(t, dir), before)
	}

	// Make the newest snapshot look large (a big catalogue): small records
	// after it are not worth a new one...
	st, _, _ := cfg.Catalog.Snapshot(cfg.Target.ID)
	st.Size = 1 << 30
	if err := cfg.Catalog.SetSnapshotState(cfg.Target.ID, st); err != nil {
		t.Fatal(err)
	}
	for i := range snapshotMaxRecords - 1 {
		clk.t = clk.t.Add(time.Hour)
		writeTestFile(t, filepath.Join(src, "f0"), fmt.Sprint("changed ", i))
		res = syncOnce(t, cfg, src, SnapshotPolicy{})
		if res.Snapshot.Taken || !strings.HasPrefix(res.Snapshot.Reason, "not due") {
			t.Fatalf("run %d: snapshot %+v", i, res.Snapshot)
		}
	}
	// ... until they are many (a recovery fetches each).
	clk.t = clk.t.Add(time.Hour)
	writeTestFile(t, filepath.Join(src, "f1"), "changed again")
	res = syncOnce(t, cfg, src, SnapshotPolicy{})
	if !res.Snapshot.Taken || !strings.Contains(res.Snapshot.Reason, "24 version records objects") {
		t.Fatalf("a snapshot is due after %d records objects: %+v", snapshotMaxRecords, res.Snapshot)
	}
	// Or old.
	st, _, _ = cfg.Catalog.Snapshot(cfg.Target.ID)
	st.Size = 1 << 30
	cfg.Catalog.SetSnapshotState(cfg.Target.ID, st)
	clk.t = clk.t.Add(snapshotMaxAge)
	writeTestFile(t, filepath.Join(src, "f2"), "changed a month later")
	if res = syncOnce(t, cfg, src, SnapshotPolicy{}); !res.Snapshot.Taken || !strings.Contains(res.Snapshot.Reason, "days old") {
		t.Fatalf("a month-old snapshot is due: %+v", res.Snapshot)
	}
	// Or large records (half the snapshot's size).
	st, _, _ = cfg.Catalog.Snapshot(cfg.Target.ID)
	st.Size = 2000
	cfg.Catalog.SetSnapshotState(cfg.Target.ID, st)
	writeTestFile(t, filepath.Join(src, "f3"), "changed")
	clk.t = clk.t.Add(time.Hour)
	if res = syncOnce(t, cfg, src, SnapshotPolicy{}); !res.Snapshot.Taken || !strings.Contains(res.Snapshot.Reason, "half its size") {
		t.Fatalf("records half the snapshot's size make one due: %+v", res.Snapshot)
	}
	// A forget changes no row count but is a change.
	var ids []int64
	vs, _ := cfg.Catalog.Select(cfg.Target.ID, nil, time.Time{})
	ids = append(ids, vs[0].ID)
	if err := cfg.Catalog.Forget(ids, clk.t); err != nil {
		t.Fatal(err)
	}
	if due, why, _ := SnapshotDue(cfg, false); !due {
		t.Fatalf("a forget since the snapshot makes one due (records do not hold it): %s", why)
	}
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	h := fnv.New32a()
	h.Write([]byte(content))
	mt := time.Unix(1700000000+int64(h.Sum32()), 0)
	os.Chtimes(p, mt, mt)
}

// Snapshots past --keep-snapshots are deleted once their class lets them
// go without a fee: at once in STANDARD and on a local store, after 90
// days in GLACIER_IR and vaults.
func TestOldSnapshotsDeletedOnlyWhenFree(t *testing.T) {
	cfg, _ := setup(t, 0)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return now }
	ctx := context.Background()
	put := func(class string, age time.Duration) catalog.Object {
		a, err := cfg.Store.Put(ctx, strings.NewReader("old snapshot"), "old")
		if err != nil {
			t.Fatal(err)
		}
		o := catalog.Object{TargetID: cfg.Target.ID, ArchiveID: a.ID, Kind: catalog.ObjectSnapshot, PackID: "00", Size: a.Size,
			Class: class, Uploaded: now.Add(-age)}
		if err := cfg.Catalog.AddObject(o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	// Newest first: two kept, then four past Keep.
	put("LOCAL", time.Hour)
	put("LOCAL", 2*time.Hour)
	local := put("LOCAL", 3*time.Hour)
	std := put("STANDARD", 4*time.Hour)
	young := put("GLACIER_IR", 10*24*time.Hour)
	old := put("GLACIER_IR", 91*24*time.Hour)
	deleted, held, err := pruneSnapshots(ctx, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for _, o := range deleted {
		gone[o.ArchiveID] = true
	}
	if len(deleted) != 3 || !gone[local.ArchiveID] || !gone[std.ArchiveID] || !gone[old.ArchiveID] {
		t.Fatalf("deleted %v; want the LOCAL, STANDARD and 91-day GLACIER_IR ones", deleted)
	}
	if len(held) != 1 || held[0].Object.ArchiveID != young.ArchiveID || !held[0].Until.Equal(young.Uploaded.Add(90*24*time.Hour)) ||
		!strings.Contains(held[0].Why, "90 days") {
		t.Fatalf("held %+v; want the 10-day GLACIER_IR one until its 90 days", held)
	}
	for id := range gone {
		if _, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: id}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s is still in the store: %v", id, err)
		}
	}
	left, _ := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	if len(left) != 3 {
		t.Errorf("the catalogue still lists %d snapshots, want 3", len(left))
	}
}

// pointerValues returns the values of the store's non-empty pointer slots.
func pointerValues(t *testing.T, cfg *Config) map[string]bool {
	t.Helper()
	refs, err := cfg.Store.Refs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for k, v := range refs {
		if strings.HasPrefix(k, format.PointerPrefix) && v != "" {
			out[v] = true
		}
	}
	return out
}

func valueOf(t *testing.T, o catalog.Object) string {
	t.Helper()
	p, ok := pointerOf(o)
	if !ok {
		t.Fatalf("no pointer for %+v", o)
	}
	v, _ := p.Value()
	return v
}

// The store's pointers name the newest snapshot with the records after it,
// and the snapshot before with the records between; a chain that does not
// fit is left out whole. Slots are overwritten, never deleted.
func TestPointersNameWholeChains(t *testing.T) {
	cfg, _ := setup(t, 0)
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	add := func(kind catalog.ObjectKind) catalog.Object {
		n++
		o := catalog.Object{TargetID: cfg.Target.ID, ArchiveID: fmt.Sprintf("obj-%03d", n), Kind: kind,
			PackID: fmt.Sprintf("%032x", n), Size: int64(n), Uploaded: at.Add(time.Duration(n) * time.Minute)}
		if err := cfg.Catalog.AddObject(o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	same := func(what string, want ...catalog.Object) {
		t.Helper()
		got := pointerValues(t, cfg)
		if len(got) != len(want) {
			t.Fatalf("%s: %d pointers, want %d: %v", what, len(got), len(want), got)
		}
		for _, o := range want {
			if !got[valueOf(t, o)] {
				t.Errorf("%s: no pointer to %s", what, o.ArchiveID)
			}
		}
	}
	add(catalog.ObjectRecords) // before any snapshot: never pointed at
	s1 := add(catalog.ObjectSnapshot)
	r1 := add(catalog.ObjectRecords)
	s2 := add(catalog.ObjectSnapshot)
	r2 := add(catalog.ObjectRecords)
	if err := WritePointers(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	same("two chains", s1, r1, s2, r2)
	// Nothing new: the store is not asked.
	if err := WritePointers(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// A third snapshot: the first chain's pointers go, their slots reused
	// or emptied, none deleted.
	s3 := add(catalog.ObjectSnapshot)
	if err := WritePointers(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	same("after a third snapshot", s2, r2, s3)
	refs, _ := cfg.Store.Refs(ctx)
	if len(refs) != 4 { // s3 took a stale slot, the other stale one was emptied
		t.Errorf("want the four slots written before, one of them empty: %v", refs)
	}
	// Records after the newest snapshot beyond what fits: the older chain
	// goes first, then all.
	var chain []catalog.Object
	chain = append(chain, s3)
	for range format.MaxPointers - 2 {
		chain = append(chain, add(catalog.ObjectRecords))
	}
	WritePointers(ctx, cfg)
	same("the newest chain alone", chain...)
	add(catalog.ObjectRecords)
	add(catalog.ObjectRecords)
	WritePointers(ctx, cfg)
	same("a chain that does not fit leaves no pointers (a recovery lists the store)")
	refs, _ = cfg.Store.Refs(ctx)
	if len(refs) != format.MaxPointers-1 {
		t.Errorf("slots are emptied, never deleted: %d refs", len(refs))
	}
}

// copyTree gives a recovered catalogue's rows as text, for comparison.
func rowsOf(t *testing.T, c *catalog.Catalog, target int64) string {
	t.Helper()
	vs, err := c.Select(target, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "%s %d %d %o %s %v %s\n", v.Path, v.Size, v.MTimeNS, v.Mode, v.ContentHash, v.Deleted, v.Timestamp.Format(time.RFC3339Nano))
	}
	return b.String()
}

// recoverInto runs a recovery of cfg's store into a new catalogue and
// installs it, as grsync recover does.
func recoverInto(t *testing.T, cfg *Config, dir string) (*catalog.Catalog, RecoverResult, []RecoverPlan) {
	t.Helper()
	db := filepath.Join(dir, fmt.Sprintf("recovered-%d.db", time.Now().UnixNano()))
	work, err := catalog.Open(db, catalog.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := work.EnsureTarget(cfg.Store.Location())
	rc := &Config{Store: cfg.Store, Catalog: work, Target: tg, Key: cfg.Key, Now: cfg.Now}
	var plans []RecoverPlan
	res, err := Recover(context.Background(), rc, RecoverOptions{CopyPath: db + ".snapshot-tmp", Plan: func(p RecoverPlan) { plans = append(plans, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rebuilt != nil {
		t.Cleanup(func() { work.Close() })
		return work, res, plans
	}
	work.Close()
	os.Remove(db)
	if err := catalog.InstallSnapshot(db+".snapshot-tmp", db); err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Open(db, catalog.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tg, _, _ = c.Target(cfg.Store.Location())
	rc = &Config{Store: cfg.Store, Catalog: c, Target: tg, Key: cfg.Key, Now: cfg.Now}
	if _, problems, err := ApplyRecovery(rc, res); err != nil || len(problems) > 0 {
		t.Fatalf("apply: %v %v", err, problems)
	}
	return c, res, plans
}

// A damaged newest snapshot (a flipped byte, a truncated object) is
// refused with a message naming it, the one before is used with every
// records object after it, and the recovered catalogue equals the lost
// one; with no usable snapshot at all, the catalogue is rebuilt.
func TestRecoverRefusesDamagedSnapshots(t *testing.T) {
	for _, damage := range []string{"flipped", "truncated"} {
		t.Run(damage, func(t *testing.T) {
			cfg, dir := setup(t, 0)
			clk := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			cfg.Now = clk.now
			src := filepath.Join(dir, "src")
			writeTestFile(t, filepath.Join(src, "a"), "first")
			syncOnce(t, cfg, src, SnapshotPolicy{})
			clk.t = clk.t.Add(time.Hour)
			writeTestFile(t, filepath.Join(src, "b"), "second")
			os.Rename(filepath.Join(src, "a"), filepath.Join(src, "a-renamed"))
			syncOnce(t, cfg, src, SnapshotPolicy{Force: true})
			clk.t = clk.t.Add(time.Hour)
			writeTestFile(t, filepath.Join(src, "c"), "third, after the newest snapshot")
			syncOnce(t, cfg, src, SnapshotPolicy{Keep: 5})
			want := rowsOf(t, cfg.Catalog, cfg.Target.ID)

			snaps, _ := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
			newest := snaps[len(snaps)-1]
			p := filepath.Join(dir, "store", "archives", newest.ArchiveID)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if damage == "flipped" {
				b[len(b)/2] ^= 1
			} else {
				b = b[:len(b)-100]
			}
			os.WriteFile(p, b, 0o600)

			got, res, plans := recoverInto(t, cfg, dir)
			if len(plans) != 2 || plans[0].Snapshot.Archive != newest.ArchiveID || len(plans[1].Refused) != 1 ||
				!strings.Contains(plans[1].Refused[0].Err.Error(), "snapshot "+newest.ArchiveID) {
				t.Fatalf("plans %+v", plans)
			}
			if res.Snapshot.Archive != snaps[len(snaps)-2].ArchiveID || len(res.Records) < 2 {
				t.Fatalf("want the previous snapshot and the records after it: %+v", res)
			}
			if g := rowsOf(t, got, cfg.Target.ID); g != want {
				t.Fatalf("recovered catalogue differs:\nwant\n%s\ngot\n%s", want, g)
			}
			st, _, _ := got.Snapshot(cfg.Target.ID)
			if !st.Stale {
				t.Error("a recovery past a refused snapshot must make the next sync take one")
			}
			// Both damaged: rebuilt from the records and packs.
			p = filepath.Join(dir, "store", "archives", snaps[len(snaps)-2].ArchiveID)
			os.WriteFile(p, []byte("garbage"), 0o600)
			p = filepath.Join(dir, "store", "archives", snaps[0].ArchiveID)
			os.WriteFile(p, []byte("garbage"), 0o600)
			got, res, _ = recoverInto(t, cfg, dir)
			if res.Rebuilt == nil {
				t.Fatalf("without a usable snapshot the catalogue is rebuilt: %+v", res)
			}
			if g := rowsOf(t, got, cfg.Target.ID); g != want {
				t.Fatalf("rebuilt catalogue differs:\nwant\n%s\ngot\n%s", want, g)
			}
		})
	}
}

// A snapshot holds the catalogue in the store encrypted: no path, no
// SQLite header in the clear.
func TestSnapshotObjectRevealsNothing(t *testing.T) {
	cfg, dir := setup(t, 0)
	src := filepath.Join(dir, "secret-folder")
	writeTestFile(t, filepath.Join(src, "secret-name.txt"), "x")
	syncOnce(t, cfg, src, SnapshotPolicy{})
	snaps, _ := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots", len(snaps))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "store", "archives", snaps[0].ArchiveID))
	meta, _ := os.ReadFile(filepath.Join(dir, "store", "archives", snaps[0].ArchiveID+".json"))
	for _, secret := range []string{"secret", "SQLite format", "catalogue.db", "grsync/"} {
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(meta, []byte(secret)) {
			t.Errorf("the snapshot object shows %q", secret)
		}
	}
	if _, err := local.Open(filepath.Join(dir, "store"), local.Options{}); err != nil {
		t.Fatal(err)
	}
}

// Prune stores a snapshot after condemning and before deleting: a
// catalogue recovered from the store afterwards knows the deleted object
// and never deduplicates new content against it.
func TestPruneSnapshotsBeforeDeleting(t *testing.T) {
	cfg, dir, now := pruneSetup(t, "", "LOCAL")
	dead := twoVersions(t, cfg, dir, now)
	before, _ := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	*now = now.Add(time.Hour)
	plan, err := PlanPrune(cfg, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Prune(context.Background(), cfg, PruneOptions{}, plan)
	if err != nil || res.Deleted != 1 {
		t.Fatalf("prune: %+v %v", res, err)
	}
	after, _ := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	if len(after) <= len(before) && after[len(after)-1].ArchiveID == before[len(before)-1].ArchiveID {
		t.Fatal("prune deleted without storing a snapshot first")
	}
	got, _, _ := recoverInto(t, cfg, dir)
	uses, err := got.ObjectUses(cfg.Target.ID)
	if err != nil {
		t.Fatal(err)
	}
	var deadID int64
	for _, u := range uses {
		if u.ArchiveID == dead.ArchiveID {
			deadID = u.ID
			if u.Condemned.IsZero() && u.Deleted.IsZero() {
				t.Fatalf("the recovered catalogue takes the deleted object %s for a usable one", dead.ArchiveID)
			}
		}
	}
	blobs, _, err := got.ObjectBlobs(cfg.Target.ID, deadID)
	if err != nil || len(blobs) == 0 {
		t.Fatalf("the recovered catalogue lost the deleted object's blobs: %v %v", blobs, err)
	}
	if _, found, err := got.FindBlob(cfg.Target.ID, blobs[0].Hash); err != nil || found {
		t.Fatalf("the recovered catalogue would deduplicate against the deleted object: %v %v", found, err)
	}
}
