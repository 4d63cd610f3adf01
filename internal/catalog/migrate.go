package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// schemaVersion is the PRAGMA user_version this code writes and understands.
const schemaVersion = 11

// applicationID marks grsync catalogues ("grsy") in the SQLite header.
const applicationID = 0x67727379

// legacyTableSQL is exactly the table the Python tools create. A fresh
// catalogue creates it too, so old tools can read a grsync catalogue.
const legacyTableSQL = `CREATE TABLE sync_history (id integer primary key, path text, file_size integer, ` +
	`mtime float, archive_id text, location text, checksum text, compression text, timestamp text)`

// legacyColumns are sync_history's columns in the Python tools' schema.
func legacyColumns() []string {
	return []string{"id", "path", "file_size", "mtime", "archive_id", "location", "checksum", "compression", "timestamp"}
}

// dbState is what Open learns about a file before deciding to touch it.
type dbState struct {
	version    int
	appID      int64
	tables     map[string]bool
	legacyCols map[string]bool
	rows       int64 // rows in sync_history, if it exists
	orphans    bool  // rows without a target (added by an old tool since migration)
}

// inspect reads the schema version and tables; on a file that is not a
// database this is the first statement to fail (SQLITE_NOTADB).
func inspect(db *sql.DB) (dbState, error) {
	st := dbState{tables: map[string]bool{}, legacyCols: map[string]bool{}}
	var err error
	if err := db.QueryRow("PRAGMA user_version").Scan(&st.version); err != nil {
		return st, err
	}
	if err := db.QueryRow("PRAGMA application_id").Scan(&st.appID); err != nil {
		return st, err
	}
	if st.tables, err = nameSet(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"); err != nil {
		st.tables = map[string]bool{}
		return st, err
	}
	if !st.tables["sync_history"] {
		return st, nil
	}
	if st.legacyCols, err = nameSet(db, "SELECT name FROM pragma_table_info('sync_history')"); err != nil {
		st.legacyCols = map[string]bool{}
		return st, err
	}
	if err := db.QueryRow("SELECT count(*) FROM sync_history").Scan(&st.rows); err != nil {
		return st, err
	}
	if st.legacyCols["target_id"] {
		err = db.QueryRow("SELECT EXISTS (SELECT 1 FROM sync_history WHERE target_id IS NULL)").Scan(&st.orphans)
	}
	return st, err
}

// accept decides whether this code may use (and migrate) the catalogue.
func (c *Catalog) accept(st dbState) error {
	ours := st.appID == applicationID
	switch {
	case st.version > schemaVersion && ours:
		return fmt.Errorf("open catalogue: %w: %s has schema version %d, this grsync knows up to %d; upgrade grsync (the catalogue was not changed)",
			ErrTooNew, c.path, st.version, schemaVersion)
	case st.version > 0 && !ours:
		return fmt.Errorf("open catalogue: %w: %s is an SQLite database of another program (application id %#x, version %d)",
			ErrNotCatalog, c.path, st.appID, st.version)
	case st.version == 0 && st.appID != 0:
		return fmt.Errorf("open catalogue: %w: %s is an SQLite database of another program (application id %#x)",
			ErrNotCatalog, c.path, st.appID)
	}
	if st.tables["sync_history"] {
		for _, col := range legacyColumns() {
			if !st.legacyCols[col] {
				return fmt.Errorf("open catalogue: %w: %s has a sync_history table without column %q",
					ErrNotCatalog, c.path, col)
			}
		}
		return nil
	}
	if st.version > 0 || len(st.tables) > 0 {
		return fmt.Errorf("open catalogue: %w: %s has no sync_history table", ErrNotCatalog, c.path)
	}
	return nil
}

// migration moves the schema from version-1 to version.
type migration struct {
	version int
	apply   func(tx *sql.Tx, now time.Time) error
	// missing, if set, reports whether a catalogue at a later version
	// lacks this migration's change; it is then applied when the
	// catalogue is opened (in memory when it is opened read-only).
	// Versions 5 and 6 were numbered before version 7 was merged, so a
	// catalogue a development build wrote at version 7 may lack them;
	// their changes are additive, so applying them late is safe.
	missing func(q querier) (bool, error)
}

// lacksColumn reports whether table has no column named column.
func lacksColumn(q querier, table, column string) (bool, error) {
	var n int
	err := q.QueryRow("SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", table, column).Scan(&n)
	return n == 0, err
}

