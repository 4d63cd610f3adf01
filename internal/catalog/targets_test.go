package catalog

import (
	"testing"
	"time"
)

func TestTargets(t *testing.T) {
	c := newCatalog(t)
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	if _, ok, err := c.DefaultTarget(); ok || err != nil {
		t.Fatalf("default target of an empty catalogue: %v %v", ok, err)
	}
	a := mustTarget(t, c, "local:/srv/backup")
	equal(t, "created", a.Created, now)
	again := mustTarget(t, c, "local:/srv/backup")
	equal(t, "same location, same target", again, a)
	now = now.Add(time.Hour)
	b := mustTarget(t, c, "s3:bucket/pre/fix")

	for _, bad := range []string{"", "nocolon", ":x", "local:", "LOCAL:/x", "lo cal:/x", "local:/a\x00b"} {
		if _, err := c.EnsureTarget(bad); err == nil {
			t.Errorf("location %q accepted", bad)
		}
		if _, _, err := c.Target(bad); err == nil {
			t.Errorf("lookup of %q accepted", bad)
		}
	}

	// Never used: the newest. Then the last touched.
	d, ok, err := c.DefaultTarget()
	if err != nil || !ok || d.ID != b.ID {
		t.Fatalf("default = %+v %v %v, want %d", d, ok, err, b.ID)
	}
	now = now.Add(time.Hour)
	if err := c.TouchTarget(a.ID); err != nil {
		t.Fatal(err)
	}
	d, _, _ = c.DefaultTarget()
	equal(t, "default after touching a", d.ID, a.ID)
	equal(t, "last used", d.LastUsed, now)
	now = now.Add(time.Hour)
	c.TouchTarget(b.ID)
	d, _, _ = c.DefaultTarget()
	equal(t, "default after touching b", d.ID, b.ID)

	if err := c.SetKey(a.ID, "age1fingerprint", true); err != nil {
		t.Fatal(err)
	}
	got, _, _ := c.Target("local:/srv/backup")
	equal(t, "key", [2]any{got.KeyFingerprint, got.Encrypted}, [2]any{"age1fingerprint", true})
	wantErrIs(t, c.SetKey(999, "x", true), ErrNoTarget)
	wantErrIs(t, c.TouchTarget(999), ErrNoTarget)

	ts, err := c.Targets()
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "targets", []string{ts[0].Location, ts[1].Location}, []string{"local:/srv/backup", "s3:bucket/pre/fix"})
}

func TestLegacyTargetIsDefault(t *testing.T) {
	c, _ := openLegacy(t)
	d, ok, err := c.DefaultTarget()
	if err != nil || !ok || d.Location != "glacier::my-vault" {
		t.Fatalf("default = %+v %v %v", d, ok, err)
	}
}

func TestSettings(t *testing.T) {
	c := newCatalog(t)
	if _, ok, err := c.Setting("k"); ok || err != nil {
		t.Fatalf("unset setting: %v %v", ok, err)
	}
	for _, v := range []string{"one", "", "two\nlines"} {
		if err := c.SetSetting("k", v); err != nil {
			t.Fatal(err)
		}
		got, ok, err := c.Setting("k")
		if err != nil || !ok || got != v {
			t.Fatalf("Setting = %q %v %v, want %q", got, ok, err, v)
		}
	}
	if err := c.SetSetting("", "x"); err == nil {
		t.Fatal("empty key accepted")
	}
}

func TestRetrievals(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "glacier:us-east-1:v")
	req := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Retrieval{TargetID: tg.ID, Kind: KindArchive, ArchiveID: "arch1", JobID: "job1", Tier: "Bulk",
		Requested: req, Expires: req.Add(24 * time.Hour), Size: 100, TreeHash: "ab", Days: 3}
	if err := c.SaveRetrieval(r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.Retrieval(tg.ID, KindArchive, "arch1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	equal(t, "retrieval", got, r)

	// Saving again updates the one job instead of adding a second.
	r.Ready, r.JobID = true, "job2"
	c.SaveRetrieval(r)
	got, _, _ = c.Retrieval(tg.ID, KindArchive, "arch1")
	equal(t, "updated retrieval", got, r)
	var n int
	c.db.QueryRow("SELECT count(*) FROM retrievals").Scan(&n)
	equal(t, "retrieval rows", n, 1)

	inv := Retrieval{TargetID: tg.ID, Kind: KindInventory, JobID: "inv"}
	if err := c.SaveRetrieval(inv); err != nil {
		t.Fatal(err)
	}
	got, ok, _ = c.Retrieval(tg.ID, KindInventory, "")
	equal(t, "inventory retrieval", [2]any{got, ok}, [2]any{inv, true})

	// A ranged job replaces the whole-archive one, and is read back with
	// its range; what it covers follows.
	ranged := r
	ranged.JobID, ranged.Offset, ranged.Length = "job3", 2<<20, 1<<20
	if err := c.SaveRetrieval(ranged); err != nil {
		t.Fatal(err)
	}
	got, _, _ = c.Retrieval(tg.ID, KindArchive, "arch1")
	equal(t, "ranged retrieval", got, ranged)
	equal(t, "covers inside", got.Covers(2<<20+5, 100), true)
	equal(t, "covers across its end", got.Covers(3<<20-5, 10), false)
	equal(t, "covers before it", got.Covers(0, 10), false)
	equal(t, "a whole retrieval covers", r.Covers(0, 1<<40), true)

	for _, bad := range []Retrieval{
		{TargetID: tg.ID, Kind: "restore", ArchiveID: "x"},
		{TargetID: tg.ID, Kind: KindArchive},
		{TargetID: tg.ID, Kind: KindInventory, ArchiveID: "x"},
		{TargetID: tg.ID, Kind: KindArchive, ArchiveID: "x", Offset: -1, Length: 5},
		{TargetID: tg.ID, Kind: KindArchive, ArchiveID: "x", Offset: 5},
		{TargetID: tg.ID, Kind: KindInventory, Length: 5},
	} {
		if err := c.SaveRetrieval(bad); err == nil {
			t.Errorf("retrieval %+v accepted", bad)
		}
	}
	wantErrIs(t, c.SaveRetrieval(Retrieval{TargetID: 999, Kind: KindInventory}), ErrNoTarget)

	if err := c.DeleteRetrieval(tg.ID, KindArchive, "arch1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Retrieval(tg.ID, KindArchive, "arch1"); ok {
		t.Fatal("deleted retrieval still there")
	}
	if _, ok, _ := c.Retrieval(tg.ID, KindInventory, ""); !ok {
		t.Fatal("deleting one retrieval removed another")
	}
}
