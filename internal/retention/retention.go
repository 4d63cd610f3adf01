// Package retention decides which points in time a backup keeps.
//
// A point is the end of a completed sync run: the state of the sources that
// run saw. A policy keeps some points (the last N, the newest of each of the
// last N hours, days, weeks, months or years that have points, all points
// within a duration of the newest); a file version is then kept when it was
// current at a kept point, or is current now (see catalog and engine). The
// rules follow restic's forget: a bucket (an hour, a day, ...) that has no
// point does not count towards N.
package retention

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy says which points to keep. The zero Policy keeps nothing, and is
// refused by Apply: forgetting everything is never what a user meant.
type Policy struct {
	Last                                   int
	Hourly, Daily, Weekly, Monthly, Yearly int
	// Within keeps every point no older than this before the newest point.
	Within time.Duration
	// KeepDeleted keeps the last version of a file deleted from the source
	// for this long after its deletion was recorded, whatever the points.
	KeepDeleted time.Duration
}

// Empty reports whether the policy names no rule that keeps points.
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 &&
		p.Yearly == 0 && p.Within == 0
}

// Check refuses negative counts and durations.
func (p Policy) Check() error {
	for name, n := range map[string]int{"last": p.Last, "hourly": p.Hourly, "daily": p.Daily, "weekly": p.Weekly,
		"monthly": p.Monthly, "yearly": p.Yearly} {
		if n < 0 {
			return fmt.Errorf("--keep-%s %d: must not be negative", name, n)
		}
	}
	if p.Within < 0 || p.KeepDeleted < 0 {
		return errors.New("--keep-within and --keep-deleted must not be negative")
	}
	return nil
}

func (p Policy) String() string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", what, n))
		}
	}
	add(p.Last, "last")
	add(p.Hourly, "hourly")
	add(p.Daily, "daily")
	add(p.Weekly, "weekly")
	add(p.Monthly, "monthly")
	add(p.Yearly, "yearly")
	if p.Within > 0 {
		parts = append(parts, "within "+FormatDuration(p.Within))
	}
	if p.KeepDeleted > 0 {
		parts = append(parts, "deleted files for "+FormatDuration(p.KeepDeleted))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// Decision is one point and why it is kept (no reasons: it goes).
type Decision struct {
	Point   time.Time
	Reasons []string
}

// Kept reports whether the point is kept.
func (d Decision) Kept() bool { return len(d.Reasons) > 0 }

// Apply decides, for every point, whether the policy keeps it. Buckets
// (hours, days, ISO weeks, months, years) are taken in loc. The result is
// sorted newest first.
func Apply(points []time.Time, p Policy, loc *time.Location) ([]Decision, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if p.Empty() {
		return nil, errors.New("no rule keeps anything: give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly or --keep-within")
	}
	if loc == nil {
		loc = time.UTC
	}
	ds := make([]Decision, len(points))
	for i, t := range points {
		ds[i].Point = t
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Point.After(ds[j].Point) })

	for i := 0; i < len(ds) && i < p.Last; i++ {
		ds[i].Reasons = append(ds[i].Reasons, "last")
	}
	buckets := []struct {
		n    int
		name string
		key  func(time.Time) string
	}{
		{p.Hourly, "hourly", func(t time.Time) string { return t.Format("2006-01-02T15") }},
		{p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") }},
		{p.Weekly, "weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") }},
		{p.Yearly, "yearly", func(t time.Time) string { return t.Format("2006") }},
	}
	for _, b := range buckets {
		if b.n <= 0 {
			continue
		}
		seen := map[string]bool{}
		for i := range ds {
			if len(seen) == b.n {
				break
			}
			k := b.key(ds[i].Point.In(loc))
			if seen[k] {
				continue
			}
			seen[k] = true // newest first: the first point of a bucket is its newest
			ds[i].Reasons = append(ds[i].Reasons, b.name)
		}
	}
	if p.Within > 0 && len(ds) > 0 {
		from := ds[0].Point.Add(-p.Within)
		for i := range ds {
			if !ds[i].Point.Before(from) {
				ds[i].Reasons = append(ds[i].Reasons, "within "+FormatDuration(p.Within))
			}
		}
	}
	return ds, nil
}

