package catalog

import (
	"database/sql"
	"time"
)

// migrate10 lets a retrieval remember the byte range of its archive it
// fetches (a Glacier vault's ranged job, RetrievalByteRange): range_offset
// and range_length, 0 and 0 for the whole archive, which every retrieval
// recorded before was. A restore reuses a recorded retrieval only when its
// range holds every byte it needs.
func migrate10(tx *sql.Tx, _ time.Time) error {
	for _, s := range []string{
		`ALTER TABLE retrievals ADD COLUMN range_offset INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE retrievals ADD COLUMN range_length INTEGER NOT NULL DEFAULT 0`,
	} {
		if _, err := tx.Exec(s); err != nil {
			return err
		}
	}
	return nil
}
