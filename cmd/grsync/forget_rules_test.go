package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// forgetRun runs grsync in dir on day d of pruneDay's calendar, with the
// time zone fixed (the rules' days, weeks and months are local ones).
func forgetRun(t *testing.T, dir string, d float64, want int, args ...string) result {
	t.Helper()
	r := grsync(t, dir, []string{"TZ=UTC", "GRSYNC_FAKE_NOW=" + pruneDay(d).Format(time.RFC3339)}, args...)
	if r.code != want {
		t.Fatalf("day %g: grsync %v: want exit %d:\n%s", d, args, want, r)
	}
	return r
}

// versionDays lists the days (of pruneDay's calendar) of the versions of
// path that ls --versions shows in state.
func versionDays(t *testing.T, dir string, d float64, path, state string) []int {
	t.Helper()
	r := forgetRun(t, dir, d, 0, "ls", "--versions", "--json", path)
	var days []int
	for _, l := range ofType(jsonLines(t, "ls --versions --json", r.stdout), "ls_version") {
		if l["state"] != state {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, l["time"].(string))
		if err != nil {
			t.Fatal(err)
		}
		days = append(days, int(at.Sub(pruneBase).Hours()/24))
	}
	slices.Sort(days)
	return days
}

// restoredAt restores everything as of day d plus an hour and returns the
// content of each of names under src ("" when not restored).
func restoredAt(t *testing.T, dir, src string, d int, names ...string) map[string]string {
	t.Helper()
	out := filepath.Join(dir, "at"+strconv.Itoa(d))
	forgetRun(t, dir, 41, 0, "restore", "--output", out, "--at", pruneDay(float64(d)).Add(time.Hour).Format(time.RFC3339))
	got := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(src, "/"), n))
		if err == nil {
			got[n] = string(b)
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		} else {
			got[n] = ""
		}
	}
	return got
}

// 40 daily syncs (2026-03-01 to 04-09, in UTC), then forget --keep-daily 7
// --keep-weekly 4 --keep-monthly 2 --keep-deleted 20d through the binary.
// By hand: the daily rule keeps days 33–39 (04-03 to 04-09), the weekly
// one the newest point of ISO weeks 15, 14, 13, 12 (days 39, 35, 28, 21),
// the monthly one April's and March's newest (days 39, 30): 10 points.
// Then, file by file:
//   - daily.txt (rewritten every day): exactly the versions of those 10
//     days are kept;
//   - tenday.txt (rewritten on days 0, 10, 20, 30): the day-20 version
//     (current at kept points 21 and 28) and the current one are kept;
//   - gone.txt (days 23 to 26, deleted on day 27): current at no kept
//     point, but deleted 13 days before the forget: --keep-deleted 20d
//     keeps it;
//   - oldgone.txt (days 2 to 4, deleted on day 5, 35 days before): forgotten.
//
// restore --at a kept point gives what the source held then; --at a
// forgotten point gives a file's kept version when it was current then,
// and nothing for a file whose version then was forgotten; before every
// kept version, restore --at refuses. A dry run of
// --keep-within 228h (9.5 days) keeps exactly days 30–39.
func TestForgetRulesOverManyRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for d := 0; d < 40; d++ {
		at := pruneDay(float64(d))
		writeFile(t, filepath.Join(src, "daily.txt"), []byte("daily "+strconv.Itoa(d)), at)
		if d%10 == 0 {
			writeFile(t, filepath.Join(src, "tenday.txt"), []byte("tenday "+strconv.Itoa(d)), at)
		}
		switch d {
		case 2:
			writeFile(t, filepath.Join(src, "oldgone.txt"), []byte("oldgone 2"), at)
		case 5:
			os.Remove(filepath.Join(src, "oldgone.txt"))
		case 23:
			writeFile(t, filepath.Join(src, "gone.txt"), []byte("gone 23"), at)
		case 27:
			os.Remove(filepath.Join(src, "gone.txt"))
		}
		forgetRun(t, dir, float64(d), 0, "--local-store", "st", "--quiet", src)
	}
	keptPoints := []int{21, 28, 30, 33, 34, 35, 36, 37, 38, 39}
	reasons := map[int]string{39: "daily, weekly, monthly", 35: "daily, weekly", 30: "monthly", 28: "weekly", 21: "weekly"}

	// The points each rule set keeps, as --json lists them.
	points := func(r result) (kept []int, why map[int]string) {
		t.Helper()
		sum := summary(t, "forget --json", jsonLines(t, "forget --json", r.stdout))
		why = map[int]string{}
		all := sum["points"].([]any)
		if len(all) != 40 {
			t.Fatalf("40 points in time, got %d", len(all))
		}
		for _, p := range all {
			p := p.(map[string]any)
			at, err := time.Parse(time.RFC3339Nano, p["time"].(string))
			if err != nil {
				t.Fatal(err)
			}
			day := int(at.Sub(pruneBase).Hours() / 24)
			if p["kept"] == true {
				kept = append(kept, day)
				var rs []string
				for _, r := range p["reasons"].([]any) {
					rs = append(rs, r.(string))
				}
				why[day] = strings.Join(rs, ", ")
			}
		}
		slices.Sort(kept)
		return kept, why
	}
	within, _ := points(forgetRun(t, dir, 40, 0, "forget", "--dry-run", "--json", "--keep-within", "228h"))
	if want := []int{30, 31, 32, 33, 34, 35, 36, 37, 38, 39}; !slices.Equal(within, want) {
		t.Errorf("--keep-within 228h keeps days %v, want %v", within, want)
	}
	rules := []string{"forget", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "2", "--keep-deleted", "20d"}
	kept, why := points(forgetRun(t, dir, 40, 0, append(rules, "--dry-run", "--json")...))
	if !slices.Equal(kept, keptPoints) {
		t.Fatalf("the rules keep days %v, want %v", kept, keptPoints)
	}
	for d, w := range reasons {
		if !strings.Contains(why[d], w) {
			t.Errorf("day %d is kept for %q, want %q", d, why[d], w)
		}
	}
	r := forgetRun(t, dir, 40, 0, rules...)
	wantSummary(t, r, "points in time: 40, kept 10",
		"2026-04-09 12:00:00  keep (daily", "2026-03-31 12:00:00  keep (monthly", "2026-03-22 12:00:00  keep (weekly", "2026-03-23 12:00:00  forget")

	// What each file kept.
	for _, c := range []struct {
		name       string
		live, gone []int
	}{
		{"daily.txt", keptPoints, nil},
		{"tenday.txt", []int{20, 30}, []int{0, 10}},
		{"gone.txt", []int{23}, nil},
		{"oldgone.txt", nil, []int{2}},
	} {
		p := filepath.Join(src, c.name)
		if got := versionDays(t, dir, 41, p, "live"); !slices.Equal(got, c.live) {
			t.Errorf("%s: live versions of days %v, want %v", c.name, got, c.live)
		}
		forgotten := versionDays(t, dir, 41, p, "forgotten")
		if c.name == "daily.txt" {
			if len(forgotten) != 30 {
				t.Errorf("daily.txt: %d versions forgotten, want 30: %v", len(forgotten), forgotten)
			}
		} else if !slices.Equal(forgotten, c.gone) {
			t.Errorf("%s: forgotten versions of days %v, want %v", c.name, forgotten, c.gone)
		}
	}

	// restore --at: kept points as they were; forgotten points give only
	// the kept versions current then.
	names := []string{"daily.txt", "tenday.txt", "gone.txt", "oldgone.txt"}
	for _, c := range []struct {
		day  int
		want map[string]string
	}{
		{39, map[string]string{"daily.txt": "daily 39", "tenday.txt": "tenday 30", "gone.txt": "", "oldgone.txt": ""}},
		{28, map[string]string{"daily.txt": "daily 28", "tenday.txt": "tenday 20", "gone.txt": "", "oldgone.txt": ""}},
		{21, map[string]string{"daily.txt": "daily 21", "tenday.txt": "tenday 20", "gone.txt": "", "oldgone.txt": ""}},
		{25, map[string]string{"daily.txt": "", "tenday.txt": "tenday 20", "gone.txt": "gone 23", "oldgone.txt": ""}},
	} {
		got := restoredAt(t, dir, src, c.day, names...)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("restore --at day %d: %v, want %v", c.day, got, c.want)
		}
	}
	// Before the oldest kept version (the folder's of day 5, current at
	// the kept day 21), nothing is left to restore: refused, naming it.
	r = forgetRun(t, dir, 41, 2, "restore", "--output", filepath.Join(dir, "at3"), "--at", pruneDay(3).Add(time.Hour).Format(time.RFC3339))
	wantStderr(t, r, "nothing was backed up by 2026-03-04 13:00:00 UTC", "first backup: 2026-03-06 12:00:00 UTC")
	mustNotExist(t, filepath.Join(dir, "at3"))
}

