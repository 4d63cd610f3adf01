package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// What prune asks of the catalogue. An object is live while a version that
// is not forgotten has a piece in it, or names it in its archive_id (rows a
// Python tool appended that have no pieces yet); records and snapshot
// objects are never prune's to delete (see docs/DESIGN.md, "Prune").
// Deleting is three steps: Condemn (one transaction, checking each object
// is still unused), the store's deletion, then MarkObjectDeleted.

// ObjectUse is a stored object with how much of it kept versions use.
type ObjectUse struct {
	Object
	// Blobs and BlobBytes count the pieces of content the object holds and
	// their stored bytes; LiveBlobs and LiveBytes those a kept version uses.
	Blobs, LiveBlobs     int64
	BlobBytes, LiveBytes int64
	// Named: a kept row's archive_id names the object.
	Named bool
	// SizeEstimated: the catalogue recorded no size for the object (an
	// archive of the Python tool, which kept none), so Size is the largest
	// file size of the rows naming it: an archive is its file, compressed
	// or not, and encrypted or not. Prices and reports use it; nothing
	// compares it with the store.
	SizeEstimated bool
}

// Live reports whether a kept version needs the object.
func (u ObjectUse) Live() bool { return u.LiveBlobs > 0 || u.Named }

// Prunable reports whether prune may ever delete an object of this kind:
// archives and packs, not the records and snapshots recovery reads.
func (u ObjectUse) Prunable() bool { return u.Kind == ObjectArchive || u.Kind == ObjectPack }

// blobLiveSQL is true when a kept row has a piece on blob b (one probe of
// the version_pieces_blob index, then of the rows' primary key).
const blobLiveSQL = `EXISTS (SELECT 1 FROM version_pieces p JOIN sync_history h ON h.id = p.version_id
	WHERE p.blob_id = b.id AND h.forgotten_at IS NULL)`

// ObjectUses returns every object of the target still in the store
// (condemned ones included), with its use, in id order.
func (c *Catalog) ObjectUses(targetID int64) ([]ObjectUse, error) {
	rows, err := c.db.Query(`SELECT `+objectColumns+`,
			count(u.id), coalesce(sum(u.live), 0), coalesce(sum(u.length), 0),
			coalesce(sum(u.live * u.length), 0),
			EXISTS (SELECT 1 FROM sync_history h WHERE h.archive_id = o.archive_id AND h.target_id = ?1
				AND h.deleted = 0 AND h.forgotten_at IS NULL),
			CASE WHEN o.size = 0 AND o.kind = 'archive' THEN coalesce((SELECT max(coalesce(h.file_size, 0))
				FROM sync_history h WHERE h.archive_id = o.archive_id AND h.target_id = ?1), 0) ELSE 0 END
		FROM objects o LEFT JOIN (SELECT b.id, b.object_id, b.length, `+blobLiveSQL+` AS live FROM blobs b) u
			ON u.object_id = o.id
		WHERE o.target_id = ?1 AND o.deleted_at IS NULL
		GROUP BY o.id ORDER BY o.id`, targetID)
	if err != nil {
		return nil, wrap(c.path, "object use", err)
	}
	var out []ObjectUse
	for rows.Next() {
		var u ObjectUse
		var estimate int64
		dest := append(objectDest(&u.Object), &u.Blobs, &u.LiveBlobs, &u.BlobBytes, &u.LiveBytes, &u.Named, &estimate)
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, wrap(c.path, "object use", err)
		}
		if u.Size == 0 && estimate > 0 {
			u.Size, u.SizeEstimated = estimate, true
		}
		out = append(out, u)
	}
	return out, wrap(c.path, "object use", closeRows(rows))
}

