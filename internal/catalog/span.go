package catalog

import (
	"database/sql"
	"fmt"
	"time"
)

// Span is when the live versions of some paths were recorded.
type Span struct {
	Versions    int       // live versions (tombstones are not versions)
	First, Last time.Time // when the first and the last were recorded (UTC)
}

// BackupSpan returns the span of the live versions of the target's paths
// under any of prefixes (all paths when empty), tombstones and forgotten
// versions left out. A restore that selects nothing uses it to say why.
func (c *Catalog) BackupSpan(targetID int64, prefixes []string) (Span, error) {
	norm, err := normalizePrefixes(prefixes)
	if err != nil {
		return Span{}, fmt.Errorf("backup span: %w", err)
	}
	var s Span
	for _, r := range stateRanges(targetID, norm) {
		var first, last sql.NullString
		var n int
		if err := c.db.QueryRow(`SELECT min(recorded_at), max(recorded_at), count(*) FROM sync_history
			WHERE target_id = ? AND deleted = 0 AND forgotten_at IS NULL AND `+r.cond, r.args...).Scan(&first, &last, &n); err != nil {
			return Span{}, wrap(c.path, "backup span", err)
		}
		if n == 0 {
			continue
		}
		f, err := parseTime(first)
		if err != nil {
			return Span{}, wrap(c.path, "backup span", err)
		}
		l, err := parseTime(last)
		if err != nil {
			return Span{}, wrap(c.path, "backup span", err)
		}
		if s.Versions == 0 || (!f.IsZero() && f.Before(s.First)) {
			s.First = f
		}
		if l.After(s.Last) {
			s.Last = l
		}
		s.Versions += n
	}
	return s, nil
}