// gaps returns the migrations at or below version whose change a
// catalogue at version lacks (see migration.missing).
func gaps(q querier, version int) ([]migration, error) {
	var out []migration
	for _, m := range migrations() {
		if m.version > version || m.missing == nil {
			continue
		}
		lacks, err := m.missing(q)
		if err != nil {
			return nil, err
		}
		if lacks {
			out = append(out, m)
		}
	}
	return out, nil
}

func migrations() []migration {
	return []migration{{version: 1, apply: migrate1}, {version: 2, apply: migrate2}, {version: 3, apply: migrate3}, {version: 4, apply: migrate4},
		{version: 5, apply: migrate5, missing: lacksConnection},
		{version: 6, apply: migrate6, missing: lacksStoreID},
		{version: 7, apply: migrate7}, {version: 8, apply: migrate8}, {version: 9, apply: migrate9}, {version: 10, apply: migrate10},
		{version: 11, apply: migrate11}}
}

// migrate brings the catalogue from st.version to schemaVersion in one
// transaction, applying also the earlier migrations it lacks (see
// migration.missing). With backup, a catalogue holding rows is first copied to
// <path>.pre-vN-<time>.bak.
func (c *Catalog) migrate(st dbState, backup bool) error {
	late, err := gaps(c.db, st.version)
	if err != nil {
		return wrap(c.path, "inspect catalogue", err)
	}
	if st.version == schemaVersion && len(late) == 0 {
		if !st.orphans || !c.readOnly {
			return nil
		}
		// A read-only snapshot: link what an old tool added, in memory.
		c.readOnly = false
		defer func() { c.readOnly = true }()
		return c.update("link rows written by older tools", func(tx *sql.Tx) error {
			return linkCurrent(tx, c.now())
		})
	}
	if backup && st.rows > 0 {
		name := fmt.Sprintf("%s.pre-v%d-%s.bak", c.path, schemaVersion, c.now().UTC().Format("20060102T150405.000000000Z"))
		// VACUUM INTO fills an empty file; created here, it is private
		// like the catalogue it copies.
		if err := createPrivate(name); err != nil {
			return wrap(c.path, "back up catalogue before upgrading it", err)
		}
		if _, err := c.db.Exec("VACUUM INTO ?", name); err != nil {
			os.Remove(name)
			return wrap(c.path, "back up catalogue before upgrading it", err)
		}
	}
	op := fmt.Sprintf("upgrade catalogue %s from version %d to %d", c.path, st.version, schemaVersion)
	readOnly := c.readOnly
	c.readOnly = false // an in-memory snapshot of a read-only catalogue is migrated too
	defer func() { c.readOnly = readOnly }()
	return c.update(op, func(tx *sql.Tx) error {
		for _, m := range migrations() {
			isLate := slices.ContainsFunc(late, func(g migration) bool { return g.version == m.version })
			if m.version <= st.version && !isLate {
				continue
			}
			if err := m.apply(tx, c.now()); err != nil {
				return fmt.Errorf("migration %d: %w", m.version, err)
			}
		}
		if st.version == schemaVersion && st.orphans && readOnly {
			if err := linkCurrent(tx, c.now()); err != nil {
				return err
			}
		}
		_, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
}

// migrate4 lets an upload intent carry what a later run needs to continue
// the upload (an opaque record the engine writes; see SetUploadResume).
func migrate4(tx *sql.Tx, _ time.Time) error {
	_, err := tx.Exec(`ALTER TABLE pending_uploads ADD COLUMN resume BLOB`)
	return err
}

// migrate3 adds the upload intents: an upload is noted (with the random
// group id its archive descriptions carry) before its first byte is sent
// and forgotten in the transaction that records it, so archives left by a
// crash between the two can be recognised and removed.
func migrate3(tx *sql.Tx, _ time.Time) error {
	_, err := tx.Exec(`CREATE TABLE pending_uploads (id INTEGER PRIMARY KEY,
		target_id INTEGER NOT NULL REFERENCES targets(id), path TEXT NOT NULL,
		group_id TEXT NOT NULL, started TEXT NOT NULL)`)
	return err
}

// migrate2 replaces the (target, path, id) index by one that also covers
// what sync compares (size, mtimes, tombstone), so loading the states of
// 100,000 files is one index-only scan.
func migrate2(tx *sql.Tx, _ time.Time) error {
	for _, s := range []string{
		`CREATE INDEX sync_history_states ON sync_history(target_id, path, id, file_size, mtime, mtime_ns, deleted)`,
		`DROP INDEX sync_history_target_path`,
	} {
		if _, err := tx.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

// migrate1 adds targets, per-version metadata, retrievals and settings,
// keeping every legacy column and row as it was.
func migrate1(tx *sql.Tx, now time.Time) error {
	stmts := []string{
		strings.Replace(legacyTableSQL, "CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1),
		`CREATE TABLE targets (id INTEGER PRIMARY KEY, location TEXT UNIQUE NOT NULL, key_fingerprint TEXT,
			encrypted INTEGER, created TEXT, last_used TEXT)`,
		`ALTER TABLE sync_history ADD COLUMN target_id INTEGER REFERENCES targets(id)`,
		`ALTER TABLE sync_history ADD COLUMN mtime_ns INTEGER`,
		`ALTER TABLE sync_history ADD COLUMN mode INTEGER`,
		`ALTER TABLE sync_history ADD COLUMN content_hash TEXT`,
		`ALTER TABLE sync_history ADD COLUMN stored_size INTEGER`,
		`ALTER TABLE sync_history ADD COLUMN description TEXT`,
		`ALTER TABLE sync_history ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE sync_history ADD COLUMN recorded_at TEXT`,
		`CREATE INDEX sync_history_target_path ON sync_history(target_id, path, id)`,
		`CREATE INDEX sync_history_target_content ON sync_history(target_id, content_hash)`,
		`CREATE INDEX sync_history_archive ON sync_history(archive_id)`,
		`CREATE TABLE retrievals (id INTEGER PRIMARY KEY,
			target_id INTEGER NOT NULL REFERENCES targets(id),
			kind TEXT NOT NULL CHECK (kind IN ('archive', 'inventory')),
			archive_id TEXT NOT NULL DEFAULT '', job_id TEXT, tier TEXT, requested TEXT, expires TEXT,
			ready INTEGER NOT NULL DEFAULT 0, size INTEGER, tree_hash TEXT, days INTEGER,
			UNIQUE(target_id, kind, archive_id))`,
		`CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)`,
		fmt.Sprintf("PRAGMA application_id = %d", applicationID),
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			return fmt.Errorf("%.60s...: %w", s, err)
		}
	}
	_, err := linkLegacyRows(tx, now)
	return err
}

// legacyVault returns VAULT from a Python-tool location
// "/ACCOUNT/vaults/VAULT/archives/ID".
func legacyVault(location string) (string, bool) {
	parts := strings.Split(location, "/")
	if len(parts) != 6 || parts[0] != "" || parts[1] == "" || parts[2] != "vaults" ||
		parts[3] == "" || parts[4] != "archives" || parts[5] == "" {
		return "", false
	}
	return parts[3], true
}

// legacyRecordedAt is when a Python-tool row was uploaded: its HTTP-date
// timestamp, else its file's mtime, else unknown.
func legacyRecordedAt(timestamp sql.NullString, mtime sql.NullFloat64) any {
	if timestamp.Valid {
		if t, err := parseHTTPTime(timestamp.String); err == nil {
			return formatTime(t)
		}
	}
	if mtime.Valid && mtime.Float64 > 0 && mtime.Float64 < 1e11 {
		sec := int64(mtime.Float64)
		return formatTime(time.Unix(sec, int64((mtime.Float64-float64(sec))*1e9)))
	}
	return nil
}

// linkLegacyRows attaches rows without a target (written by the Python tools,
// before or after migration) to target "glacier::VAULT", or to the one
// "glacier:REGION:VAULT" that adopted it. Rows whose location is not a Glacier
// archive location stay unlinked and invisible.
func linkLegacyRows(tx *sql.Tx, now time.Time) (int, error) {
	type orphan struct {
		id       int64
		location sql.NullString
		ts       sql.NullString
		mtime    sql.NullFloat64
	}
	rows, err := tx.Query("SELECT id, location, timestamp, mtime FROM sync_history WHERE target_id IS NULL")
	if err != nil {
		return 0, err
	}
	var orphans []orphan
	for rows.Next() {
		var o orphan
		var mtime any
		if err := rows.Scan(&o.id, &o.location, &o.ts, &mtime); err != nil {
			rows.Close()
			return 0, err
		}
		if f, ok := mtime.(float64); ok {
			o.mtime = sql.NullFloat64{Float64: f, Valid: true}
		} else if i, ok := mtime.(int64); ok {
			o.mtime = sql.NullFloat64{Float64: float64(i), Valid: true}
		}
		orphans = append(orphans, o)
	}
	if err := closeRows(rows); err != nil {
		return 0, err
	}
	targetOf := map[string]int64{}
	for _, o := range orphans {
		vault, ok := legacyVault(o.location.String)
		if !ok {
			continue
		}
		tid, ok := targetOf[vault]
		if !ok {
			if tid, err = legacyTarget(tx, vault, now); err != nil {
				return 0, err
			}
			targetOf[vault] = tid
		}
		if _, err := tx.Exec("UPDATE sync_history SET target_id = ?, recorded_at = coalesce(recorded_at, ?) WHERE id = ?",
			tid, legacyRecordedAt(o.ts, o.mtime), o.id); err != nil {
			return 0, err
		}
	}
	// A legacy target was created and last used when its rows were uploaded.
	for _, tid := range targetOf {
		if _, err := tx.Exec(`UPDATE targets SET
			created = min(coalesce(created, x.first), coalesce(x.first, created)),
			last_used = max(coalesce(last_used, x.last), coalesce(x.last, last_used))
			FROM (SELECT min(recorded_at) AS first, max(recorded_at) AS last FROM sync_history WHERE target_id = ?) AS x
			WHERE targets.id = ?`, tid, tid); err != nil {
			return 0, err
		}
	}
	return len(orphans), nil
}

// linkCurrent links rows an old tool added to a catalogue of the current
// schema, and gives them the pieces every live row has.
func linkCurrent(tx *sql.Tx, now time.Time) error {
	n, err := linkLegacyRows(tx, now)
	if err != nil || n == 0 {
		return err
	}
	return attachPieces(tx)
}

// legacyTarget returns the target for Python-tool rows of vault: "glacier::VAULT"
// if it exists, else the only "glacier:REGION:VAULT" (it adopted the legacy
// target), else a new "glacier::VAULT".
func legacyTarget(tx *sql.Tx, vault string, now time.Time) (int64, error) {
	legacy := "glacier::" + vault
	var id int64
	err := tx.QueryRow("SELECT id FROM targets WHERE location = ?", legacy).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	rows, err := tx.Query("SELECT id, location FROM targets WHERE location >= 'glacier:' AND location < 'glacier;'")
	if err != nil {
		return 0, err
	}
	var matches []int64
	for rows.Next() {
		var loc string
		if err := rows.Scan(&id, &loc); err != nil {
			rows.Close()
			return 0, err
		}
		if region, v, ok := splitGlacier(loc); ok && region != "" && v == vault {
			matches = append(matches, id)
		}
	}
	if err := closeRows(rows); err != nil {
		return 0, err
	}
	if len(matches) == 1 {
		return matches[0], nil
	}
	res, err := tx.Exec("INSERT INTO targets (location, created) VALUES (?, ?)", legacy, formatTime(now))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// snapshot copies the database behind srcDSN into a private in-memory
// database, through SQLite's backup API (which reads a consistent snapshot,
// WAL included).
func snapshot(srcDSN string) (*sql.DB, error) {
	mem, err := openDB("file:grsync-snapshot?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	conn, err := mem.Conn(ctx)
	if err != nil {
		mem.Close()
		return nil, err
	}
	err = conn.Raw(func(dc any) error {
		r, ok := dc.(interface {
			NewRestore(string) (*sqlite.Backup, error)
		})
		if !ok {
			return errors.New("sqlite driver has no backup API")
		}
		b, err := r.NewRestore(srcDSN)
		if err != nil {
			return err
		}
		for {
			more, err := b.Step(-1)
			if err != nil {
				b.Finish()
				return err
			}
			if !more {
				return b.Finish()
			}
		}
	})
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy catalogue into memory: %w", err)
	}
	return mem, nil
}

// closeRows closes rows and reports any iteration error.
func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// nameSet runs a query returning one text column and returns its values.
func nameSet(db *sql.DB, query string) (map[string]bool, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		set[name] = true
	}
	return set, closeRows(rows)
}
