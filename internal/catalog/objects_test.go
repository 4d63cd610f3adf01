package catalog

import (
	"strings"
	"testing"
	"time"
)

// Every live row of the Python tools' catalogue reads as a version with one
// piece: its whole archive.
func TestLegacyRowsGetOnePieceEach(t *testing.T) {
	c, _ := openLegacy(t)
	tgs, err := c.Targets()
	if err != nil || len(tgs) != 1 {
		t.Fatalf("targets: %v %v", tgs, err)
	}
	vs, err := c.Select(tgs[0].ID, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("fixture selects nothing")
	}
	var ids []int64
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	pieces, err := c.Pieces(ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		ps := pieces[v.ID]
		if len(ps) != 1 {
			t.Fatalf("%s: %d pieces, want 1", v.Path, len(ps))
		}
		p := ps[0]
		if p.Object.ArchiveID != v.ArchiveID || p.Kind != BlobArchive || p.Offset != 0 || p.Member != -1 {
			t.Errorf("%s: piece %+v does not name its archive %s whole", v.Path, p, v.ArchiveID)
		}
		if p.Encoding != v.Compression || p.Size != v.Size {
			t.Errorf("%s: piece encoding %q size %d, row has %q %d", v.Path, p.Encoding, p.Size, v.Compression, v.Size)
		}
		if p.Object.Kind != ObjectArchive || p.Object.Class != "" {
			t.Errorf("%s: object %+v", v.Path, p.Object)
		}
	}
}