// objectLive reports, inside tx, whether a kept version uses object id.
func objectLive(tx *sql.Tx, targetID, id int64, archiveID string) (bool, error) {
	var live bool
	err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM blobs b JOIN version_pieces p ON p.blob_id = b.id
			JOIN sync_history h ON h.id = p.version_id WHERE b.object_id = ? AND h.forgotten_at IS NULL)
		OR EXISTS (SELECT 1 FROM sync_history WHERE target_id = ? AND archive_id = ? AND deleted = 0 AND forgotten_at IS NULL)`,
		id, targetID, archiveID).Scan(&live)
	return live, err
}

// Condemn marks the target's objects ids condemned at `at`, in one
// transaction, each only if it is an archive or a pack, still in the store
// and used by no kept version at that moment; it returns the ids it
// condemned (those condemned earlier included, with their first time).
// From then on deduplication never uses them, so they can be deleted from
// the store in any order and at any later time.
func (c *Catalog) Condemn(targetID int64, ids []int64, at time.Time) ([]int64, error) {
	var out []int64
	err := c.update("condemn unused objects", func(tx *sql.Tx) error {
		out = out[:0]
		if err := checkTarget(tx, targetID); err != nil {
			return err
		}
		for _, id := range ids {
			var archiveID string
			var kind ObjectKind
			var deleted bool
			err := tx.QueryRow(`SELECT archive_id, kind, deleted_at IS NOT NULL FROM objects WHERE id = ? AND target_id = ?`,
				id, targetID).Scan(&archiveID, &kind, &deleted)
			if errors.Is(err, sql.ErrNoRows) || deleted || (kind != ObjectArchive && kind != ObjectPack) {
				continue
			}
			if err != nil {
				return err
			}
			live, err := objectLive(tx, targetID, id, archiveID)
			if err != nil {
				return err
			}
			if live {
				continue
			}
			if _, err := tx.Exec(`UPDATE objects SET condemned_at = coalesce(condemned_at, ?) WHERE id = ?`, formatTime(at), id); err != nil {
				return err
			}
			out = append(out, id)
		}
		if len(out) == 0 {
			return nil
		}
		// A snapshot taken before must not be the store's last word.
		return bumpGeneration(tx, []int64{targetID})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkObjectsDeleted records, in one transaction, that the store no
// longer holds the condemned objects ids (it deleted them, or never had
// them), and forgets their retrievals. An object that was not condemned is
// left alone: an error says so, and nothing is recorded.
func (c *Catalog) MarkObjectsDeleted(targetID int64, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return c.update("mark objects deleted", func(tx *sql.Tx) error {
		for _, id := range ids {
			var archiveID string
			err := tx.QueryRow(`SELECT archive_id FROM objects WHERE id = ? AND target_id = ? AND condemned_at IS NOT NULL`,
				id, targetID).Scan(&archiveID)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("object %d is not condemned: not marked deleted", id)
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE objects SET deleted_at = coalesce(deleted_at, ?) WHERE id = ?`, formatTime(at), id); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM retrievals WHERE target_id = ? AND kind = 'archive' AND archive_id = ?`, targetID, archiveID); err != nil {
				return err
			}
		}
		return bumpGeneration(tx, []int64{targetID})
	})
}

// ObjectBlobs returns the blobs of object id with whether a kept version
// uses each, in member order.
func (c *Catalog) ObjectBlobs(targetID, id int64) ([]Blob, []bool, error) {
	rows, err := c.db.Query(`SELECT `+blobColumns+`, `+blobLiveSQL+` FROM blobs b
		WHERE b.object_id = ? AND b.object_id IN (SELECT id FROM objects WHERE target_id = ?) ORDER BY b.offset, b.id`, id, targetID)
	if err != nil {
		return nil, nil, wrap(c.path, "blobs of object", err)
	}
	var bs []Blob
	var live []bool
	for rows.Next() {
		var b Blob
		var l bool
		if err := rows.Scan(append(blobDest(&b), &l)...); err != nil {
			rows.Close()
			return nil, nil, wrap(c.path, "blobs of object", err)
		}
		bs = append(bs, b)
		live = append(live, l)
	}
	return bs, live, wrap(c.path, "blobs of object", closeRows(rows))
}

// FindBlobElsewhere returns a blob with this hash in an object of the
// target that is in the store, not condemned, and not one of exclude.
func (c *Catalog) FindBlobElsewhere(targetID int64, hash string, exclude map[int64]bool) (Blob, bool, error) {
	if hash == "" {
		return Blob{}, false, nil
	}
	rows, err := c.db.Query(`SELECT `+blobColumns+` FROM blobs b JOIN objects o ON o.id = b.object_id
		WHERE b.target_id = ? AND b.hash = ? AND o.deleted_at IS NULL AND o.condemned_at IS NULL
			AND o.kind IN ('archive', 'pack') ORDER BY b.id DESC`, targetID, hash)
	if err != nil {
		return Blob{}, false, wrap(c.path, "find blob", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b Blob
		if err := rows.Scan(blobDest(&b)...); err != nil {
			return Blob{}, false, wrap(c.path, "find blob", err)
		}
		if !exclude[b.ObjectID] {
			return b, true, nil
		}
	}
	return Blob{}, false, wrap(c.path, "find blob", rows.Err())
}

// Move re-points every version piece on blob From to blob To.
type Move struct {
	From int64
	To   *Blob // a blob committed earlier (ID set) or one of the objects given to Repoint
}

// Repoint records, in one transaction, the new objects (packs a repack
// wrote, with their blobs) and moves version pieces from old blobs to the
// blobs holding the same content. The rows whose first piece moved get
// its object in their archive_id (the Python columns name where a
// version's content starts) and their stored size again. The old blobs
// stay with their objects, which no kept version uses afterwards if every
// live blob moved; prune then deletes them by the usual rules. A move onto
// an object that is condemned or deleted is refused, and nothing is
// recorded. settled are the upload notes of the new objects.
func (c *Catalog) Repoint(targetID int64, objs []*NewObject, moves []Move, settled []int64) error {
	var ids []idAssign
	err := c.update("repoint version pieces", func(tx *sql.Tx) error {
		ids = ids[:0]
		if err := checkTarget(tx, targetID); err != nil {
			return err
		}
		for _, o := range objs {
			if o.TargetID != targetID {
				return fmt.Errorf("object %s is of target %d, not %d", o.ArchiveID, o.TargetID, targetID)
			}
		}
		pending, a, err := insertObjects(tx, objs, c.now(), nil)
		if err != nil {
			return err
		}
		ids = append(ids, a...)
		for _, id := range settled {
			if _, err := tx.Exec("DELETE FROM pending_uploads WHERE id = ?", id); err != nil {
				return err
			}
		}
		for _, m := range moves {
			to := m.To.ID
			if id, ok := pending[m.To]; ok {
				to = id
			}
			var usable bool
			if err := tx.QueryRow(`SELECT o.deleted_at IS NULL AND o.condemned_at IS NULL FROM blobs b
				JOIN objects o ON o.id = b.object_id WHERE b.id = ? AND b.target_id = ?`, to, targetID).Scan(&usable); err != nil {
				return fmt.Errorf("blob %d: %w", to, err)
			}
			if !usable {
				return fmt.Errorf("blob %d is in an object prune condemned or deleted", to)
			}
			if _, err := tx.Exec(`UPDATE version_pieces SET blob_id = ? WHERE blob_id = ?`, to, m.From); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE sync_history SET
					archive_id = (SELECT o.archive_id FROM blobs b JOIN objects o ON o.id = b.object_id WHERE b.id = ?1),
					checksum = (SELECT o.tree_hash FROM blobs b JOIN objects o ON o.id = b.object_id WHERE b.id = ?1),
					compression = (SELECT b.encoding FROM blobs b WHERE b.id = ?1),
					location = NULL
				WHERE id IN (SELECT version_id FROM version_pieces WHERE blob_id = ?1 AND seq = 0)`, to); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE sync_history SET stored_size = (SELECT sum(b.length) FROM version_pieces p
					JOIN blobs b ON b.id = p.blob_id WHERE p.version_id = sync_history.id)
				WHERE id IN (SELECT version_id FROM version_pieces WHERE blob_id = ?)`, to); err != nil {
				return err
			}
		}
		if len(moves) == 0 {
			return nil
		}
		// Version records do not carry moved pieces: a snapshot must.
		return bumpGeneration(tx, []int64{targetID})
	})
	if err != nil {
		return err
	}
	for _, a := range ids {
		*a.p = a.id
	}
	return nil
}

// VersionState is one row of a path's history, as ls --versions shows it.
type VersionState struct {
	Version
	// Forgotten is when forget dropped the version (zero: it is kept).
	Forgotten time.Time
	// Gone: some of its content is in objects prune condemned or deleted.
	Gone bool
}

// History calls fn with every row (versions and deletions, forgotten ones
// too) of each path of the target under prefixes (all when empty), in
// path order and, within a path, oldest first.
func (c *Catalog) History(targetID int64, prefixes []string, fn func(path string, rows []VersionState) error) error {
	norm, err := normalizePrefixes(prefixes)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	for _, r := range stateRanges(targetID, norm) {
		rows, err := c.db.Query(`SELECT `+versionColumns+`, h.forgotten_at,
				EXISTS (SELECT 1 FROM version_pieces p JOIN blobs b ON b.id = p.blob_id JOIN objects o ON o.id = b.object_id
					WHERE p.version_id = h.id AND (o.deleted_at IS NOT NULL OR o.condemned_at IS NOT NULL))
			FROM sync_history h WHERE h.target_id = ? AND `+r.cond+` ORDER BY h.path, h.id`, r.args...)
		if err != nil {
			return wrap(c.path, "history", err)
		}
		err = eachPath(rows, func(rows *sql.Rows) (string, VersionState, error) {
			var vs VersionState
			var forgotten sql.NullString
			v, err := scanVersionWith(rows, &forgotten, &vs.Gone)
			if err == nil {
				vs.Forgotten, err = parseTime(forgotten)
			}
			vs.Version = v
			return v.Path, vs, err
		}, fn)
		if err != nil {
			return wrap(c.path, "history", err)
		}
	}
	return nil
}

// RelinkPieces re-points the target's version pieces whose object the
// store no longer holds (present says which archive ids it holds) to a
// blob with the same content in an object it does hold: after a repack,
// the store's older version records name the old pack, the newer ones the
// new pack's content. It returns how many pieces' blobs moved.
func (c *Catalog) RelinkPieces(targetID int64, present func(archiveID string) bool) (int, error) {
	rows, err := c.db.Query(`SELECT DISTINCT b.id, coalesce(b.hash, ''), o.archive_id FROM version_pieces p
		JOIN blobs b ON b.id = p.blob_id JOIN objects o ON o.id = b.object_id WHERE b.target_id = ?`, targetID)
	if err != nil {
		return 0, wrap(c.path, "relink pieces", err)
	}
	type gone struct {
		id   int64
		hash string
	}
	var missing []gone
	for rows.Next() {
		var g gone
		var archive string
		if err := rows.Scan(&g.id, &g.hash, &archive); err != nil {
			rows.Close()
			return 0, wrap(c.path, "relink pieces", err)
		}
		if !present(archive) && g.hash != "" {
			missing = append(missing, g)
		}
	}
	if err := closeRows(rows); err != nil {
		return 0, wrap(c.path, "relink pieces", err)
	}
	var moves []Move
	for _, g := range missing {
		cand, err := c.db.Query(`SELECT `+blobColumns+`, o.archive_id FROM blobs b JOIN objects o ON o.id = b.object_id
			WHERE b.target_id = ? AND b.hash = ? AND b.id != ? AND o.deleted_at IS NULL AND o.condemned_at IS NULL
			ORDER BY b.id DESC`, targetID, g.hash, g.id)
		if err != nil {
			return 0, wrap(c.path, "relink pieces", err)
		}
		for cand.Next() {
			var b Blob
			var archive string
			if err := cand.Scan(append(blobDest(&b), &archive)...); err != nil {
				cand.Close()
				return 0, wrap(c.path, "relink pieces", err)
			}
			if present(archive) {
				moves = append(moves, Move{From: g.id, To: &b})
				break
			}
		}
		if err := closeRows(cand); err != nil {
			return 0, wrap(c.path, "relink pieces", err)
		}
	}
	if len(moves) == 0 {
		return 0, nil
	}
	return len(moves), c.Repoint(targetID, nil, moves, nil)
}
