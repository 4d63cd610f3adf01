package catalog

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Catalogue snapshots (docs/FORMAT.md section 12, docs/DESIGN.md "Losing
// the catalogue"): a consistent copy of one target's part of the
// catalogue, which the engine compresses, encrypts and stores in the
// target, so that the catalogue is never the only copy of what it knows.

// SnapshotMark is how far a snapshot goes: the largest ids of the target's
// rows, content objects (archives and packs, as in RecordsMark) and blobs
// it holds, and the target's change generation, which commands that
// change rows without adding any (forget) advance.
type SnapshotMark struct {
	Version    int64 `json:"version"`
	Object     int64 `json:"object"`
	Blob       int64 `json:"blob"`
	Generation int64 `json:"generation"`
}

// SnapshotState is what the catalogue remembers of the newest snapshot it
// stored (or was recovered from).
type SnapshotState struct {
	ArchiveID string       `json:"archive"`
	Created   time.Time    `json:"created"`
	Size      int64        `json:"size"` // stored bytes
	Mark      SnapshotMark `json:"mark"`
	// Stale says a newer snapshot exists in the store that could not be
	// used (a recovery refused it): the next sync takes one.
	Stale bool `json:"stale,omitempty"`
}

func snapshotKey(targetID int64) string   { return "snapshot:" + strconv.FormatInt(targetID, 10) }
func generationKey(targetID int64) string { return "generation:" + strconv.FormatInt(targetID, 10) }

// WriteSnapshot writes a consistent copy of the catalogue's rows of the
// target to path (a new file, mode 0600; an existing one is replaced) and
// returns how far it goes. Rows of other targets are left out, and their
// bytes zeroed, so a snapshot stored in one target never shows another's
// paths. The copy keeps the schema version; it is an ordinary (rollback
// journal) SQLite database.
func (c *Catalog) WriteSnapshot(targetID int64, path string) (SnapshotMark, error) {
	op := "write catalogue snapshot"
	path, err := filepath.Abs(path)
	if err != nil {
		return SnapshotMark{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return SnapshotMark{}, fmt.Errorf("%s: %w", op, err)
	}
	for _, suffix := range []string{"-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if err := createPrivate(path); err != nil {
		return SnapshotMark{}, fmt.Errorf("%s: %w", op, err)
	}
	if _, err := c.db.Exec("VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return SnapshotMark{}, wrap(c.path, op, err)
	}
	m, err := trimSnapshot(path, targetID)
	if err != nil {
		os.Remove(path)
		return SnapshotMark{}, fmt.Errorf("%s: %w", op, err)
	}
	return m, nil
}

// snapshotIndexes is the table in a snapshot copy that keeps the
// definitions of the indexes the copy leaves out (they are about half of a
// catalogue's pages; a recovery builds them again).
const snapshotIndexes = "grsync_snapshot_indexes"

// trimSnapshot makes the copy at path a snapshot: it removes every other
// target, leaves out the indexes (keeping their definitions), and reads
// the mark. With secure_delete, what is removed is zeroed, so nothing of
// another target stays in the file and the zeroed pages compress to
// almost nothing (no second VACUUM is needed).
func trimSnapshot(path string, targetID int64) (SnapshotMark, error) {
	db, err := openDB(dsn(path, false))
	if err != nil {
		return SnapshotMark{}, err
	}
	defer db.Close()
	stmts := []string{
		"PRAGMA secure_delete = ON",
		"PRAGMA foreign_keys = OFF",
		"BEGIN",
		"DELETE FROM version_pieces WHERE version_id IN (SELECT id FROM sync_history WHERE target_id IS NOT ?1)",
		"DELETE FROM blobs WHERE target_id != ?1",
		"DELETE FROM objects WHERE target_id != ?1",
		"DELETE FROM sync_history WHERE target_id IS NOT ?1",
		"DELETE FROM runs WHERE target_id != ?1",
		"DELETE FROM retrievals WHERE target_id != ?1",
		"DELETE FROM pending_uploads WHERE target_id != ?1",
		"DELETE FROM settings WHERE key GLOB '*:[0-9]*' AND key NOT GLOB ('*:' || ?1)",
		"DELETE FROM targets WHERE id != ?1",
		"CREATE TABLE " + snapshotIndexes + " (name TEXT NOT NULL, sql TEXT NOT NULL)",
		"INSERT INTO " + snapshotIndexes + " SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
	}
	for _, s := range stmts {
		if _, err := db.Exec(s, targetID); err != nil {
			db.Exec("ROLLBACK")
			return SnapshotMark{}, fmt.Errorf("%.50s: %w", s, err)
		}
	}
	names, err := nameSet(db, "SELECT name FROM "+snapshotIndexes)
	if err != nil {
		db.Exec("ROLLBACK")
		return SnapshotMark{}, err
	}
	for name := range names {
		if _, err := db.Exec(`DROP INDEX "` + strings.ReplaceAll(name, `"`, `""`) + `"`); err != nil {
			db.Exec("ROLLBACK")
			return SnapshotMark{}, fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	if _, err := db.Exec("COMMIT"); err != nil {
		return SnapshotMark{}, err
	}
	return readMark(db, targetID)
}

// InstallSnapshot makes the checked snapshot copy at src the catalogue at
// dst, which must not exist: it builds the indexes the snapshot left out,
// then links the file into place (never replacing a file) and removes src.
func InstallSnapshot(src, dst string) error {
	op := "install catalogue snapshot"
	src, err := filepath.Abs(src)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	db, err := openDB(dsn(src, false))
	if err != nil {
		return wrap(src, op, err)
	}
	err = func() error {
		rows, err := db.Query("SELECT name, sql FROM " + snapshotIndexes + " ORDER BY name")
		if err != nil {
			return err
		}
		var defs []string
		for rows.Next() {
			var name, sql string
			if err := rows.Scan(&name, &sql); err != nil {
				rows.Close()
				return err
			}
			defs = append(defs, sql)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		for _, d := range defs {
			if !strings.HasPrefix(d, "CREATE INDEX ") && !strings.HasPrefix(d, "CREATE UNIQUE INDEX ") {
				tx.Rollback()
				return fmt.Errorf("%w: the snapshot keeps %q as an index", ErrCorrupt, d)
			}
			if _, err := tx.Exec(d); err != nil {
				tx.Rollback()
				return fmt.Errorf("%.60s: %w", d, err)
			}
		}
		if _, err := tx.Exec("DROP TABLE " + snapshotIndexes); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wrap(src, op, err)
	}
	if err := os.Link(src, dst); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return os.Remove(src)
}

// readMark returns the mark of a snapshot copy, which holds only targetID.
func readMark(q querier, targetID int64) (SnapshotMark, error) {
	var m SnapshotMark
	err := q.QueryRow(`SELECT (SELECT coalesce(max(id), 0) FROM sync_history),
		(SELECT coalesce(max(id), 0) FROM objects WHERE kind IN ('archive', 'pack')),
		(SELECT coalesce(max(id), 0) FROM blobs)`).Scan(&m.Version, &m.Object, &m.Blob)
	if err != nil {
		return m, err
	}
	var g sql.NullString
	err = q.QueryRow("SELECT value FROM settings WHERE key = ?", generationKey(targetID)).Scan(&g)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return m, err
	}
	if g.Valid {
		m.Generation, _ = strconv.ParseInt(g.String, 10, 64)
	}
	return m, nil
}

// SnapshotInfo describes a snapshot copy checked by CheckSnapshotFile.
type SnapshotInfo struct {
	Target  Target
	Version int // schema version
	Rows    int64
	Mark    SnapshotMark
}

// CheckSnapshotFile checks that path is a catalogue snapshot this grsync
// can use: a grsync catalogue (not too new) that passes SQLite's full
// integrity check and holds exactly one target. It changes nothing.
func CheckSnapshotFile(path string) (SnapshotInfo, error) {
	var info SnapshotInfo
	path, err := filepath.Abs(path)
	if err != nil {
		return info, fmt.Errorf("check snapshot: %w", err)
	}
	exists, err := checkHeader(path)
	if err != nil {
		return info, err
	}
	if !exists {
		return info, fmt.Errorf("check snapshot: %s: %w", path, fs.ErrNotExist)
	}
	db, err := openDB(dsn(path, true))
	if err != nil {
		return info, wrap(path, "check snapshot", err)
	}
	defer db.Close()
	st, err := inspect(db)
	if err != nil {
		return info, wrap(path, "check snapshot", err)
	}
	switch {
	case st.appID != applicationID:
		return info, fmt.Errorf("check snapshot: %w: not a grsync catalogue (application id %#x)", ErrNotCatalog, st.appID)
	case st.version > schemaVersion:
		return info, fmt.Errorf("check snapshot: %w: schema version %d, this grsync knows up to %d; upgrade grsync", ErrTooNew, st.version, schemaVersion)
	case st.version < 7:
		return info, fmt.Errorf("check snapshot: %w: schema version %d is older than any snapshot", ErrCorrupt, st.version)
	}
	rows, err := db.Query("PRAGMA integrity_check(5)")
	if err != nil {
		return info, wrap(path, "check snapshot", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return info, wrap(path, "check snapshot", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := closeRows(rows); err != nil {
		return info, wrap(path, "check snapshot", err)
	}
	if len(problems) > 0 {
		return info, fmt.Errorf("check snapshot: %w: %v", ErrCorrupt, problems)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM targets").Scan(&n); err != nil {
		return info, wrap(path, "check snapshot", err)
	}
	if n != 1 {
		return info, fmt.Errorf("check snapshot: %w: it holds %d targets, not one", ErrCorrupt, n)
	}
	// Only the columns every snapshot has: a snapshot of an older schema
	// gets the others when it is opened (and migrated) as a catalogue.
	if err := db.QueryRow("SELECT id, location FROM targets").Scan(&info.Target.ID, &info.Target.Location); err != nil {
		return info, wrap(path, "check snapshot", err)
	}
	info.Version, info.Rows = st.version, st.rows
	if info.Mark, err = readMark(db, info.Target.ID); err != nil {
		return info, wrap(path, "check snapshot", err)
	}
	return info, nil
}

// Snapshot returns what the catalogue remembers of the target's newest
// snapshot; false when it has none.
func (c *Catalog) Snapshot(targetID int64) (SnapshotState, bool, error) {
	v, ok, err := c.Setting(snapshotKey(targetID))
	if err != nil || !ok {
		return SnapshotState{}, false, err
	}
	var s SnapshotState
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return SnapshotState{}, false, fmt.Errorf("catalogue %s: snapshot state %q: %w", c.path, v, err)
	}
	return s, true, nil
}

// RecordSnapshot records, in one transaction, the snapshot object obj that
// holds the catalogue up to mark, remembers it as the newest, and settles
// its upload note.
func (c *Catalog) RecordSnapshot(obj Object, mark SnapshotMark, settled int64) error {
	st := SnapshotState{ArchiveID: obj.ArchiveID, Created: obj.Uploaded.UTC(), Size: obj.Size, Mark: mark}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return c.update("record catalogue snapshot", func(tx *sql.Tx) error {
		if err := checkTarget(tx, obj.TargetID); err != nil {
			return err
		}
		if settled != 0 {
			if _, err := tx.Exec("DELETE FROM pending_uploads WHERE id = ?", settled); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`INSERT OR IGNORE INTO objects (target_id, archive_id, kind, pack_id, size, tree_hash, storage_class, uploaded_at,
			lock_mode, lock_until, run_id) VALUES (?, ?, 'snapshot', ?, ?, ?, ?, ?, ?, ?, ?)`, obj.TargetID, obj.ArchiveID, nullString(obj.PackID),
			obj.Size, nullString(obj.TreeHash), nullString(obj.Class), nullTime(obj.Uploaded), nullString(obj.LockMode), nullTime(obj.LockUntil),
			nullInt(obj.RunID)); err != nil {
			return err
		}
		return setSetting(tx, snapshotKey(obj.TargetID), string(b))
	})
}

// SetSnapshotState replaces what the catalogue remembers of the target's
// newest snapshot (after a recovery).
func (c *Catalog) SetSnapshotState(targetID int64, s SnapshotState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return c.update("note catalogue snapshot", func(tx *sql.Tx) error {
		return setSetting(tx, snapshotKey(targetID), string(b))
	})
}

func setSetting(tx *sql.Tx, key, value string) error {
	_, err := tx.Exec(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// bumpGeneration advances the change generation of the targets of the
// rows ids: they changed without a new row (forget).
func bumpGeneration(tx *sql.Tx, targets []int64) error {
	for _, t := range targets {
		if _, err := tx.Exec(`INSERT INTO settings (key, value) VALUES (?, '1')
			ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`, generationKey(t)); err != nil {
			return err
		}
	}
	return nil
}

// Changes counts what the target's catalogue holds beyond mark: rows,
// content objects and blobs with larger ids, and whether its change
// generation moved. Cheap: each count starts at the mark's id.
type Changes struct {
	Versions, Objects, Blobs int64
	Generation               bool
}

// Any reports whether anything changed.
func (ch Changes) Any() bool {
	return ch.Versions > 0 || ch.Objects > 0 || ch.Blobs > 0 || ch.Generation
}

// ChangesSince returns what the target gained after mark.
func (c *Catalog) ChangesSince(targetID int64, mark SnapshotMark) (Changes, error) {
	var ch Changes
	// "+target_id" keeps SQLite from scanning a target's index: the scans
	// start at the mark's id, so a catalogue that has not changed costs
	// three lookups whatever its size.
	err := c.db.QueryRow(`SELECT
		(SELECT count(*) FROM sync_history WHERE id > ?2 AND +target_id = ?1),
		(SELECT count(*) FROM objects WHERE id > ?3 AND +target_id = ?1 AND kind IN ('archive', 'pack')),
		(SELECT count(*) FROM blobs WHERE id > ?4 AND +target_id = ?1)`,
		targetID, mark.Version, mark.Object, mark.Blob).Scan(&ch.Versions, &ch.Objects, &ch.Blobs)
	if err != nil {
		return ch, wrap(c.path, "compare with the snapshot", err)
	}
	m, err := readMark(c.db, targetID)
	if err != nil {
		return ch, wrap(c.path, "compare with the snapshot", err)
	}
	ch.Generation = m.Generation != mark.Generation
	return ch, nil
}

// CurrentMark returns the mark a snapshot taken now would have, without
// taking one (after a recovery: the catalogue equals the store's copies).
func (c *Catalog) CurrentMark(targetID int64) (SnapshotMark, error) {
	var m SnapshotMark
	err := c.db.QueryRow(`SELECT
		(SELECT coalesce(max(id), 0) FROM sync_history WHERE target_id = ?1),
		(SELECT coalesce(max(id), 0) FROM objects WHERE target_id = ?1 AND kind IN ('archive', 'pack')),
		(SELECT coalesce(max(id), 0) FROM blobs WHERE target_id = ?1)`, targetID).Scan(&m.Version, &m.Object, &m.Blob)
	if err != nil {
		return m, wrap(c.path, "read the catalogue's mark", err)
	}
	g, err := readMark(c.db, targetID)
	if err != nil {
		return m, wrap(c.path, "read the catalogue's mark", err)
	}
	m.Generation = g.Generation
	return m, nil
}

// ObjectsOfKind returns the target's objects of kind that are still in
// the store, oldest first (by upload time, then id).
func (c *Catalog) ObjectsOfKind(targetID int64, kind ObjectKind) ([]Object, error) {
	rows, err := c.db.Query(`SELECT `+objectColumns+` FROM objects o
		WHERE o.target_id = ? AND o.kind = ? AND o.deleted_at IS NULL ORDER BY o.uploaded_at, o.id`, targetID, string(kind))
	if err != nil {
		return nil, wrap(c.path, "list objects", err)
	}
	var out []Object
	for rows.Next() {
		var o Object
		if err := rows.Scan(objectDest(&o)...); err != nil {
			rows.Close()
			return nil, wrap(c.path, "list objects", err)
		}
		out = append(out, o)
	}
	return out, wrap(c.path, "list objects", closeRows(rows))
}

// MarkObjectDeleted records that the store deleted the target's object.
func (c *Catalog) MarkObjectDeleted(targetID int64, archiveID string, at time.Time) error {
	return c.update("record a deletion", func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE objects SET deleted_at = ? WHERE target_id = ? AND archive_id = ? AND deleted_at IS NULL",
			formatTime(at), targetID, archiveID)
		return err
	})
}

// Uncovered returns the target's changes that neither the snapshot of
// mark nor the version records (RecordsMark) hold: what a recovery from
// the store would lose now. The records carry no forgetting, so a
// generation moved since the snapshot counts.
func (c *Catalog) Uncovered(targetID int64, snap SnapshotMark) (Changes, error) {
	rec, err := c.RecordsMark(targetID)
	if err != nil {
		return Changes{}, err
	}
	m := SnapshotMark{Version: max(snap.Version, rec.Version), Object: max(snap.Object, rec.Object),
		Blob: max(snap.Blob, rec.Blob), Generation: snap.Generation}
	return c.ChangesSince(targetID, m)
}
