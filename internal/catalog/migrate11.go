package catalog

import (
	"database/sql"
	"time"
)

// migrate11 drops the index of versions by content hash. Nothing has read
// it since content is found by its blobs (blobs_hash), and it cost every
// recorded version an insert at a random place: 13% of the catalogue's
// time in a first sync of 50,000 small files (BenchmarkCommitPacks50k),
// and its pages in every catalogue snapshot.
func migrate11(tx *sql.Tx, _ time.Time) error {
	_, err := tx.Exec(`DROP INDEX IF EXISTS sync_history_target_content`)
	return err
}
