package catalog

import (
	"database/sql"
	"fmt"
	"time"
)

// migrate8 lets a target remember its S3 Object Lock: the mode its
// objects are written with ("GOVERNANCE" or "COMPLIANCE"; NULL for none)
// and how many days a new object stays locked. The first sync of a
// target records them, so that later commands (restore, verify, prune,
// iam-policy, lock extend) lock and extend alike without the flags.
// Objects' own locks are in objects.lock_mode and lock_until (migration 7).
func migrate8(tx *sql.Tx, _ time.Time) error {
	for _, s := range []string{
		`ALTER TABLE targets ADD COLUMN lock_mode TEXT`,
		`ALTER TABLE targets ADD COLUMN lock_days INTEGER`,
	} {
		if _, err := tx.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

// SetLock records the Object Lock of target id's objects: mode ("" for
// none) and the days a new object stays locked.
func (c *Catalog) SetLock(id int64, mode string, days int) error {
	if mode == "" {
		days = 0
	}
	if days < 0 {
		return fmt.Errorf("record the lock of target %d: negative lock duration %d", id, days)
	}
	return c.update(fmt.Sprintf("record the object lock of target %d", id), func(tx *sql.Tx) error {
		return execOne(tx, id, "UPDATE targets SET lock_mode = ?, lock_days = ? WHERE id = ?",
			nullString(mode), nullInt(int64(days)), id)
	})
}

// HasStored reports whether the catalogue records anything stored in
// target id: an object (deleted or not) or a row of sync_history. Until
// then the target's first sync may still choose its lock.
func (c *Catalog) HasStored(id int64) (bool, error) {
	var stored bool
	err := c.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM objects WHERE target_id = ?)
		OR EXISTS (SELECT 1 FROM sync_history WHERE target_id = ?)`, id, id).Scan(&stored)
	return stored, wrap(c.path, "look for stored objects", err)
}
