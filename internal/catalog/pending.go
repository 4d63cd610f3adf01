package catalog

import (
	"database/sql"
	"fmt"
	"time"
)

// PendingUpload is an upload that was started and not yet recorded: if it
// is still there when no grsync runs, the run that started it died, and
// whatever it stored under Group is garbage.
type PendingUpload struct {
	ID       int64
	TargetID int64
	Path     string
	Group    string // the group id in the archive descriptions (see docs/FORMAT.md)
	Started  time.Time
	// Resume is what continues the upload (see SetUploadResume), or nil
	// when it cannot be continued.
	Resume []byte
}

// BeginUpload notes an upload before anything is sent.
func (c *Catalog) BeginUpload(targetID int64, path, group string, at time.Time) (int64, error) {
	if err := checkPath(path); err != nil {
		return 0, fmt.Errorf("begin upload: %w", err)
	}
	var id int64
	err := c.update("note upload of "+path, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO pending_uploads (target_id, path, group_id, started) VALUES (?, ?, ?, ?)`,
			targetID, path, group, formatTime(at))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// RecordUpload records v and forgets the pending upload in one transaction.
func (c *Catalog) RecordUpload(v Version, pendingID int64) (int64, error) {
	if err := checkPath(v.Path); err != nil {
		return 0, fmt.Errorf("record version: %w", err)
	}
	if v.ArchiveID == "" || v.Deleted {
		return 0, fmt.Errorf("record upload of %q: no archive id", v.Path)
	}
	if v.Timestamp.IsZero() {
		v.Timestamp = c.now()
	}
	var id int64
	err := c.update("record version of "+v.Path, func(tx *sql.Tx) error {
		if err := checkTarget(tx, v.TargetID); err != nil {
			return err
		}
		var err error
		if id, err = insertVersion(tx, v); err != nil {
			return err
		}
		if err := attachArchive(tx, v, id); err != nil {
			return err
		}
		_, err = tx.Exec("DELETE FROM pending_uploads WHERE id = ?", pendingID)
		return err
	})
	return id, err
}

// SetUploadResume stores, with the pending upload, what a later run needs
// to continue it: an opaque record the engine encodes (it holds the store's
// upload id, and secrets only sealed under the user's key). It is written
// before the upload's first part is sent.
func (c *Catalog) SetUploadResume(id int64, resume []byte) error {
	return c.update("note how to resume an upload", func(tx *sql.Tx) error {
		res, err := tx.Exec("UPDATE pending_uploads SET resume = ? WHERE id = ?", resume, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("pending upload %d is not noted", id)
		}
		return nil
	})
}

// EndUpload forgets a pending upload (its archives were removed, or none
// was stored).
func (c *Catalog) EndUpload(id int64) error {
	return c.update("forget pending upload", func(tx *sql.Tx) error {
		_, err := tx.Exec("DELETE FROM pending_uploads WHERE id = ?", id)
		return err
	})
}

// PendingUploads lists the target's unfinished uploads, oldest first.
func (c *Catalog) PendingUploads(targetID int64) ([]PendingUpload, error) {
	rows, err := c.db.Query(`SELECT id, target_id, path, group_id, started, resume FROM pending_uploads
		WHERE target_id = ? ORDER BY id`, targetID)
	if err != nil {
		return nil, wrap(c.path, "pending uploads", err)
	}
	var out []PendingUpload
	for rows.Next() {
		var p PendingUpload
		var started sql.NullString
		if err := rows.Scan(&p.ID, &p.TargetID, &p.Path, &p.Group, &started, &p.Resume); err != nil {
			rows.Close()
			return nil, wrap(c.path, "pending uploads", err)
		}
		if p.Started, err = parseTime(started); err != nil {
			rows.Close()
			return nil, wrap(c.path, "pending uploads", err)
		}
		out = append(out, p)
	}
	return out, closeRows(rows)
}