// ParseDuration reads durations the way users write retention periods:
// whole hours, days, weeks, months (30 days) and years (365 days), combined
// ("36h", "7d", "1y6m", "2w3d"). "m" is months, as in restic's forget, not
// minutes. Months and years are approximate: "6m" means 180 days.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 6 {
			return 0, fmt.Errorf("bad duration %q: use e.g. 7d, 4w, 6m, 1y, 1y6m or 36h", s)
		}
		n := 0
		for _, c := range rest[:i] {
			n = n*10 + int(c-'0')
		}
		var unit time.Duration
		switch rest[i] {
		case 'h':
			unit = time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'w':
			unit = 7 * 24 * time.Hour
		case 'm':
			unit = 30 * 24 * time.Hour
		case 'y':
			unit = 365 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("bad duration %q: unknown unit %q (use h, d, w, m or y)", s, rest[i])
		}
		// time.Duration ends near 292 years: longer is refused, never
		// wrapped round to a negative duration.
		if time.Duration(n) > (maxDuration-total)/unit {
			return 0, fmt.Errorf("duration %q is longer than %d years", s, maxDuration/(365*24*time.Hour))
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	return total, nil
}

// maxDuration is the longest duration ParseDuration gives.
const maxDuration = 200 * 365 * 24 * time.Hour

// FormatDuration writes d in the largest whole units ParseDuration reads.
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	switch {
	case d%(365*day) == 0:
		return fmt.Sprintf("%dy", d/(365*day))
	case d%(30*day) == 0:
		return fmt.Sprintf("%dm", d/(30*day))
	case d%(7*day) == 0:
		return fmt.Sprintf("%dw", d/(7*day))
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// Row is one catalogue row of a path, as retention sees it.
type Row struct {
	ID        int64
	At        time.Time // when it was recorded
	Deleted   bool      // a tombstone: the path was gone from the source
	Forgotten bool      // forgotten by an earlier forget
}

// Forget returns the ids of the rows of one path (sorted by id, oldest
// first) that no kept point needs:
//   - a live row is kept when it is the path's current row now, or was
//     current (the newest row recorded at or before the point) at one of
//     the kept points, or is the last version of a file whose deletion was
//     recorded at or after keepDeletedSince (zero: no such rule);
//   - a tombstone is kept while a kept live row older than it remains, so
//     that it still hides that row after the deletion;
//   - rows forgotten before stay forgotten and are not returned again.
func Forget(rows []Row, kept []time.Time, keepDeletedSince time.Time) []int64 {
	if len(rows) == 0 {
		return nil
	}
	keep := make([]bool, len(rows))
	last := len(rows) - 1
	if !rows[last].Deleted && !rows[last].Forgotten {
		keep[last] = true
	}
	for _, t := range kept {
		cur := -1
		for i, r := range rows {
			if r.At.After(t) {
				break
			}
			cur = i
		}
		if cur >= 0 && !rows[cur].Deleted && !rows[cur].Forgotten {
			keep[cur] = true
		}
	}
	if rows[last].Deleted && !keepDeletedSince.IsZero() && !rows[last].At.Before(keepDeletedSince) {
		for i := last - 1; i >= 0; i-- {
			if !rows[i].Deleted {
				if !rows[i].Forgotten {
					keep[i] = true
				}
				break
			}
		}
	}
	var out []int64
	liveKept := false // a kept live row older than the current one exists
	for i, r := range rows {
		switch {
		case r.Forgotten:
		case r.Deleted:
			if !liveKept {
				out = append(out, r.ID)
			}
		case keep[i]:
			liveKept = true
		default:
			out = append(out, r.ID)
		}
	}
	return out
}
