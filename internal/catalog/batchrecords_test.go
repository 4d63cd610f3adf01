package catalog

import (
	"bytes"
	"testing"
	"time"
)

// batchExporter commits batches asking for their records and checks each
// time that they are, byte for byte, what ExportRecordsPart writes from
// the catalogue right after the commit.
type batchExporter struct {
	t      testing.TB
	c      *Catalog
	target int64
	mark   RecordsMark
	now    time.Time
	parts  int
}

// commit commits b and reports whether its records could be had from it
// (they are checked against the export when they could).
func (e *batchExporter) commit(b *Batch) bool {
	e.t.Helper()
	b.Records = &BatchRecords{TargetID: e.target, From: e.mark}
	if err := e.c.Commit(b); err != nil {
		e.t.Fatal(err)
	}
	var want bytes.Buffer
	next, n, err := e.c.ExportRecordsPart(e.target, e.mark, e.now, &want, e.parts == 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mark = next
	if n > 0 {
		e.parts++
	}
	br := b.Records
	if !br.OK {
		return false
	}
	var got bytes.Buffer
	gn, err := WriteRecordLines(&got, br.Lines, e.now, e.parts == 1 && n > 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if br.To != next || gn != n || !bytes.Equal(got.Bytes(), want.Bytes()) {
		e.t.Fatalf("the batch's records differ from the export:\nbatch (to %+v, %d lines)\n%s\nexport (to %+v, %d lines)\n%s",
			br.To, gn, got.String(), next, n, want.String())
	}
	return true
}

func TestBatchRecordsAreTheExport(t *testing.T) {
	c := newCatalog(t)
	ta, _ := c.EnsureTarget("local:/store")
	other, _ := c.EnsureTarget("local:/other")
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 5, 1, 10, 0, 0, 123456789, paris)
	c.now = func() time.Time { return at.Add(time.Minute) }
	e := &batchExporter{t: t, c: c, target: ta.ID, now: at}

	x := &Blob{Hash: "aa", Size: 3, Length: 200, Member: 0, Kind: BlobFile, Encoding: "grsync2+zstd+age"}
	y := &Blob{Hash: "bb", Size: 4, Offset: 200, Length: 210, Member: 1, Kind: BlobChunk}
	z := &Blob{Size: 9, Length: 300, Member: -1, Kind: BlobArchive, Encoding: "grsync1"}
	p1 := &NewObject{Object: Object{TargetID: ta.ID, ArchiveID: "P1", Kind: ObjectPack, PackID: "01", Size: 500, TreeHash: "th",
		Class: "DEEP_ARCHIVE", RunID: 7}, Blobs: []*Blob{x, y}} // no upload time: now
	a1 := &NewObject{Object: Object{TargetID: ta.ID, ArchiveID: "A1", Kind: ObjectArchive, Size: 300, Uploaded: at}, Blobs: []*Blob{z}}
	w := &Blob{Hash: "ww", Size: 1, Length: 100, Member: 0, Kind: BlobFile}
	o1 := &NewObject{Object: Object{TargetID: other.ID, ArchiveID: "O1", Kind: ObjectPack, PackID: "02", Size: 100, Uploaded: at}, Blobs: []*Blob{w}}
	mk := func(path string, pieces ...*Blob) *NewVersion {
		return &NewVersion{Version: Version{TargetID: ta.ID, Path: path, Size: 7, MTimeNS: 5, Mode: 0o644, Timestamp: at,
			UID: 1, GID: 2, OwnerKnown: true, RunID: 7, ContentHash: "h", Description: "d"}, Pieces: pieces}
	}
	first := &Batch{Objects: []*NewObject{p1, o1, a1}, Versions: []*NewVersion{
		mk("/s/a", x), mk("/s/big", x, y), mk(string([]byte{'/', 'x', 0xff}), y), mk("/s/old", z),
		{Version: Version{TargetID: other.ID, Path: "/o/f", Size: 1, MTimeNS: 1, Timestamp: at}, Pieces: []*Blob{w}},
		{Version: Version{TargetID: ta.ID, Path: "/s", Kind: KindDir, Mode: 0o2750, MTimeNS: 1e18 + 7, UID: 1000, GID: 100, OwnerKnown: true}},
		{Version: Version{TargetID: ta.ID, Path: "/s/link", Kind: KindSymlink, LinkTarget: string([]byte{0xfe, '.'}), Size: 2, MTimeNS: 11,
			Mode: 0o777, Timestamp: at}},
		{Version: Version{TargetID: ta.ID, Path: "/s/linkless-dir", Kind: KindDir, LinkTarget: "ignored", Timestamp: at}},
		{Version: Version{TargetID: ta.ID, Path: "/s/hard", Size: 7, MTimeNS: 5, Mode: 0o4755, Hardlink: "2049:1234",
			Flags: FlagChangedWhileRead, OwnerKnown: true, Timestamp: at}, Pieces: []*Blob{x}},
		{Version: Version{TargetID: ta.ID, Path: "/s/python", Size: 5, MTime: 1767225600.25, Compression: "zstd", Timestamp: at}, Pieces: []*Blob{z}},
		{Version: Version{TargetID: ta.ID, Path: "/s/empty", Timestamp: at}},
	}}
	if !e.commit(first) {
		t.Fatal("the first batch's records were not had from it")
	}
	// Pieces committed before (a copy of /s/a), and tombstones, one of a
	// path already deleted.
	if !e.commit(&Batch{Versions: []*NewVersion{mk("/s/copy", x, y)},
		Deleted: []Version{{TargetID: ta.ID, Path: "/s/a", Timestamp: at}, {TargetID: ta.ID, Path: "/s/nothing"},
			{TargetID: ta.ID, Path: "/s", Kind: KindDir, MTimeNS: 3, Timestamp: at}}}) {
		t.Fatal("the second batch's records were not had from it")
	}
	// A row written otherwise in between: the next batch is exported.
	if _, err := c.Record(Version{TargetID: ta.ID, Path: "/s/between", ArchiveID: "V", Timestamp: at}); err != nil {
		t.Fatal(err)
	}
	if e.commit(&Batch{Versions: []*NewVersion{mk("/s/after", y)}}) {
		t.Fatal("a batch after a row written otherwise gave its own records")
	}
	if !e.commit(&Batch{Versions: []*NewVersion{mk("/s/again", x)}}) {
		t.Fatal("a batch continuing the export again did not give its records")
	}
	if e.parts != 4 {
		t.Fatalf("%d parts exported, want 4", e.parts)
	}
}

// Any version a sync can commit gives the records the export gives.
func FuzzBatchRecords(f *testing.F) {
	f.Add("/a/b", "", uint8(0), false, int64(7), int64(5), 0.0, uint32(0o644), true, int64(1000), int64(0), uint8(0), "h", int64(123456789), 3600)
	f.Add("/\xff", "\xfe", uint8(2), false, int64(2), int64(0), 1.5, uint32(0o777), false, int64(0), int64(0), uint8(1), "", int64(0), -7200)
	f.Add("/d", "x", uint8(1), true, int64(0), int64(1e18), 0.0, uint32(0o2750), true, int64(5), int64(6), uint8(0), "", int64(999), 0)
	f.Fuzz(func(t *testing.T, path, link string, kind uint8, deleted bool, size, mtimeNS int64, mtime float64, mode uint32,
		owner bool, uid, gid int64, flags uint8, hash string, ns int64, zone int) {
		if checkPath(path) != nil || kind > 2 || zone < -86400 || zone > 86400 || ns < 0 || ns > 1e15 {
			return
		}
		c := newCatalog(t)
		tg, _ := c.EnsureTarget("local:/store")
		at := time.Unix(1767225600, ns).In(time.FixedZone("z", zone))
		e := &batchExporter{t: t, c: c, target: tg.ID, now: at}
		bl := &Blob{Hash: hash, Size: size, Length: 10, Member: 0, Kind: BlobFile}
		v := Version{TargetID: tg.ID, Path: path, LinkTarget: link, Kind: EntryKind(kind), Size: size, MTimeNS: mtimeNS,
			MTime: mtime, Mode: mode, OwnerKnown: owner, UID: uid, GID: gid, Flags: Flags(flags), ContentHash: hash, Timestamp: at}
		b := &Batch{Objects: []*NewObject{{Object: Object{TargetID: tg.ID, ArchiveID: "P", Kind: ObjectPack, Size: 10, Uploaded: at}, Blobs: []*Blob{bl}}}}
		if kind == 0 {
			b.Versions = []*NewVersion{{Version: v, Pieces: []*Blob{bl}}}
		} else {
			b.Versions = []*NewVersion{{Version: v}}
		}
		if !e.commit(b) {
			t.Fatal("a batch on an empty catalogue did not give its records")
		}
		if deleted {
			if !e.commit(&Batch{Deleted: []Version{{TargetID: tg.ID, Path: path, Kind: EntryKind(kind), MTimeNS: mtimeNS, Timestamp: at}}}) {
				t.Fatal("a tombstone batch did not give its records")
			}
		}
	})
}