// Rows an old tool appends after migration get their pieces at the next open.
func TestRowsAppendedByOldToolGetPieces(t *testing.T) {
	c, path := openLegacy(t)
	c.Close()
	db := rawDB(t, path, false)
	if _, err := db.Exec(`INSERT INTO sync_history (path, file_size, mtime, archive_id, location, checksum, compression, timestamp)
		VALUES ('/late/file', 7, 1700000000.5, 'LATEARCHIVE', '/123/vaults/my-vault/archives/LATEARCHIVE', 'abc', 'zstd',
		'Mon, 01 Jan 2024 00:00:00 GMT')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c2, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	tgs, _ := c2.Targets()
	v, ok, err := c2.Latest(tgs[0].ID, "/late/file")
	if err != nil || !ok {
		t.Fatalf("late row: %v %v", ok, err)
	}
	ps, err := c2.Pieces([]int64{v.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps[v.ID]) != 1 || ps[v.ID][0].Object.ArchiveID != "LATEARCHIVE" {
		t.Fatalf("late row pieces: %+v", ps[v.ID])
	}
}

func TestCommitBatchRecordsObjectsBlobsAndVersions(t *testing.T) {
	c := newCatalog(t)
	tg, err := c.EnsureTarget("local:/store")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	chunk := func(h string, size, off int64, member int64) *Blob {
		return &Blob{Hash: h, Size: size, Offset: off, Length: size + 100, Member: member, Kind: BlobChunk, Encoding: "grsync2+zstd+age"}
	}
	a, b := chunk("aa", 10, 0, 0), chunk("bb", 20, 110, 1)
	whole := &Blob{Hash: "cc", Size: 5, Offset: 230, Length: 105, Member: 2, Kind: BlobFile, Encoding: "grsync2+zstd+age"}
	pack1 := &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: "P1", Kind: ObjectPack, PackID: "00ff", Size: 400, Class: "DEEP_ARCHIVE", Uploaded: at},
		Blobs: []*Blob{a, b, whole}}
	big := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/src/big", Size: 30, MTimeNS: at.UnixNano(), Mode: 0o644, ArchiveID: "P1"},
		Pieces: []*Blob{a, b}}
	small := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/src/small", Size: 5, MTimeNS: at.UnixNano(), Mode: 0o600,
		ArchiveID: "P1", UID: 1000, GID: 1000, OwnerKnown: true}, Pieces: []*Blob{whole}}
	dir := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/src", Kind: KindDir, Mode: 0o755 | 0o40000, MTimeNS: at.UnixNano()}}
	link := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/src/link", Kind: KindSymlink, LinkTarget: "../x\nweird", Size: 10}}
	if err := c.Commit(&Batch{Objects: []*NewObject{pack1}, Versions: []*NewVersion{big, small, dir, link}}); err != nil {
		t.Fatal(err)
	}
	if pack1.ID == 0 || a.ID == 0 || a.ObjectID != pack1.ID || big.ID == 0 || dir.ID == 0 {
		t.Fatalf("ids not filled: pack %d blob %d/%d version %d", pack1.ID, a.ID, a.ObjectID, big.ID)
	}

	// A second batch reuses a committed blob (dedup) and adds a new pack.
	d := chunk("dd", 7, 0, 0)
	pack2 := &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: "P2", Kind: ObjectPack, Size: 107}, Blobs: []*Blob{d}}
	big2 := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/src/big", Size: 17, MTimeNS: at.UnixNano() + 1, ArchiveID: "P2"},
		Pieces: []*Blob{d, a}}
	if err := c.Commit(&Batch{Objects: []*NewObject{pack2}, Versions: []*NewVersion{big2}}); err != nil {
		t.Fatal(err)
	}

	ps, err := c.Pieces([]int64{big.ID, small.ID, big2.ID, dir.ID})
	if err != nil {
		t.Fatal(err)
	}
	got := func(id int64) string {
		var s []string
		for _, p := range ps[id] {
			s = append(s, p.Object.ArchiveID+":"+p.Hash)
		}
		return strings.Join(s, ",")
	}
	for id, want := range map[int64]string{big.ID: "P1:aa,P1:bb", small.ID: "P1:cc", big2.ID: "P2:dd,P1:aa", dir.ID: ""} {
		if g := got(id); g != want {
			t.Errorf("version %d pieces %q, want %q", id, g, want)
		}
	}
	if o := ps[small.ID][0].Object; o.Class != "DEEP_ARCHIVE" || !o.Uploaded.Equal(at) || o.PackID != "00ff" {
		t.Errorf("object read back as %+v", o)
	}

	vs, err := c.Select(tg.ID, []string{"/src"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Version{}
	for _, v := range vs {
		byPath[v.Path] = v
	}
	if v := byPath["/src/link"]; v.Kind != KindSymlink || v.LinkTarget != "../x\nweird" {
		t.Errorf("symlink read back as %+v", v)
	}
	if v := byPath["/src"]; v.Kind != KindDir {
		t.Errorf("folder read back as %+v", v)
	}
	if v := byPath["/src/small"]; !v.OwnerKnown || v.UID != 1000 || v.GID != 1000 {
		t.Errorf("owner read back as %+v", v)
	}
	if v := byPath["/src/big"]; v.OwnerKnown {
		t.Errorf("unknown owner read back as known: %+v", v)
	}

	if bl, ok, err := c.FindBlob(tg.ID, "bb"); err != nil || !ok || bl.ID != b.ID {
		t.Errorf("FindBlob(bb) = %+v %v %v", bl, ok, err)
	}
	if _, ok, _ := c.FindBlob(tg.ID, "zz"); ok {
		t.Error("FindBlob found a hash never stored")
	}
	if ok, err := c.HasWholeOfSize(tg.ID, 5); err != nil || !ok {
		t.Errorf("HasWholeOfSize(5) = %v %v", ok, err)
	}
	if ok, _ := c.HasWholeOfSize(tg.ID, 10); ok {
		t.Error("a chunk counted as a whole file's content")
	}
}

// A batch that fails records nothing and fills in no ids.
func TestCommitBatchIsAllOrNothing(t *testing.T) {
	c := newCatalog(t)
	tg, _ := c.EnsureTarget("local:/store")
	stray := &Blob{Hash: "ee", Size: 1, Length: 1, Kind: BlobChunk}
	ok := &Blob{Hash: "ff", Size: 1, Length: 1, Kind: BlobChunk}
	obj := &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: "P", Kind: ObjectPack}, Blobs: []*Blob{ok}}
	v := &NewVersion{Version: Version{TargetID: tg.ID, Path: "/f", Size: 2}, Pieces: []*Blob{ok, stray}}
	if err := c.Commit(&Batch{Objects: []*NewObject{obj}, Versions: []*NewVersion{v}}); err == nil {
		t.Fatal("a version with a piece in no object was committed")
	}
	if obj.ID != 0 || ok.ID != 0 || v.ID != 0 {
		t.Fatalf("ids filled by a failed commit: %d %d %d", obj.ID, ok.ID, v.ID)
	}
	if _, found, _ := c.FindBlob(tg.ID, "ff"); found {
		t.Fatal("a failed batch left a blob")
	}
	if _, found, _ := c.Latest(tg.ID, "/f"); found {
		t.Fatal("a failed batch left a version")
	}
}

// Record, the one-archive path, gives the version its archive as one piece.
func TestRecordAttachesTheArchive(t *testing.T) {
	c := newCatalog(t)
	tg, _ := c.EnsureTarget("local:/store")
	v := Version{TargetID: tg.ID, Path: "/a", Size: 3, MTimeNS: 1, ArchiveID: "A1", StoredSize: 250, Checksum: "th", ContentHash: "h1", Compression: "grsync1+zstd"}
	id1, err := c.Record(v)
	if err != nil {
		t.Fatal(err)
	}
	v.Path = "/copy-of-a"
	id2, err := c.Record(v)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.Pieces([]int64{id1, id2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps[id1]) != 1 || len(ps[id2]) != 1 || ps[id1][0].ID != ps[id2][0].ID {
		t.Fatalf("pieces %+v", ps)
	}
	p := ps[id1][0]
	if p.Length != 250 || p.Hash != "h1" || p.Object.TreeHash != "th" || p.Object.Size != 250 {
		t.Fatalf("piece %+v", p)
	}
}

func TestRunsAreNotedInOrder(t *testing.T) {
	c := newCatalog(t)
	tg, _ := c.EnsureTarget("local:/store")
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	r1, err := c.BeginRun(tg.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EndRun(r1, t0.Add(time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BeginRun(tg.ID, t0.Add(time.Hour)); err != nil { // killed: never ended
		t.Fatal(err)
	}
	runs, err := c.Runs(tg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || !runs[0].Complete || !runs[0].Finished.Equal(t0.Add(time.Minute)) || runs[1].Complete || !runs[1].Finished.IsZero() {
		t.Fatalf("runs %+v", runs)
	}
	if err := c.EndRun(999, t0, true); err == nil {
		t.Fatal("ending an unknown run succeeded")
	}
}
