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

// lacksConnection reports whether the targets table has no region column:
// a catalogue a development build numbered past 5 before migration 5
// existed (see migration.missing).
func lacksConnection(q querier) (bool, error) { return lacksColumn(q, "targets", "region") }

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