// forget PATH...: only the versions under the given folder or of the given
// file are forgotten; a sibling whose name starts the same (docs2 next to
// docs) and every other path keep all their versions, in ls and restore.
func TestForgetPathSelection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	files := []string{"docs/a.txt", "docs/sub/b.txt", "docs2/a.txt", "photos/one.txt", "photos/two.txt"}
	for d := 0; d < 3; d++ {
		for _, f := range files {
			writeFile(t, filepath.Join(src, f), []byte(f+" as of day "+strconv.Itoa(d)), pruneDay(float64(d)))
		}
		forgetRun(t, dir, float64(d), 0, "--local-store", "st", "--quiet", src)
	}
	r := forgetRun(t, dir, 3, 0, "forget", "--keep-last", "1", "src/docs", filepath.Join(src, "photos", "one.txt"))
	wantSummary(t, r, "points in time: 3, kept 1", "forgot 6 versions of ")
	selected := map[string]bool{"docs/a.txt": true, "docs/sub/b.txt": true, "photos/one.txt": true}
	for _, f := range files {
		live, forgotten := versionDays(t, dir, 4, filepath.Join(src, f), "live"), versionDays(t, dir, 4, filepath.Join(src, f), "forgotten")
		wantLive, wantForgotten := []int{0, 1, 2}, []int(nil)
		if selected[f] {
			wantLive, wantForgotten = []int{2}, []int{0, 1}
		}
		if !slices.Equal(live, wantLive) || !slices.Equal(forgotten, wantForgotten) {
			t.Errorf("%s: live %v, forgotten %v; want %v, %v", f, live, forgotten, wantLive, wantForgotten)
		}
	}
	got := restoredAt(t, dir, src, 0, files...)
	for _, f := range files {
		want := f + " as of day 0"
		if selected[f] {
			want = ""
		}
		if got[f] != want {
			t.Errorf("restore --at day 0: %s is %q, want %q", f, got[f], want)
		}
	}
}
