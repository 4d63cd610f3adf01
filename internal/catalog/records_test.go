package catalog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// versionsOf returns every row of the target with its pieces, as text, in
// order: what a recovered catalogue must give back.
func versionsOf(t *testing.T, c *Catalog, target int64) []string {
	t.Helper()
	rows, err := c.db.Query(`SELECT `+versionColumns+` FROM sync_history h WHERE h.target_id = ? ORDER BY h.id`, target)
	if err != nil {
		t.Fatal(err)
	}
	var vs []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	rows.Close()
	var ids []int64
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	ps, err := c.Pieces(ids)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		s := v.Path + "|" + v.Kind.String() + "|" + v.LinkTarget + "|" + v.Timestamp.Format(time.RFC3339Nano) + "|" + v.ContentHash
		if v.Deleted {
			s += "|deleted"
		}
		if v.OwnerKnown {
			s += fmt.Sprintf("|owner %d:%d", v.UID, v.GID)
		}
		s += fmt.Sprintf("|size %d|mtime %d|mode %o|hardlink %q|flags %d", v.Size, v.MTimeNS, v.Mode, v.Hardlink, v.Flags)
		for _, p := range ps[v.ID] {
			s += "|" + p.Object.ArchiveID + ":" + p.Hash + ":" + p.Object.PackID
		}
		out = append(out, s)
	}
	return out
}

