package catalog

import (
	"database/sql"
	"fmt"
	"time"
)

// Run is one sync run of a target: retention rules count the ends of
// complete runs as the points in time a backup was taken.
type Run struct {
	ID, TargetID      int64
	Started, Finished time.Time // Finished is zero while running or after a crash
	Complete          bool      // the run walked every source and recorded all it found
}

// BeginRun notes the start of a sync run and returns its id.
func (c *Catalog) BeginRun(targetID int64, at time.Time) (int64, error) {
	var id int64
	err := c.update("begin run", func(tx *sql.Tx) error {
		if err := checkTarget(tx, targetID); err != nil {
			return err
		}
		res, err := tx.Exec("INSERT INTO runs (target_id, started) VALUES (?, ?)", targetID, formatTime(at))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// EndRun notes the end of run id; complete says it finished all its work.
func (c *Catalog) EndRun(id int64, at time.Time, complete bool) error {
	return c.update("end run", func(tx *sql.Tx) error {
		return execOne(tx, id, "UPDATE runs SET finished = ?, complete = ? WHERE id = ?", formatTime(at), complete, id)
	})
}

// Runs returns the target's runs, oldest first.
func (c *Catalog) Runs(targetID int64) ([]Run, error) {
	rows, err := c.db.Query("SELECT id, target_id, started, finished, complete FROM runs WHERE target_id = ? ORDER BY id", targetID)
	if err != nil {
		return nil, wrap(c.path, "list runs", err)
	}
	var out []Run
	for rows.Next() {
		var r Run
		if err := rows.Scan(&r.ID, &r.TargetID, timeScanner{&r.Started}, timeScanner{&r.Finished}, &r.Complete); err != nil {
			rows.Close()
			return nil, wrap(c.path, "list runs", fmt.Errorf("run: %w", err))
		}
		out = append(out, r)
	}
	return out, wrap(c.path, "list runs", closeRows(rows))
}

// RestoreRuns gives back the runs that rows of the target name but the
// catalogue lacks (rows added from version records, which do not carry
// runs): each from its first to its last recorded row, counted as
// complete. Retention then finds the same points in time, to within the
// run's last seconds.
func (c *Catalog) RestoreRuns(targetID int64) (int, error) {
	var n int64
	err := c.update("restore runs", func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT OR IGNORE INTO runs (id, target_id, started, finished, complete)
			SELECT run_id, ?1, min(recorded_at), max(recorded_at), 1 FROM sync_history
			WHERE target_id = ?1 AND run_id IS NOT NULL AND recorded_at IS NOT NULL
				AND run_id NOT IN (SELECT id FROM runs)
			GROUP BY run_id`, targetID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
