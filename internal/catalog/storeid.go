package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// migrate6 lets a target remember the identity of its store: the random
// id of the store's marker (docs/FORMAT.md section 10), so that a store
// moved to another path is recognised and a different store at a known
// location is refused.
func migrate6(tx *sql.Tx, _ time.Time) error {
	for _, s := range []string{
		`ALTER TABLE targets ADD COLUMN store_id TEXT`,
		`CREATE INDEX targets_store_id ON targets(store_id)`,
	} {
		if _, err := tx.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

// lacksStoreID reports whether the targets table has no store_id column
// (a catalogue written at version 7 before version 6 was merged).
func lacksStoreID(q querier) (bool, error) { return lacksColumn(q, "targets", "store_id") }

// ErrTargetExists means a target cannot take a location because another
// target with backups has it.
var ErrTargetExists = errors.New("another target with backups has this location")

// ReadOnly reports whether the catalogue was opened read-only.
func (c *Catalog) ReadOnly() bool { return c.readOnly }

// SetStoreID records the id of the store's marker for target id.
func (c *Catalog) SetStoreID(id int64, storeID string) error {
	return c.update("record store id", func(tx *sql.Tx) error {
		return execOne(tx, id, "UPDATE targets SET store_id = ? WHERE id = ?", nullString(storeID), id)
	})
}

// TargetsByStoreID returns the targets that recorded storeID, oldest first.
func (c *Catalog) TargetsByStoreID(storeID string) ([]Target, error) {
	if storeID == "" {
		return nil, nil
	}
	return c.queryTargets("find targets by store id", "WHERE store_id = ? ORDER BY id", storeID)
}

// MoveTarget gives target id the location newLocation, keeping its rows,
// key and store id (a store moved to another path). A target that already
// has newLocation is removed first if nothing refers to it (no rows, no
// retrievals, no upload intents: an empty target an older grsync created
// there); otherwise MoveTarget fails with ErrTargetExists and changes
// nothing.
func (c *Catalog) MoveTarget(id int64, newLocation string) (Target, error) {
	if err := checkLocation(newLocation); err != nil {
		return Target{}, err
	}
	var t Target
	err := c.update("move target to "+newLocation, func(tx *sql.Tx) error {
		old, ok, err := targetByLocation(tx, newLocation)
		if err != nil {
			return err
		}
		if ok && old.ID != id {
			var used bool
			if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM sync_history WHERE target_id = ?)
				OR EXISTS (SELECT 1 FROM retrievals WHERE target_id = ?)
				OR EXISTS (SELECT 1 FROM pending_uploads WHERE target_id = ?)`, old.ID, old.ID, old.ID).Scan(&used); err != nil {
				return err
			}
			if used {
				return fmt.Errorf("%w: %s", ErrTargetExists, newLocation)
			}
			if _, err := tx.Exec("DELETE FROM targets WHERE id = ?", old.ID); err != nil {
				return err
			}
		}
		if err := execOne(tx, id, "UPDATE targets SET location = ? WHERE id = ?", newLocation, id); err != nil {
			return err
		}
		t, err = scanTarget(tx.QueryRow("SELECT "+targetColumns+" FROM targets WHERE id = ?", id))
		return err
	})
	return t, err
}

// EncodingCounts returns how many archives of each encoding (the
// compression column: grsync's encodings, the Python tools' forms) the
// target's rows refer to.
func (c *Catalog) EncodingCounts(targetID int64) (map[string]int, error) {
	rows, err := c.db.Query(`SELECT coalesce(compression, ''), count(DISTINCT archive_id) FROM sync_history
		WHERE target_id = ? AND archive_id IS NOT NULL AND archive_id != '' GROUP BY 1`, targetID)
	if err != nil {
		return nil, wrap(c.path, "count archives by encoding", err)
	}
	out := map[string]int{}
	for rows.Next() {
		var enc string
		var n int
		if err := rows.Scan(&enc, &n); err != nil {
			rows.Close()
			return nil, wrap(c.path, "count archives by encoding", err)
		}
		out[enc] = n
	}
	return out, wrap(c.path, "count archives by encoding", closeRows(rows))
}