func TestRecordsExportImportRoundTrip(t *testing.T) {
	a := newCatalog(t)
	ta, _ := a.EnsureTarget("local:/store")
	at := time.Date(2026, 5, 1, 10, 0, 0, 123, time.UTC)
	x, y := &Blob{Hash: "aa", Size: 3, Length: 200, Member: 0, Kind: BlobFile},
		&Blob{Hash: "bb", Size: 4, Offset: 200, Length: 210, Member: 1, Kind: BlobChunk}
	p1 := &NewObject{Object: Object{TargetID: ta.ID, ArchiveID: "P1", Kind: ObjectPack, PackID: "01", Size: 500, Class: "LOCAL", Uploaded: at}, Blobs: []*Blob{x, y}}
	mk := func(path string, pieces ...*Blob) *NewVersion {
		return &NewVersion{Version: Version{TargetID: ta.ID, Path: path, Size: 7, MTimeNS: 5, Mode: 0o644, Timestamp: at, UID: 1, GID: 2, OwnerKnown: true}, Pieces: pieces}
	}
	bad := string([]byte{'/', 'x', 0xff, 'y'})
	if err := a.Commit(&Batch{Objects: []*NewObject{p1}, Versions: []*NewVersion{
		mk("/s/a", x), mk("/s/copy-of-a", x), mk("/s/big", x, y), mk(bad, y),
		{Version: Version{TargetID: ta.ID, Path: "/s", Kind: KindDir, Mode: 0o2750, MTimeNS: 1e18 + 7, UID: 1000, GID: 100, OwnerKnown: true, Timestamp: at}},
		{Version: Version{TargetID: ta.ID, Path: "/s/empty", Kind: KindDir, Mode: 0o700, MTimeNS: 9, Timestamp: at}},
		{Version: Version{TargetID: ta.ID, Path: "/s/link", Kind: KindSymlink, LinkTarget: string([]byte{0xfe, '.'}), Size: 2, MTimeNS: 11,
			Mode: 0o777, UID: 5, GID: 6, OwnerKnown: true, Timestamp: at}},
		{Version: Version{TargetID: ta.ID, Path: "/s/hard", Size: 7, MTimeNS: 5, Mode: 0o4755, Hardlink: "2049:1234", Flags: FlagChangedWhileRead,
			UID: 0, GID: 0, OwnerKnown: true, Timestamp: at}, Pieces: []*Blob{x}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Record(Version{TargetID: ta.ID, Path: "/s/old", Size: 1, MTimeNS: 1, ArchiveID: "V1ARCH", StoredSize: 99, Compression: "grsync1+zstd", Timestamp: at}); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkDeleted(ta.ID, []string{"/s/copy-of-a"}, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(&Batch{Deleted: []Version{{TargetID: ta.ID, Path: "/s/empty", Kind: KindDir, Timestamp: at.Add(2 * time.Hour)}}}); err != nil {
		t.Fatal(err)
	}

	var doc bytes.Buffer
	mark, n, err := a.ExportRecords(ta.ID, RecordsMark{}, at, &doc)
	if err != nil || n == 0 {
		t.Fatalf("export: %d lines, %v", n, err)
	}
	if strings.Contains(doc.String(), "\xff") {
		t.Fatal("a non-UTF-8 path went into the document raw")
	}
	// Nothing new: nothing written.
	var empty bytes.Buffer
	if m2, n2, err := a.ExportRecords(ta.ID, mark, at, &empty); err != nil || n2 != 0 || empty.Len() != 0 || m2 != mark {
		t.Fatalf("a second export with nothing new wrote %d lines (%q), %v", n2, empty.String(), err)
	}

	b := newCatalog(t)
	tb, _ := b.EnsureTarget("local:/store")
	_, lines, err := ReadRecords(bytes.NewReader(doc.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.ImportRecords(tb.ID, lines)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 2 || st.Blobs != 3 || st.Versions != 11 {
		t.Fatalf("imported %+v", st)
	}
	want, got := versionsOf(t, a, ta.ID), versionsOf(t, b, tb.ID)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("recovered catalogue differs:\nwant\n%s\ngot\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	// Importing again adds nothing.
	if st, err := b.ImportRecords(tb.ID, lines); err != nil || st.Versions != 0 || st.Known != 11 {
		t.Fatalf("re-import: %+v %v", st, err)
	}
	// A version whose content no line names is refused, and nothing added.
	c := newCatalog(t)
	tc, _ := c.EnsureTarget("local:/store")
	var onlyVersions []RecordLine
	for _, l := range lines {
		if l.Version != nil {
			onlyVersions = append(onlyVersions, l)
		}
	}
	if _, err := c.ImportRecords(tc.ID, onlyVersions); err == nil {
		t.Fatal("versions without their content were imported")
	}
	if len(versionsOf(t, c, tc.ID)) != 0 {
		t.Fatal("a failed import left rows")
	}
}

func TestReadRecordsIsStrict(t *testing.T) {
	for _, doc := range []string{
		``,
		`{"grsync_records":2,"created":"2026-01-01T00:00:00Z"}`,
		`{"grsync_records":1,"created":"2026-01-01T00:00:00Z","extra":1}`,
		`{"grsync_records":1,"created":"2026-01-01T00:00:00Z"}` + "\n" + `{}`,
		`{"grsync_records":1,"created":"2026-01-01T00:00:00Z"}` + "\n" + `{"object":{"id":"x"},"blob":{"object":"x"}}`,
		`{"grsync_records":1,"created":"2026-01-01T00:00:00Z"}` + "\n" + `{"version":{"path":"/a","nope":1}}`,
	} {
		if _, _, err := ReadRecords(strings.NewReader(doc)); err == nil {
			t.Errorf("accepted %q", doc)
		}
	}
}

func FuzzReadRecords(f *testing.F) {
	f.Add(`{"grsync_records":1,"created":"2026-01-01T00:00:00Z"}` + "\n" +
		`{"object":{"id":"P","kind":"pack","size":9,"uploaded":"2026-01-01T00:00:00Z"}}` + "\n" +
		`{"blob":{"object":"P","size":1,"offset":0,"length":9,"member":0,"kind":"file"}}` + "\n" +
		`{"version":{"path":"/a","kind":0,"size":1,"recorded":"2026-01-01T00:00:00Z","pieces":[{"object":"P","offset":0}]}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		_, lines, err := ReadRecords(strings.NewReader(doc))
		if err != nil {
			return
		}
		c := newCatalog(t)
		tg, _ := c.EnsureTarget("local:/s")
		c.ImportRecords(tg.ID, lines) // must not panic; errors are fine
	})
}

// A document written in parts, a part after each commit, is the document
// written at once: same lines, one header, and importing it gives the same
// rows.
func TestRecordsExportInParts(t *testing.T) {
	a := newCatalog(t)
	ta, _ := a.EnsureTarget("local:/store")
	other, _ := a.EnsureTarget("local:/other")
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	commit := func(tg Target, n int) {
		t.Helper()
		bl := &Blob{Hash: fmt.Sprintf("h%d-%d", tg.ID, n), Size: 3, Length: 100, Member: 0, Kind: BlobFile}
		o := &NewObject{Object: Object{TargetID: tg.ID, ArchiveID: fmt.Sprintf("A%d-%d", tg.ID, n), Kind: ObjectPack, PackID: "01", Size: 100, Uploaded: at}, Blobs: []*Blob{bl}}
		if err := a.Commit(&Batch{Objects: []*NewObject{o}, Versions: []*NewVersion{
			{Version: Version{TargetID: tg.ID, Path: fmt.Sprintf("/s/f%d", n), Size: 3, MTimeNS: 1, Mode: 0o644, Timestamp: at}, Pieces: []*Blob{bl}}}}); err != nil {
			t.Fatal(err)
		}
	}
	var parts bytes.Buffer
	mark := RecordsMark{}
	total := 0
	for i := range 4 {
		commit(ta, i)
		commit(other, i) // rows of another target between
		m, n, err := a.ExportRecordsPart(ta.ID, mark, at, &parts, total == 0)
		if err != nil {
			t.Fatal(err)
		}
		mark, total = m, total+n
	}
	var whole bytes.Buffer
	wm, wn, err := a.ExportRecords(ta.ID, RecordsMark{}, at, &whole)
	if err != nil {
		t.Fatal(err)
	}
	if wm != mark || wn != total {
		t.Errorf("parts reach mark %+v with %d lines, the whole %+v with %d", mark, total, wm, wn)
	}
	if strings.Count(parts.String(), `"grsync_records"`) != 1 {
		t.Errorf("the parts hold %d headers, want 1:\n%s", strings.Count(parts.String(), `"grsync_records"`), parts.String())
	}
	b := newCatalog(t)
	tb, _ := b.EnsureTarget("local:/store")
	_, lines, err := ReadRecords(bytes.NewReader(parts.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := b.ImportRecords(tb.ID, lines); err != nil || st.Versions != 4 || st.Objects != 4 {
		t.Fatalf("import of the parts: %+v, %v", st, err)
	}
	if got, want := versionsOf(t, b, tb.ID), versionsOf(t, a, ta.ID); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("imported rows differ:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The export reads versions in windows of exportWindow ids: versions on
// both sides of a window's edge keep their pieces, in order.
func TestRecordsExportAcrossWindows(t *testing.T) {
	a := newCatalog(t)
	ta, _ := a.EnsureTarget("local:/store")
	other, _ := a.EnsureTarget("local:/other")
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	n := exportWindow + 10
	o := &NewObject{Object: Object{TargetID: ta.ID, ArchiveID: "P", Kind: ObjectPack, PackID: "01", Size: 1 << 20, Uploaded: at}}
	oo := &NewObject{Object: Object{TargetID: other.ID, ArchiveID: "Q", Kind: ObjectPack, PackID: "02", Size: 1 << 20, Uploaded: at}}
	batch := &Batch{Objects: []*NewObject{o, oo}}
	for i := range n {
		x := &Blob{Hash: fmt.Sprintf("x%d", i), Size: 3, Offset: int64(2 * i), Length: 1, Member: int64(2 * i), Kind: BlobChunk}
		y := &Blob{Hash: fmt.Sprintf("y%d", i), Size: 3, Offset: int64(2*i + 1), Length: 1, Member: int64(2*i + 1), Kind: BlobChunk}
		o.Blobs = append(o.Blobs, x, y)
		pieces := []*Blob{y, x} // not in the blobs' order
		if i%3 == 0 {
			pieces = []*Blob{x}
		}
		batch.Versions = append(batch.Versions, &NewVersion{Version: Version{TargetID: ta.ID, Path: fmt.Sprintf("/s/f%05d", i),
			Size: 6, MTimeNS: 1, Mode: 0o644, Timestamp: at}, Pieces: pieces})
		if i%1000 == 0 { // rows of another target between
			z := &Blob{Hash: fmt.Sprintf("z%d", i), Size: 3, Length: 1, Member: int64(i), Kind: BlobFile}
			oo.Blobs = append(oo.Blobs, z)
			batch.Versions = append(batch.Versions, &NewVersion{Version: Version{TargetID: other.ID, Path: fmt.Sprintf("/o/f%d", i),
				Size: 3, MTimeNS: 1, Mode: 0o644, Timestamp: at}, Pieces: []*Blob{z}})
		}
	}
	if err := a.Commit(batch); err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if _, _, err := a.ExportRecords(ta.ID, RecordsMark{}, at, &doc); err != nil {
		t.Fatal(err)
	}
	b := newCatalog(t)
	tb, _ := b.EnsureTarget("local:/store")
	_, lines, err := ReadRecords(bytes.NewReader(doc.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := b.ImportRecords(tb.ID, lines); err != nil || st.Versions != n {
		t.Fatalf("import: %+v, %v; want %d versions", st, err, n)
	}
	if got, want := versionsOf(t, b, tb.ID), versionsOf(t, a, ta.ID); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("imported rows differ from the exported ones")
	}
}
