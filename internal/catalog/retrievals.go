package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Retrieval kinds.
const (
	// KindArchive is a job retrieving one archive.
	KindArchive = "archive"
	// KindInventory is a job retrieving a vault's inventory (ArchiveID "").
	KindInventory = "inventory"
)

// Retrieval is a cold-storage retrieval job, remembered so that a restore
// reuses a pending or ready job instead of paying for a second one. There is
// at most one per (TargetID, Kind, ArchiveID): a new job for an archive
// (say, for a range the recorded one does not cover) replaces it.
type Retrieval struct {
	TargetID int64
	// Kind is KindArchive or KindInventory.
	Kind string
	// ArchiveID is the archive retrieved; "" for an inventory.
	ArchiveID string
	JobID     string
	// Tier is the retrieval tier (Expedited, Standard, Bulk).
	Tier string
	// Requested is when the job was started; Expires when its output (or the
	// restored copy) stops being available. Both UTC; zero if unknown.
	Requested, Expires time.Time
	// Ready is true once the job's output can be read.
	Ready bool
	// Size and TreeHash describe the job's output, once known.
	Size     int64
	TreeHash string
	// Days is how long a restored S3 copy is kept.
	Days int
	// Offset and Length: the byte range of the archive the job retrieves
	// (a vault's ranged job); Length 0 is the whole archive.
	Offset, Length int64
}

// Covers reports whether the retrieval's output holds bytes [off,
// off+length) of its archive.
func (r Retrieval) Covers(off, length int64) bool {
	return r.Length == 0 || (off >= r.Offset && length >= 0 && off+length <= r.Offset+r.Length)
}

func checkRetrievalKey(kind, archiveID string) error {
	switch kind {
	case KindArchive:
		if archiveID == "" {
			return errors.New("archive retrieval without archive id")
		}
	case KindInventory:
		if archiveID != "" {
			return fmt.Errorf("inventory retrieval with archive id %q", archiveID)
		}
	default:
		return fmt.Errorf("bad retrieval kind %q: want %q or %q", kind, KindArchive, KindInventory)
	}
	return nil
}

// SaveRetrieval inserts r, or replaces the retrieval with the same
// (TargetID, Kind, ArchiveID).
func (c *Catalog) SaveRetrieval(r Retrieval) error {
	if err := checkRetrievalKey(r.Kind, r.ArchiveID); err != nil {
		return fmt.Errorf("save retrieval: %w", err)
	}
	if r.Offset < 0 || r.Length < 0 || (r.Length == 0 && r.Offset != 0) || (r.Length > 0 && r.Kind != KindArchive) {
		return fmt.Errorf("save retrieval: bad byte range offset %d length %d", r.Offset, r.Length)
	}
	return c.update("save retrieval", func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO retrievals (target_id, kind, archive_id, job_id, tier, requested, expires,
				ready, size, tree_hash, days, range_offset, range_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (target_id, kind, archive_id) DO UPDATE SET job_id = excluded.job_id,
				tier = excluded.tier, requested = excluded.requested, expires = excluded.expires,
				ready = excluded.ready, size = excluded.size, tree_hash = excluded.tree_hash, days = excluded.days,
				range_offset = excluded.range_offset, range_length = excluded.range_length`,
			r.TargetID, r.Kind, r.ArchiveID, nullString(r.JobID), nullString(r.Tier), nullTime(r.Requested),
			nullTime(r.Expires), r.Ready, r.Size, nullString(r.TreeHash), r.Days, r.Offset, r.Length)
		if sqliteCode(err) == sqliteConstraint {
			return fmt.Errorf("%w: %d: %w", ErrNoTarget, r.TargetID, err)
		}
		return err
	})
}

// Retrieval returns the remembered retrieval for (targetID, kind, archiveID).
func (c *Catalog) Retrieval(targetID int64, kind, archiveID string) (Retrieval, bool, error) {
	if err := checkRetrievalKey(kind, archiveID); err != nil {
		return Retrieval{}, false, fmt.Errorf("look up retrieval: %w", err)
	}
	r := Retrieval{TargetID: targetID, Kind: kind, ArchiveID: archiveID}
	var requested, expires sql.NullString
	err := c.db.QueryRow(`SELECT coalesce(job_id, ''), coalesce(tier, ''), requested, expires, ready,
			coalesce(size, 0), coalesce(tree_hash, ''), coalesce(days, 0), range_offset, range_length
		FROM retrievals WHERE target_id = ? AND kind = ? AND archive_id = ?`, targetID, kind, archiveID).
		Scan(&r.JobID, &r.Tier, &requested, &expires, &r.Ready, &r.Size, &r.TreeHash, &r.Days, &r.Offset, &r.Length)
	if errors.Is(err, sql.ErrNoRows) {
		return Retrieval{}, false, nil
	}
	if err == nil {
		r.Requested, err = parseTime(requested)
	}
	if err == nil {
		r.Expires, err = parseTime(expires)
	}
	if err != nil {
		return Retrieval{}, false, wrap(c.path, "look up retrieval", err)
	}
	return r, true, nil
}

// DeleteRetrieval forgets the retrieval for (targetID, kind, archiveID), if any.
func (c *Catalog) DeleteRetrieval(targetID int64, kind, archiveID string) error {
	if err := checkRetrievalKey(kind, archiveID); err != nil {
		return fmt.Errorf("delete retrieval: %w", err)
	}
	return c.update("delete retrieval", func(tx *sql.Tx) error {
		_, err := tx.Exec("DELETE FROM retrievals WHERE target_id = ? AND kind = ? AND archive_id = ?",
			targetID, kind, archiveID)
		return err
	})
}
