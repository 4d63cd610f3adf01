package catalog

import (
	"database/sql"
	"fmt"
	"time"
)

// migrate5 lets a target remember how it is reached: the AWS region and
// the endpoint URL a command last reached it with, so later commands need
// neither flag (restore --db s3.db --output out works without --region).
func migrate5(tx *sql.Tx, _ time.Time) error {
	for _, s := range []string{
		`ALTER TABLE targets ADD COLUMN region TEXT`,
		`ALTER TABLE targets ADD COLUMN endpoint TEXT`,
	} {
		if _, err := tx.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

// lacksConnection reports whether a catalogue at schema 5 or later has no
// targets.region column: one written by a development build that numbered
// its migrations past 5 before migration 5 existed. st is as inspect saw it.
func lacksConnection(db *sql.DB, st dbState) bool {
	if st.version < 5 || !st.tables["targets"] {
		return false
	}
	cols, err := nameSet(db, "SELECT name FROM pragma_table_info('targets')")
	return err == nil && !cols["region"]
}

// addConnectionColumns applies migration 5 to such a catalogue (in memory
// when it was opened read-only), so that every catalogue at schema 5 or
// later has the columns.
func (c *Catalog) addConnectionColumns(st dbState) error {
	if !lacksConnection(c.db, st) {
		return nil
	}
	readOnly := c.readOnly
	c.readOnly = false // a read-only catalogue is an in-memory snapshot here
	defer func() { c.readOnly = readOnly }()
	return c.update("add the targets' region and endpoint", func(tx *sql.Tx) error { return migrate5(tx, c.now()) })
}

// SetConnection records the region and endpoint URL ("" for the provider's
// own) the target was reached with. A read-only catalogue is left alone.
func (c *Catalog) SetConnection(id int64, region, endpoint string) error {
	if c.readOnly {
		return nil
	}
	return c.update(fmt.Sprintf("record how target %d is reached", id), func(tx *sql.Tx) error {
		return execOne(tx, id, "UPDATE targets SET region = ?, endpoint = ? WHERE id = ?",
			nullString(region), nullString(endpoint), id)
	})
}
