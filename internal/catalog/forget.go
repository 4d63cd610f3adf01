package catalog

import (
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/grsync/grsync/internal/retention"
)

// legacyRunGap separates the points of rows that no run recorded (older
// catalogues, the Python tools): rows recorded less than this apart are
// taken as one run.
const legacyRunGap = 10 * time.Minute

// Points returns the target's points in time, oldest first: the end of each
// complete sync run, and for rows recorded without a run, the time of the
// last row of each group recorded less than ten minutes apart.
func (c *Catalog) Points(targetID int64) ([]time.Time, error) {
	runs, err := c.Runs(targetID)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, r := range runs {
		if r.Complete && !r.Finished.IsZero() {
			out = append(out, r.Finished)
		}
	}
	rows, err := c.db.Query(`SELECT DISTINCT recorded_at FROM sync_history
		WHERE target_id = ? AND run_id IS NULL AND recorded_at IS NOT NULL ORDER BY recorded_at`, targetID)
	if err != nil {
		return nil, wrap(c.path, "points in time", err)
	}
	var prev time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(timeScanner{&t}); err != nil {
			rows.Close()
			return nil, wrap(c.path, "points in time", err)
		}
		if !prev.IsZero() && t.Sub(prev) >= legacyRunGap {
			out = append(out, prev)
		}
		prev = t
	}
	if err := closeRows(rows); err != nil {
		return nil, wrap(c.path, "points in time", err)
	}
	if !prev.IsZero() {
		out = append(out, prev)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out, nil
}

// RetentionRow is a row as forget sees it, with what its listing shows.
type RetentionRow struct {
	retention.Row
	Path string
	Size int64
	Kind EntryKind
}

// RetentionRows calls fn once per path of the target under prefixes (all
// when empty), in path order, with all the path's rows in id order.
func (c *Catalog) RetentionRows(targetID int64, prefixes []string, fn func(path string, rows []RetentionRow) error) error {
	norm, err := normalizePrefixes(prefixes)
	if err != nil {
		return fmt.Errorf("retention rows: %w", err)
	}
	for _, r := range stateRanges(targetID, norm) {
		rows, err := c.db.Query(`SELECT id, path, recorded_at, timestamp, deleted, forgotten_at IS NOT NULL,
				coalesce(file_size, 0), kind
			FROM sync_history WHERE target_id = ? AND `+r.cond+` ORDER BY path, id`, r.args...)
		if err != nil {
			return wrap(c.path, "retention rows", err)
		}
		err = eachPath(rows, func(rows *sql.Rows) (string, RetentionRow, error) {
			var rr RetentionRow
			var recordedAt, timestamp sql.NullString
			if err := rows.Scan(&rr.ID, &rr.Path, &recordedAt, &timestamp, &rr.Deleted, &rr.Forgotten, &rr.Size, &rr.Kind); err != nil {
				return "", rr, err
			}
			var err error
			rr.At, err = rowTime(recordedAt, timestamp)
			return rr.Path, rr, err
		}, fn)
		if err != nil {
			return wrap(c.path, "retention rows", err)
		}
	}
	return nil
}

// eachPath reads rows ordered by path, scanning each with scan, and calls
// fn once per path with that path's rows in order. It closes rows.
func eachPath[T any](rows *sql.Rows, scan func(*sql.Rows) (string, T, error), fn func(path string, rows []T) error) error {
	defer rows.Close()
	var cur string
	var group []T
	for rows.Next() {
		path, v, err := scan(rows)
		if err != nil {
			return err
		}
		if path != cur && len(group) > 0 {
			if err := fn(cur, group); err != nil {
				return err
			}
			group = nil
		}
		cur = path
		group = append(group, v)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	if len(group) > 0 {
		return fn(cur, group)
	}
	return nil
}

// Forget marks the rows ids forgotten at `at`, in one transaction: they no
// longer show in restore, ls or deduplication, and prune may delete what
// only they used. Rows already forgotten keep their first time.
func (c *Catalog) Forget(ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return c.update("forget versions", func(tx *sql.Tx) error {
		st, err := tx.Prepare("UPDATE sync_history SET forgotten_at = ? WHERE id = ? AND forgotten_at IS NULL")
		if err != nil {
			return err
		}
		defer st.Close()
		ts := formatTime(at)
		targets := map[int64]bool{}
		for _, id := range ids {
			res, err := st.Exec(ts, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				var t sql.NullInt64
				if err := tx.QueryRow("SELECT target_id FROM sync_history WHERE id = ?", id).Scan(&t); err != nil {
					return err
				}
				targets[t.Int64] = true
			}
		}
		// A snapshot taken before holds these rows unforgotten.
		var changed []int64
		for t := range targets {
			changed = append(changed, t)
		}
		return bumpGeneration(tx, changed)
	})
}
