package catalog

import (
	"testing"
	"time"
)

// Every archive of the Python tools' catalogue is live after migration
// (their rows got one piece each), and so is an archive a row an old tool
// appended names before it has a piece: prune never deletes what a kept
// row names.
func TestLegacyArchivesAreLive(t *testing.T) {
	c, path := openLegacy(t)
	uses, err := c.ObjectUses(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) == 0 {
		t.Fatal("the fixture's archives should be objects")
	}
	for _, u := range uses {
		if !u.Live() || !u.Prunable() || u.Class != "" {
			t.Errorf("legacy archive %s: live %v, prunable %v, class %q", u.ArchiveID, u.Live(), u.Prunable(), u.Class)
		}
	}
	// A row naming an archive, without pieces, as an old tool appends it.
	db := rawDB(t, path, false)
	if _, err := db.Exec(`INSERT INTO objects (target_id, archive_id, kind, size, uploaded_at) VALUES (1, 'appended', 'archive', 10, '2020-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO sync_history (path, file_size, mtime, archive_id, target_id) VALUES ('/x', 10, 1, 'appended', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	uses, _ = c.ObjectUses(1)
	var ids []int64
	for _, u := range uses {
		ids = append(ids, u.ID)
		if u.ArchiveID == "appended" && !u.Named {
			t.Error("an archive a kept row names is live")
		}
	}
	if got, err := c.Condemn(1, ids, time.Now()); err != nil || len(got) != 0 {
		t.Fatalf("nothing live may be condemned: %v %v", got, err)
	}
}

// Repoint moves version pieces to the same content elsewhere in one
// transaction (the rows' Python columns follow), refuses a condemned
// destination, and RelinkPieces finds the content an absent object held.
func TestRepointAndRelink(t *testing.T) {
	c := newCatalog(t)
	tg, err := c.EnsureTarget("local:/st")
	if err != nil {
		t.Fatal(err)
	}
	obj := func(id string, blobs ...*Blob) *NewObject {
		return &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: id, Kind: ObjectPack, PackID: "00", Size: 100, TreeHash: "th-" + id}, Blobs: blobs}
	}
	old1 := &Blob{Hash: "h1", Size: 10, Offset: 0, Length: 20, Member: 0, Kind: BlobFile, Encoding: "grsync2+zstd"}
	old2 := &Blob{Hash: "h2", Size: 10, Offset: 20, Length: 20, Member: 1, Kind: BlobFile, Encoding: "grsync2+zstd"}
	v := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/a", Size: 20}, Pieces: []*Blob{old1, old2}}
	if err := c.Commit(&Batch{Objects: []*NewObject{obj("old", old1, old2)}, Versions: []*NewVersion{v}}); err != nil {
		t.Fatal(err)
	}
	new1 := &Blob{Hash: "h1", Size: 10, Offset: 0, Length: 15, Member: 0, Kind: BlobFile, Encoding: "grsync2+zstd+age"}
	moved := obj("new", new1)
	if err := c.Repoint(tg.ID, []*NewObject{moved}, []Move{{From: old1.ID, To: new1}}, nil); err != nil {
		t.Fatal(err)
	}
	latest, _, _ := c.Latest(tg.ID, "/a")
	if latest.ArchiveID != "new" || latest.Checksum != "th-new" || latest.Compression != "grsync2+zstd+age" || latest.StoredSize != 35 {
		t.Errorf("the row's first piece moved: %+v", latest)
	}
	uses, _ := c.ObjectUses(tg.ID)
	for _, u := range uses {
		if u.ArchiveID == "old" && (u.LiveBlobs != 1 || u.LiveBytes != 20 || u.BlobBytes != 40) {
			t.Errorf("old pack: %+v", u)
		}
		if u.ArchiveID == "new" && u.LiveBlobs != 1 {
			t.Errorf("new pack: %+v", u)
		}
	}
	// A condemned object takes no moves.
	spare := &Blob{Hash: "h2", Size: 10, Length: 12, Member: 0, Kind: BlobFile}
	if err := c.Commit(&Batch{Objects: []*NewObject{obj("spare", spare)}}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Condemn(tg.ID, []int64{spare.ObjectID}, time.Now()); err != nil || len(got) != 1 {
		t.Fatalf("condemn the unused spare: %v %v", got, err)
	}
	if err := c.Repoint(tg.ID, nil, []Move{{From: old2.ID, To: spare}}, nil); err == nil {
		t.Error("a move onto a condemned object must be refused")
	}
	// The store lost "old": its second piece has no other copy (the spare
	// is condemned), the first already moved.
	n, err := c.RelinkPieces(tg.ID, func(id string) bool { return id != "old" })
	if err != nil || n != 0 {
		t.Errorf("relink with no usable copy: %d %v", n, err)
	}
	other := &Blob{Hash: "h2", Size: 10, Length: 13, Member: 1, Kind: BlobFile}
	if err := c.Commit(&Batch{Objects: []*NewObject{obj("other", other)}}); err != nil {
		t.Fatal(err)
	}
	if n, err = c.RelinkPieces(tg.ID, func(id string) bool { return id != "old" }); err != nil || n != 1 {
		t.Fatalf("relink: %d %v", n, err)
	}
	ps, _ := c.Pieces([]int64{v.ID})
	if len(ps[v.ID]) != 2 || ps[v.ID][0].Object.ArchiveID != "new" || ps[v.ID][1].Object.ArchiveID != "other" {
		t.Errorf("pieces after relink: %+v", ps[v.ID])
	}
}
