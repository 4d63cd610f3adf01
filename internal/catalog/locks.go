package catalog

import (
	"database/sql"
	"fmt"
	"time"
)

// ObjectLock is the S3 Object Lock of one object, as its store reports it.
type ObjectLock struct {
	ArchiveID string
	Mode      string    // "GOVERNANCE" or "COMPLIANCE"; "" for none
	Until     time.Time // retain-until date; zero for none
}

// neededObjectSQL selects the target's objects still in the store that a
// kept version needs: an object with a piece of a version not forgotten,
// and every records or snapshot object (they are how a lost catalogue
// comes back). Objects no kept version needs are left to prune.
const neededObjectSQL = `FROM objects o WHERE o.target_id = ? AND o.deleted_at IS NULL
	AND (o.kind = 'records'
		OR (o.kind = 'snapshot' AND o.id = (SELECT max(s.id) FROM objects s
			WHERE s.target_id = o.target_id AND s.kind = 'snapshot' AND s.deleted_at IS NULL))
		OR EXISTS (SELECT 1 FROM blobs b
		JOIN version_pieces p ON p.blob_id = b.id
		JOIN sync_history h ON h.id = p.version_id
		WHERE b.object_id = o.id AND h.forgotten_at IS NULL))`

// NeededObjects returns the target's objects (still in the store) that a
// kept version needs, its records objects and its newest snapshot, oldest
// first. Older snapshots are not needed: their locks run out, and the
// sync that takes a snapshot deletes those past --keep-snapshots.
// With lockBefore set, only those whose recorded lock ends at or before
// lockBefore, or is unknown, are returned: the objects whose lock must be
// extended now.
func (c *Catalog) NeededObjects(targetID int64, lockBefore time.Time) ([]Object, error) {
	q := `SELECT ` + objectColumns + ` ` + neededObjectSQL
	args := []any{targetID}
	if !lockBefore.IsZero() {
		q += ` AND (o.lock_until IS NULL OR o.lock_until <= ?)`
		args = append(args, formatTime(lockBefore))
	}
	return c.queryObjects("list needed objects", q+` ORDER BY o.id`, args...)
}

// SetObjectLocks records the locks the store reports for objects of the
// target, in one transaction. Objects the catalogue does not know are
// skipped; it returns how many it updated.
func (c *Catalog) SetObjectLocks(targetID int64, locks []ObjectLock) (int, error) {
	if len(locks) == 0 {
		return 0, nil
	}
	n := 0
	err := c.update(fmt.Sprintf("record the locks of %d objects", len(locks)), func(tx *sql.Tx) error {
		st, err := tx.Prepare(`UPDATE objects SET lock_mode = ?, lock_until = ? WHERE target_id = ? AND archive_id = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, l := range locks {
			until := l.Until
			if l.Mode == "" {
				until = time.Time{}
			}
			res, err := st.Exec(nullString(l.Mode), nullTime(until), targetID, l.ArchiveID)
			if err != nil {
				return fmt.Errorf("object %s: %w", l.ArchiveID, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
