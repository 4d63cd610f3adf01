package retention

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a Thursday

func at(days, hours int) time.Time {
	return t0.Add(time.Duration(days)*24*time.Hour + time.Duration(hours)*time.Hour)
}

func keptPoints(t *testing.T, points []time.Time, p Policy) []time.Time {
	t.Helper()
	ds, err := Apply(points, p, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, d := range ds {
		if d.Kept() {
			out = append(out, d.Point)
		}
	}
	return out
}

// Points: every 6 hours for 60 days (240 points), newest at day 59 18:00.
func sixHourly() []time.Time {
	var ps []time.Time
	for d := 0; d < 60; d++ {
		for h := 0; h < 24; h += 6 {
			ps = append(ps, at(d, h))
		}
	}
	return ps
}

func TestApplyAgainstHandComputedExpectations(t *testing.T) {
	ps := sixHourly()
	cases := []struct {
		name string
		p    Policy
		want []time.Time
	}{
		{"last 3", Policy{Last: 3}, []time.Time{at(59, 18), at(59, 12), at(59, 6)}},
		// The newest point of each of the last 3 days that have points.
		{"daily 3", Policy{Daily: 3}, []time.Time{at(59, 18), at(58, 18), at(57, 18)}},
		// ISO weeks: 2026-03-01 (day 59) is a Sunday, the end of week 9;
		// week 8 ends Sunday day 52, week 7 on day 45.
		{"weekly 3", Policy{Weekly: 3}, []time.Time{at(59, 18), at(52, 18), at(45, 18)}},
		// Months: day 59 is 2026-03-01 (March), day 58 is Feb 28, day 30 Jan 31.
		{"monthly 3", Policy{Monthly: 3}, []time.Time{at(59, 18), at(58, 18), at(30, 18)}},
		{"yearly 5 (one year has points)", Policy{Yearly: 5}, []time.Time{at(59, 18)}},
		// Overlapping rules keep the union.
		{"last 2 + daily 2", Policy{Last: 2, Daily: 2}, []time.Time{at(59, 18), at(59, 12), at(58, 18)}},
		// Within 1 day of the newest point: day 58 18:00 to day 59 18:00.
		{"within 1d", Policy{Within: 24 * time.Hour}, []time.Time{at(59, 18), at(59, 12), at(59, 6), at(59, 0), at(58, 18)}},
		{"hourly 2", Policy{Hourly: 2}, []time.Time{at(59, 18), at(59, 12)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := keptPoints(t, ps, c.p)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("kept %v\nwant %v", got, c.want)
			}
		})
	}
}

// A day without points does not count towards --keep-daily.
func TestBucketsWithoutPointsDoNotCount(t *testing.T) {
	ps := []time.Time{at(0, 1), at(1, 1), at(5, 1), at(5, 9), at(9, 1)}
	got := keptPoints(t, ps, Policy{Daily: 3})
	want := []time.Time{at(9, 1), at(5, 9), at(1, 1)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

func TestEmptyOrNegativePolicyIsRefused(t *testing.T) {
	if _, err := Apply([]time.Time{t0}, Policy{}, nil); err == nil {
		t.Fatal("an empty policy was accepted")
	}
	if _, err := Apply([]time.Time{t0}, Policy{KeepDeleted: time.Hour}, nil); err == nil {
		t.Fatal("a policy keeping only deleted files was accepted: it would forget every older version")
	}
	if _, err := Apply([]time.Time{t0}, Policy{Daily: -1}, nil); err == nil {
		t.Fatal("a negative count was accepted")
	}
}

func TestForgetVersionsOfOnePath(t *testing.T) {
	// A file changed at days 0, 1, 2, 3 (rows 1-4), deleted at day 4 (row 5).
	rows := []Row{{ID: 1, At: at(0, 0)}, {ID: 2, At: at(1, 0)}, {ID: 3, At: at(2, 0)}, {ID: 4, At: at(3, 0)}, {ID: 5, At: at(4, 0), Deleted: true}}
	cases := []struct {
		name        string
		kept        []time.Time
		deletedFrom time.Time
		want        []int64
	}{
		// Kept point at day 1 12:00: row 2 was current then. The tombstone
		// stays to hide row 2 after day 4.
		{"one point", []time.Time{at(1, 12)}, time.Time{}, []int64{1, 3, 4}},
		// A point after the deletion sees nothing: everything goes, the tombstone too.
		{"point after deletion", []time.Time{at(5, 0)}, time.Time{}, []int64{1, 2, 3, 4, 5}},
		// --keep-deleted covering the deletion keeps the last version (row 4).
		{"keep deleted", []time.Time{at(5, 0)}, at(3, 12), []int64{1, 2, 3}},
		{"keep deleted, deletion too old", []time.Time{at(5, 0)}, at(4, 1), []int64{1, 2, 3, 4, 5}},
		// A point before the first backup sees nothing either.
		{"point before", []time.Time{at(-1, 0)}, time.Time{}, []int64{1, 2, 3, 4, 5}},
		// Exactly at a row's recording time: that row was current.
		{"point at a row", []time.Time{at(2, 0), at(0, 0)}, time.Time{}, []int64{2, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Forget(rows, c.kept, c.deletedFrom); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("forget %v, want %v", got, c.want)
			}
		})
	}
	// The current version of a live file is always kept.
	live := rows[:4]
	if got := Forget(live, nil, time.Time{}); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Fatalf("live file: forget %v, want [1 2 3]", got)
	}
	// Rows forgotten before are not forgotten again, and the tombstone goes
	// once nothing older is kept.
	again := []Row{{ID: 1, At: at(0, 0), Forgotten: true}, {ID: 2, At: at(1, 0)}, {ID: 3, At: at(2, 0), Deleted: true}}
	if got := Forget(again, []time.Time{at(0, 12)}, time.Time{}); !reflect.DeepEqual(got, []int64{2, 3}) {
		t.Fatalf("forget %v, want [2 3]", got)
	}
}

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{"36h": 36 * time.Hour, "7d": 7 * day, "2w3d": 17 * day,
		"6m": 180 * day, "1y6m": 545 * day, "200y": 200 * 365 * day} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "7x", "-3d", "1.5d", "99999999d", "2100y", "201y", "100y100y1y"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	if s := FormatDuration(180 * day); s != "6m" {
		t.Errorf("FormatDuration(180d) = %q", s)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1y6m", "36h", "2w3d", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("%q gave a negative duration %v", s, d)
		}
	})
}
