package catalog

import (
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// ReorderVersions makes the ids of each path's rows follow their recorded
// times, so that the latest row (the highest id, which sync, restore and
// ls take) is the newest. A rebuild can learn a version late: from the
// index of a pack whose version records are lost, after the records of a
// later run gave a newer version of the same path. The rows from the first
// one out of time order on get new ids, past every other row, in time
// order (their pieces follow them). It returns how many rows moved.
func (c *Catalog) ReorderVersions(targetID int64, paths []string) (int, error) {
	moved := 0
	err := c.update("reorder versions", func(tx *sql.Tx) error {
		moved = 0
		// The pieces point at the rows being renumbered: checked at commit.
		if _, err := tx.Exec("PRAGMA defer_foreign_keys = ON"); err != nil {
			return err
		}
		for _, path := range paths {
			type row struct {
				id int64
				at time.Time
			}
			rows, err := tx.Query("SELECT id, recorded_at FROM sync_history WHERE target_id = ? AND path = ? ORDER BY id", targetID, path)
			if err != nil {
				return err
			}
			var byID []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, timeScanner{&r.at}); err != nil {
					rows.Close()
					return err
				}
				byID = append(byID, r)
			}
			if err := closeRows(rows); err != nil {
				return err
			}
			byTime := append([]row(nil), byID...)
			sort.SliceStable(byTime, func(i, j int) bool { return byTime[i].at.Before(byTime[j].at) })
			first := 0
			for first < len(byID) && byID[first].id == byTime[first].id {
				first++
			}
			for _, r := range byTime[first:] {
				var next int64
				if err := tx.QueryRow("SELECT max(id) + 1 FROM sync_history").Scan(&next); err != nil {
					return err
				}
				if _, err := tx.Exec("UPDATE sync_history SET id = ? WHERE id = ?", next, r.id); err != nil {
					return fmt.Errorf("version %d of %q: %w", r.id, path, err)
				}
				if _, err := tx.Exec("UPDATE version_pieces SET version_id = ? WHERE version_id = ?", next, r.id); err != nil {
					return fmt.Errorf("pieces of version %d of %q: %w", r.id, path, err)
				}
				moved++
			}
		}
		return nil
	})
	return moved, err
}
