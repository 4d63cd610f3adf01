package catalog

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestSelectAtTimeOnLegacyCatalog(t *testing.T) {
	c, _ := openLegacy(t)
	tg, _, _ := c.Target("glacier:us-east-1:my-vault")
	day := func(h, m int) time.Time { return time.Date(2024, 3, 16, h, m, 0, 0, time.UTC) }
	report := "/home/alice/backup-src/docs/report.txt"
	for _, tc := range []struct {
		at       time.Time
		reportID int64 // 0: report.txt not selected
		files    int
	}{
		{day(11, 59), 0, 0},
		{day(12, 0), 1, 1}, // `at` is inclusive
		{day(14, 30), 1, 3},
		{day(15, 59), 1, 4},
		{day(16, 0), 5, 4},
		{time.Time{}, 5, 4},
	} {
		vs, err := c.Select(tg.ID, nil, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != tc.files {
			t.Errorf("at %v: %d files %q, want %d", tc.at, len(vs), paths(vs), tc.files)
		}
		var got int64
		for _, v := range vs {
			if v.Path == report {
				got = v.ID
			}
		}
		if got != tc.reportID {
			t.Errorf("at %v: report.txt is row %d, want %d", tc.at, got, tc.reportID)
		}
	}
}

func TestTombstonesHideFilesUntilRestoredAndTimeTravelShowsThem(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2, t3, t4 := t1.Add(time.Hour), t1.Add(2*time.Hour), t1.Add(3*time.Hour)
	mustRecord(t, c, version(tg.ID, "/src/a", 10, t1))
	mustRecord(t, c, version(tg.ID, "/src/b", 20, t1))
	if err := c.MarkDeleted(tg.ID, []string{"/src/a", "/src/never-seen"}, t2); err != nil {
		t.Fatal(err)
	}
	sel := func(at time.Time) []string {
		vs, err := c.Select(tg.ID, []string{"/src"}, at)
		if err != nil {
			t.Fatal(err)
		}
		return paths(vs)
	}
	equal(t, "now", sel(time.Time{}), []string{"/src/b"})
	equal(t, "before the tombstone", sel(t2.Add(-time.Nanosecond)), []string{"/src/a", "/src/b"})
	equal(t, "at the tombstone", sel(t2), []string{"/src/b"})

	states, err := c.LatestStates(tg.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "state of a", states["/src/a"], State{Deleted: true})
	equal(t, "state of b", states["/src/b"], State{Size: 20, MTime: float64(t1.Unix()), MTimeNS: t1.UnixNano(), Mode: 0o644})
	if _, ok := states["/src/never-seen"]; ok {
		t.Fatal("a tombstone was recorded for a path never backed up")
	}

	// Marking again adds nothing.
	l1, _, _ := c.Latest(tg.ID, "/src/a")
	c.MarkDeleted(tg.ID, []string{"/src/a"}, t3)
	l2, _, _ := c.Latest(tg.ID, "/src/a")
	equal(t, "latest row after marking twice", l2.ID, l1.ID)
	if !l2.Deleted || l2.ArchiveID != "" || !l2.Timestamp.Equal(t2) {
		t.Fatalf("tombstone = %+v", l2)
	}

	// The file comes back.
	mustRecord(t, c, version(tg.ID, "/src/a", 11, t4))
	equal(t, "after restore", sel(time.Time{}), []string{"/src/a", "/src/b"})
	sums, err := c.Summaries(tg.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "summary of a", sums[0], FileSummary{Path: "/src/a", Size: 11, Versions: 2, LastBackup: t4, StoredSize: 110 + 111})
}

func TestSummaries(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mustRecord(t, c, version(tg.ID, "/s/x", 1, t1))
	mustRecord(t, c, version(tg.ID, "/s/x", 2, t1.Add(time.Hour)))
	mustRecord(t, c, version(tg.ID, "/s/y", 5, t1))
	c.MarkDeleted(tg.ID, []string{"/s/y"}, t1.Add(2*time.Hour))
	sums, err := c.Summaries(tg.ID, []string{"/s"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "summaries", sums, []FileSummary{
		{Path: "/s/x", Size: 2, Versions: 2, LastBackup: t1.Add(time.Hour), StoredSize: 101 + 102},
		{Path: "/s/y", Size: 5, Versions: 1, LastBackup: t1, StoredSize: 105, Deleted: true},
	})

	// Legacy rows: no stored size, times from the HTTP date.
	lc, _ := openLegacy(t)
	ltg, _, _ := lc.Target("glacier::my-vault")
	ls, err := lc.Summaries(ltg.ID, []string{"/home/alice/backup-src/docs/report.txt"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "legacy summary", ls, []FileSummary{{Path: "/home/alice/backup-src/docs/report.txt", Size: 5571,
		Versions: 2, LastBackup: time.Date(2024, 3, 16, 16, 0, 0, 0, time.UTC)}})
}

// oddPaths are file names a catalogue must store and return byte for byte.
func oddPaths() []string {
	return []string{
		"/d/100%",
		"/d/a_b",
		"/d/%_%",
		"/d/pipe|name|",
		`/d/it's "quoted"`,
		"/d/new\nline",
		"/d/tab\there",
		"/d/back\\slash",
		"/d/\xff\xfe invalid utf-8 \xc3",
		"/d/日本語 ✓",
		"/d/trailing space ",
		"/d/..",
		"/d/x*?[]{}",
		"/d/\x01\x7f",
	}
}

func TestOddPathsRoundTrip(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range oddPaths() {
		mustRecord(t, c, version(tg.ID, p, 1, at))
	}
	for _, p := range oddPaths() {
		v, ok, err := c.Latest(tg.ID, p)
		if err != nil || !ok || v.Path != p {
			t.Fatalf("Latest(%q) = %q, %v, %v", p, v.Path, ok, err)
		}
		vs, err := c.Select(tg.ID, []string{p}, time.Time{})
		if err != nil || len(vs) != 1 || vs[0].Path != p {
			t.Fatalf("Select(%q) = %q, %v", p, paths(vs), err)
		}
	}
	states, err := c.LatestStates(tg.ID, []string{"/d"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := range states {
		got = append(got, p)
	}
	want := oddPaths()
	sort.Strings(got)
	sort.Strings(want)
	equal(t, "paths", got, want)

	// SQL wildcards in a prefix are plain bytes.
	for _, p := range []string{"/d/%", "/d/_", "/d/a%", "/d/*"} {
		vs, err := c.Select(tg.ID, []string{p}, time.Time{})
		if err != nil || len(vs) != 0 {
			t.Fatalf("prefix %q selected %q, %v", p, paths(vs), err)
		}
	}
}

func TestPrefixMatchesWholeComponents(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	all := []string{"/a", "/a/b", "/a/b/x", "/a/b/x/y", "/a/bc", "/a/b.txt", "/a/b0", "/a/b\n", "/a/b!", "/a/c", "/b", "rel/x"}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range all {
		mustRecord(t, c, version(tg.ID, p, 1, at))
	}
	for _, tc := range []struct {
		prefixes []string
		want     []string
	}{
		{[]string{"/a/b"}, []string{"/a/b", "/a/b/x", "/a/b/x/y"}},
		{[]string{"/a/b/"}, []string{"/a/b", "/a/b/x", "/a/b/x/y"}},
		{[]string{"/a/b", "/a/b/x"}, []string{"/a/b", "/a/b/x", "/a/b/x/y"}},
		{[]string{"/a/b/x", "/a/c", "/nope"}, []string{"/a/b/x", "/a/b/x/y", "/a/c"}},
		{[]string{"/a/b", "/a/bc"}, []string{"/a/b", "/a/b/x", "/a/b/x/y", "/a/bc"}},
		{[]string{"/"}, all[:len(all)-1]},
		{[]string{"///"}, all[:len(all)-1]},
		{[]string{"/a/b", "/"}, all[:len(all)-1]},
		{[]string{"rel"}, []string{"rel/x"}},
		{nil, all},
	} {
		vs, err := c.Select(tg.ID, tc.prefixes, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(tc.want)
		sort.Strings(want)
		equal(t, fmt.Sprintf("Select %q", tc.prefixes), paths(vs), want)
		states, err := c.LatestStates(tg.ID, tc.prefixes)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, fmt.Sprintf("LatestStates %q", tc.prefixes), len(states), len(want))
		sums, err := c.Summaries(tg.ID, tc.prefixes)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, fmt.Sprintf("Summaries %q", tc.prefixes), len(sums), len(want))
	}
	for _, bad := range [][]string{{""}, {"/a\x00b"}} {
		if _, err := c.Select(tg.ID, bad, time.Time{}); err == nil {
			t.Fatalf("prefix %q accepted", bad)
		}
	}
}

func TestManyPrefixesStillSortedAndComplete(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var prefixes, want []string
	for i := range 3 * prefixChunk / 2 {
		dir := fmt.Sprintf("/p/%03d", i)
		prefixes = append(prefixes, dir)
		for _, f := range []string{dir + "/f", dir + ".x/f"} {
			mustRecord(t, c, version(tg.ID, f, 1, at))
		}
		want = append(want, dir+"/f")
	}
	// Prefixes sort differently from the paths below them ("/p/000.x" < "/p/000/f").
	prefixes = append(prefixes, "/p/000.x")
	want = append(want, "/p/000.x/f")
	sort.Strings(want)
	vs, err := c.Select(tg.ID, prefixes, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "selected", paths(vs), want)
	sums, err := c.Summaries(tg.ID, prefixes)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "summaries", len(sums), len(want))
	if !sort.SliceIsSorted(sums, func(i, j int) bool { return sums[i].Path < sums[j].Path }) {
		t.Fatal("summaries not sorted")
	}
}

func TestVersionRoundTripsEveryField(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "s3:bucket/prefix")
	v := Version{TargetID: tg.ID, Path: "/x/y", Size: 123, MTime: 1700000000.5, MTimeNS: 1700000000500000001,
		Mode: 0o100755, ArchiveID: "arch", Location: "loc", Checksum: "cafe", Compression: "age+zstd",
		Timestamp: time.Date(2025, 2, 3, 4, 5, 6, 789, time.FixedZone("x", 3600)), ContentHash: "beef",
		StoredSize: 456, Description: "nightly | run"}
	v.ID = mustRecord(t, c, v)
	got, ok, err := c.Latest(tg.ID, "/x/y")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	v.Timestamp = v.Timestamp.UTC()
	equal(t, "version", got, v)

	// Old tools see an HTTP date and a float mtime, even when only MTimeNS is given.
	w := Version{TargetID: tg.ID, Path: "/x/z", MTimeNS: 1700000000250000000, ArchiveID: "a2",
		Timestamp: time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)}
	mustRecord(t, c, w)
	var ts string
	var mtime float64
	c.db.QueryRow("SELECT timestamp, mtime FROM sync_history WHERE path = '/x/z'").Scan(&ts, &mtime)
	equal(t, "legacy timestamp column", ts, "Mon, 03 Feb 2025 04:05:06 GMT")
	equal(t, "legacy mtime column", mtime, 1700000000.25)
}

func TestRecordRejectsBadVersions(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	for name, v := range map[string]Version{
		"empty path":           {TargetID: tg.ID, ArchiveID: "a"},
		"NUL in path":          {TargetID: tg.ID, Path: "/a\x00b", ArchiveID: "a"},
		"live without archive": {TargetID: tg.ID, Path: "/a"},
		"tombstone w/ archive": {TargetID: tg.ID, Path: "/a", ArchiveID: "a", Deleted: true},
	} {
		if _, err := c.Record(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := c.Record(Version{TargetID: tg.ID + 1, Path: "/a", ArchiveID: "a"})
	wantErrIs(t, err, ErrNoTarget)
	if states, _ := c.LatestStates(tg.ID, nil); len(states) != 0 {
		t.Fatalf("rejected versions were stored: %v", states)
	}
}

func TestArchiveIDs(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	other := mustTarget(t, c, "local:/other")
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := version(tg.ID, "/a", 1, at)
	b := version(tg.ID, "/b", 1, at.Add(time.Hour))
	mustRecord(t, c, a)
	mustRecord(t, c, b)
	c.MarkDeleted(tg.ID, []string{"/b"}, at.Add(2*time.Hour))

	ids, err := c.ArchiveIDs(tg.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "archive ids", ids, map[string]bool{a.ArchiveID: true, b.ArchiveID: true})
	ids, _ = c.ArchiveIDs(other.ID)
	equal(t, "other target's archive ids", len(ids), 0)

	lc, _ := openLegacy(t)
	ltg, _, _ := lc.Target("glacier::my-vault")
	ids, _ = lc.ArchiveIDs(ltg.ID)
	equal(t, "legacy archive ids", len(ids), 5)
	for id := range ids {
		if !strings.HasPrefix(id, "a2Fa") && !strings.HasPrefix(id, "CVh-") && !strings.HasPrefix(id, "vrpp") &&
			!strings.HasPrefix(id, "JFRY") && !strings.HasPrefix(id, "htFa") {
			t.Fatalf("unexpected archive id %q", id)
		}
	}
}
