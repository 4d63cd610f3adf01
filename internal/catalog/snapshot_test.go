package catalog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// twoTargets gives a catalogue two targets with files each; the second's
// paths hold "secret-b".
func twoTargets(t *testing.T) (*Catalog, Target, Target) {
	t.Helper()
	c := newCatalog(t)
	ta, _ := c.EnsureTarget("local:/store-a")
	tb, _ := c.EnsureTarget("s3:bucket/b")
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, tg := range []Target{ta, tb} {
		name := []string{"/home/a/file-a", "/home/b/secret-b"}[i]
		blob := &Blob{Hash: []string{"aa", "bb"}[i], Size: 3, Length: 200, Kind: BlobFile}
		obj := &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: "P" + name, Kind: ObjectPack, PackID: "01", Size: 500, Uploaded: at}, Blobs: []*Blob{blob}}
		if err := c.Commit(&Batch{Objects: []*NewObject{obj}, Versions: []*NewVersion{
			{Version: Version{TargetID: tg.ID, Path: name, Size: 3, MTimeNS: 1, Timestamp: at}, Pieces: []*Blob{blob}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.BeginRun(tg.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	return c, ta, tb
}

func TestSnapshotHoldsOneTargetAndRecovers(t *testing.T) {
	c, ta, _ := twoTargets(t)
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.db")
	mark, err := c.WriteSnapshot(ta.ID, snap)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the snapshot copy must be private: %v %v", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(snap)
	if bytes.Contains(raw, []byte("secret-b")) || bytes.Contains(raw, []byte("bucket/b")) {
		t.Fatal("the snapshot of target a holds bytes of target b")
	}
	if !bytes.Contains(raw, []byte("file-a")) {
		t.Fatal("the snapshot lacks target a's file")
	}
	info, err := CheckSnapshotFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if info.Target.Location != ta.Location || info.Mark != mark || info.Rows != 1 {
		t.Fatalf("snapshot info %+v, mark %+v", info, mark)
	}

	db := filepath.Join(dir, "recovered.db")
	if err := InstallSnapshot(snap, db); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snap); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the installed copy should be gone: %v", err)
	}
	r, err := Open(db, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want, _ := nameSet(c.db, "SELECT name FROM sqlite_master WHERE type = 'index'")
	got, _ := nameSet(r.db, "SELECT name FROM sqlite_master WHERE type = 'index'")
	if len(want) != len(got) {
		t.Errorf("indexes: recovered %v, original %v", got, want)
	}
	for n := range want {
		if !got[n] {
			t.Errorf("index %s not rebuilt", n)
		}
	}
	if ok, _ := nameSet(r.db, "SELECT name FROM sqlite_master WHERE name = '"+snapshotIndexes+"'"); len(ok) > 0 {
		t.Error("the snapshot's index table stayed")
	}
	if w, g := versionsOf(t, c, ta.ID), versionsOf(t, r, ta.ID); strings.Join(w, "\n") != strings.Join(g, "\n") {
		t.Fatalf("recovered rows differ:\n%v\n%v", w, g)
	}
	// Installing never replaces a file.
	snap2 := filepath.Join(dir, "snap2.db")
	if _, err := c.WriteSnapshot(ta.ID, snap2); err != nil {
		t.Fatal(err)
	}
	if err := InstallSnapshot(snap2, db); err == nil {
		t.Fatal("installing over an existing catalogue must fail")
	}
}

func TestCheckSnapshotFileRefusesDamage(t *testing.T) {
	c, ta, _ := twoTargets(t)
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.db")
	if _, err := c.WriteSnapshot(ta.ID, snap); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(snap)
	cases := map[string][]byte{
		"truncated":    good[:len(good)/2],
		"not sqlite":   bytes.Repeat([]byte("x"), 4096),
		"page garbled": append(append(append([]byte{}, good[:2*4096]...), bytes.Repeat([]byte{0x5a}, 4096)...), good[3*4096:]...),
	}
	for name, b := range cases {
		p := filepath.Join(dir, name+".db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckSnapshotFile(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A whole catalogue with two targets is not a snapshot.
	whole := filepath.Join(dir, "whole.db")
	if _, err := c.db.Exec("VACUUM INTO ?", whole); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSnapshotFile(whole); err == nil || !strings.Contains(err.Error(), "2 targets") {
		t.Errorf("a catalogue of two targets: %v", err)
	}
}

func TestChangesSinceSnapshot(t *testing.T) {
	c, ta, tb := twoTargets(t)
	mark, err := c.WriteSnapshot(ta.ID, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.ChangesSince(ta.ID, mark)
	if err != nil || ch.Any() {
		t.Fatalf("nothing changed, got %+v %v", ch, err)
	}
	at := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	// Another target's change is not this one's.
	if _, err := c.Record(Version{TargetID: tb.ID, Path: "/home/b/new", ArchiveID: "X", Timestamp: at}); err != nil {
		t.Fatal(err)
	}
	if ch, _ := c.ChangesSince(ta.ID, mark); ch.Any() {
		t.Fatalf("target b's change counted for a: %+v", ch)
	}
	// A snapshot object is not a change; a deletion (a new row) is.
	if err := c.RecordSnapshot(Object{TargetID: ta.ID, ArchiveID: "S1", PackID: "02", Size: 10, Uploaded: at}, mark, 0); err != nil {
		t.Fatal(err)
	}
	if ch, _ := c.ChangesSince(ta.ID, mark); ch.Any() {
		t.Fatalf("the snapshot object counted as a change: %+v", ch)
	}
	if st, ok, err := c.Snapshot(ta.ID); err != nil || !ok || st.ArchiveID != "S1" || st.Mark != mark {
		t.Fatalf("snapshot state %+v %v %v", st, ok, err)
	}
	// Forgetting a row changes no id, but the generation.
	var id int64
	c.db.QueryRow("SELECT id FROM sync_history WHERE target_id = ?", ta.ID).Scan(&id)
	if err := c.Forget([]int64{id}, at); err != nil {
		t.Fatal(err)
	}
	ch, _ = c.ChangesSince(ta.ID, mark)
	if !ch.Generation || !ch.Any() {
		t.Fatalf("a forget is a change: %+v", ch)
	}
	now, err := c.CurrentMark(ta.ID)
	if err != nil || now.Generation != mark.Generation+1 {
		t.Fatalf("current mark %+v, %v", now, err)
	}
	if ch, _ := c.ChangesSince(ta.ID, now); ch.Any() {
		t.Fatalf("nothing after the current mark: %+v", ch)
	}
	if err := c.MarkDeleted(ta.ID, []string{"/home/a/file-a"}, at); err != nil {
		t.Fatal(err)
	}
	if ch, _ := c.ChangesSince(ta.ID, now); ch.Versions != 1 {
		t.Fatalf("a deletion is a new row: %+v", ch)
	}
}

func TestRestoreRunsFromRows(t *testing.T) {
	c := newCatalog(t)
	tg, _ := c.EnsureTarget("local:/s")
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, run := range []int64{7, 7, 9} {
		if _, err := c.Record(Version{TargetID: tg.ID, Path: "/f" + string(rune('a'+i)), ArchiveID: "A", RunID: run,
			Timestamp: at.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := c.RestoreRuns(tg.ID)
	if err != nil || n != 2 {
		t.Fatalf("restored %d runs, %v", n, err)
	}
	runs, _ := c.Runs(tg.ID)
	if len(runs) != 2 || runs[0].ID != 7 || !runs[0].Finished.Equal(at.Add(time.Minute)) || !runs[0].Complete {
		t.Fatalf("runs %+v", runs)
	}
	if n, _ := c.RestoreRuns(tg.ID); n != 0 {
		t.Fatal("runs restored twice")
	}
}
