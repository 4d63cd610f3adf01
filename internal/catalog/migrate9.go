package catalog

import (
	"database/sql"
	"time"
)

// migrate9 gives objects a third state between "in the store" and
// "deleted": condemned. Prune condemns the objects no kept version uses,
// in one transaction that checks they are still unused, before it deletes
// anything from the store, and marks each deleted only once the store
// confirmed the deletion. A condemned object is never used again for new
// content (deduplication skips it), so a prune killed between the store's
// deletion and the catalogue's mark, or refused the deletion by
// append-only credentials, leaves no version pointing at an object that
// may be gone; the next prune finishes the deletions.
func migrate9(tx *sql.Tx, _ time.Time) error {
	_, err := tx.Exec(`ALTER TABLE objects ADD COLUMN condemned_at TEXT`)
	return err
}
