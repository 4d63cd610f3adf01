package catalog

import (
	"path/filepath"
	"testing"
	"time"
)

// A target remembers its Object Lock across reopening (read-only too);
// a catalogue of schema 7 gets the columns, its targets no lock; HasStored
// says when a first sync may still choose one.
func TestTargetRemembersLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v7.db")
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.EnsureTarget("s3:bucket/laptop")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Back to schema 7, as a grsync before migrations 8 to 10 left it.
	db := rawDB(t, path, false)
	for _, q := range []string{"ALTER TABLE targets DROP COLUMN lock_mode", "ALTER TABLE targets DROP COLUMN lock_days",
		"ALTER TABLE objects DROP COLUMN condemned_at", "ALTER TABLE retrievals DROP COLUMN range_offset", "ALTER TABLE retrievals DROP COLUMN range_length",
		"PRAGMA user_version = 7"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	ro, err := Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := ro.Target("s3:bucket/laptop")
	ro.Close()
	if err != nil || !ok || got.LockMode != "" || got.LockDays != 0 {
		t.Fatalf("a schema 7 target read-only: %+v %v %v", got, ok, err)
	}
	c, err = Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stored, err := c.HasStored(tg.ID)
	if err != nil || stored {
		t.Fatalf("a new target has something stored: %v %v", stored, err)
	}
	if err := c.SetLock(tg.ID, "GOVERNANCE", 210); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLock(tg.ID+99, "GOVERNANCE", 210); err == nil {
		t.Error("the lock of an unknown target was recorded")
	}
	if _, err := c.Record(Version{TargetID: tg.ID, Path: "/a", Size: 1, ArchiveID: "A1"}); err != nil {
		t.Fatal(err)
	}
	if stored, err := c.HasStored(tg.ID); err != nil || !stored {
		t.Errorf("a target with a version: stored %v %v", stored, err)
	}
	c.Close()
	ro, err = Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	got, _, err = ro.Target("s3:bucket/laptop")
	if err != nil || got.LockMode != "GOVERNANCE" || got.LockDays != 210 {
		t.Fatalf("after reopening: %+v %v", got, err)
	}
}

// NeededObjects lists what a kept version needs (and records objects),
// not what only forgotten versions used nor what is deleted; with a date,
// only those whose lock ends by then or is unknown. SetObjectLocks and
// AddObject record locks.
func TestNeededObjectsAndTheirLocks(t *testing.T) {
	c := newCatalog(t)
	tg, err := c.EnsureTarget("s3:bucket")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	obj := func(id string, kind ObjectKind, until time.Time, blobs ...*Blob) *NewObject {
		o := &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: id, Kind: kind, Size: 100, Class: "DEEP_ARCHIVE", Uploaded: t0}, Blobs: blobs}
		if !until.IsZero() {
			o.LockMode, o.LockUntil = "GOVERNANCE", until
		}
		return o
	}
	blob := func(h string) *Blob {
		return &Blob{Hash: h, Size: 1, Length: 50, Member: 0, Kind: BlobFile, Encoding: "grsync2+zstd+age"}
	}
	kept, old, gone := blob("k"), blob("o"), blob("g")
	objs := []*NewObject{
		obj("KEPT", ObjectPack, t0.Add(200*day), kept),    // a kept version needs it
		obj("OLD", ObjectPack, t0.Add(20*day), old),       // only a forgotten version
		obj("RECORDS", ObjectRecords, t0.Add(25*day)),     // records objects are always needed
		obj("NOLOCK", ObjectPack, time.Time{}, blob("n")), // a kept version, lock unknown
		obj("DELETED", ObjectPack, t0.Add(10*day), gone),
	}
	vKept := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/k", Size: 1}, Pieces: []*Blob{kept}}
	vOld := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/o", Size: 1}, Pieces: []*Blob{old}}
	vNoLock := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/n", Size: 1}, Pieces: []*Blob{objs[3].Blobs[0]}}
	vGone := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/g", Size: 1}, Pieces: []*Blob{gone}}
	if err := c.Commit(&Batch{Objects: objs, Versions: []*NewVersion{vKept, vOld, vNoLock, vGone}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Forget([]int64{vOld.ID}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.Exec("UPDATE objects SET deleted_at = ? WHERE archive_id = 'DELETED'", formatTime(t0)); err != nil {
		t.Fatal(err)
	}
	ids := func(os []Object) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.ArchiveID)
		}
		return out
	}
	all, err := c.NeededObjects(tg.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "needed objects", ids(all), []string{"KEPT", "RECORDS", "NOLOCK"})
	due, err := c.NeededObjects(tg.ID, t0.Add(30*day))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "locks ending within 30 days", ids(due), []string{"RECORDS", "NOLOCK"})
	if !due[0].LockUntil.Equal(t0.Add(25*day)) || due[0].LockMode != "GOVERNANCE" {
		t.Errorf("records object's lock read back as %s %v", due[0].LockMode, due[0].LockUntil)
	}

	later := t0.Add(240 * day)
	n, err := c.SetObjectLocks(tg.ID, []ObjectLock{{ArchiveID: "RECORDS", Mode: "GOVERNANCE", Until: later},
		{ArchiveID: "NOLOCK", Mode: "COMPLIANCE", Until: later}, {ArchiveID: "UNKNOWN", Mode: "GOVERNANCE", Until: later}})
	if err != nil || n != 2 {
		t.Fatalf("SetObjectLocks: %d %v, want 2 (the unknown object skipped)", n, err)
	}
	if due, _ := c.NeededObjects(tg.ID, t0.Add(30*day)); len(due) != 0 {
		t.Errorf("after extending: still due %v", ids(due))
	}
	if err := c.AddObject(Object{TargetID: tg.ID, ArchiveID: "LEFT", Kind: ObjectPack, Size: 9, Uploaded: t0,
		LockMode: "GOVERNANCE", LockUntil: later}); err != nil {
		t.Fatal(err)
	}
	live, err := c.Objects(tg.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range live {
		if o.ArchiveID == "NOLOCK" && (o.LockMode != "COMPLIANCE" || !o.LockUntil.Equal(later)) {
			t.Errorf("NOLOCK recorded as %s %v", o.LockMode, o.LockUntil)
		}
		if o.ArchiveID == "LEFT" && (o.LockMode != "GOVERNANCE" || !o.LockUntil.Equal(later)) {
			t.Errorf("AddObject recorded LEFT as %s %v", o.LockMode, o.LockUntil)
		}
	}
	if all, _ := c.NeededObjects(tg.ID, time.Time{}); len(all) != 3 {
		t.Errorf("an object no version uses is needed: %v", ids(all))
	}
}
