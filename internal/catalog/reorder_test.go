package catalog

import (
	"testing"
	"time"
)

// Versions recorded out of time order (a rebuild learning an older one
// late) get ids in time order, their pieces with them; other paths'
// rows and rows already in order keep their ids.
func TestReorderVersionsFollowsRecordedTimes(t *testing.T) {
	c := newCatalog(t)
	tg, err := c.EnsureTarget("local:/store")
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 1, 1+d, 0, 0, 0, 0, time.UTC) }
	record := func(path string, d int, size int64) int64 {
		t.Helper()
		id, err := c.Record(Version{TargetID: tg.ID, Path: path, Size: size, MTimeNS: day(d).UnixNano(), Mode: 0o644,
			ArchiveID: "archive-" + path + "-" + day(d).Format("0102"), Timestamp: day(d)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	record("/a", 0, 1)
	record("/a", 3, 4) // from the records of a later run
	record("/b", 1, 10)
	record("/a", 1, 2) // learnt late, from packs
	record("/a", 2, 3)
	moved, err := c.ReorderVersions(tg.ID, []string{"/a", "/b"})
	if err != nil {
		t.Fatal(err)
	}
	if moved != 3 {
		t.Errorf("%d rows moved, want 3 (days 1, 2 and 3 of /a)", moved)
	}
	latest, ok, err := c.Latest(tg.ID, "/a")
	if err != nil || !ok || latest.Size != 4 {
		t.Fatalf("latest of /a: %+v %v %v; want the one of day 3", latest, ok, err)
	}
	for d := 0; d <= 3; d++ {
		vs, err := c.Select(tg.ID, []string{"/a"}, day(d).Add(time.Hour))
		if err != nil || len(vs) != 1 || vs[0].Size != int64(d+1) {
			t.Errorf("/a as of day %d: %+v %v", d, vs, err)
			continue
		}
		ps, err := c.Pieces([]int64{vs[0].ID})
		if err != nil || len(ps[vs[0].ID]) != 1 || ps[vs[0].ID][0].Object.ArchiveID != vs[0].ArchiveID {
			t.Errorf("/a as of day %d: pieces %+v %v, want its own archive", d, ps, err)
		}
	}
	if moved, err := c.ReorderVersions(tg.ID, []string{"/a", "/b"}); err != nil || moved != 0 {
		t.Errorf("a second reorder moved %d rows (%v), want none", moved, err)
	}
}
