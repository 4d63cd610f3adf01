package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Version is one row of sync_history: one stored version of one file, or a
// tombstone saying the file was gone from the source.
type Version struct {
	ID, TargetID int64
	// Path is the file's absolute path, its raw bytes (not necessarily UTF-8).
	Path string
	Size int64
	// MTime is the modification time in seconds as a float, as the Python
	// tools stored it. MTimeNS is the exact time in Unix nanoseconds; 0 means
	// unknown (rows of the Python tools).
	MTime   float64
	MTimeNS int64
	// Mode is the file's mode bits; 0 means unknown.
	Mode uint32
	// Deleted marks a tombstone: the file was gone from the source at Timestamp.
	// (The booleans sit beside Mode, in its padding: a restore holds one
	// Version per file.)
	Deleted bool
	// OwnerKnown says whether UID and GID are known.
	OwnerKnown bool
	// ArchiveID names the archive in the target's store ("" for tombstones).
	ArchiveID string
	// Location is the Python tools' archive location (/ACCOUNT/vaults/VAULT/archives/ID), if any.
	Location string
	// Checksum is the SHA-256 tree hash (hex) of the archive's bytes.
	Checksum string
	// Compression is how the archive's bytes encode the file, e.g. "zstd",
	// "encrypted+zstd" (Python tools) or grsync's own names.
	Compression string
	// Timestamp is when the version was recorded (UTC); zero in Record means now.
	Timestamp time.Time
	// ContentHash is the hex hash of the file's plaintext ("" for legacy rows).
	ContentHash string
	// StoredSize is the archive's size in bytes (0 if unknown).
	StoredSize int64
	// Description is the user's --desc text.
	Description string

	// Kind is what the path is: a regular file, a folder or a symlink.
	Kind EntryKind
	// UID and GID are the owner and group, when OwnerKnown (rows of older
	// versions and of the Python tools have none).
	UID, GID int64
	// LinkTarget is a symlink's target text, byte for byte.
	LinkTarget string
	// Hardlink identifies the inode ("DEV:INO") of a file with more than
	// one link when it was backed up; versions recorded by one run with the
	// same Hardlink were hard links to each other.
	Hardlink string
	// Flags are FlagChangedWhileRead and friends.
	Flags Flags
	// RunID is the sync run that recorded the row (0: unknown, older rows).
	RunID int64
}

// EntryKind is what kind of file system entry a version records.
type EntryKind int

// Entry kinds, as stored in sync_history.kind.
const (
	KindFile    EntryKind = 0
	KindDir     EntryKind = 1
	KindSymlink EntryKind = 2
)

func (k EntryKind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "folder"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Flags note how a version was made.
type Flags int

const (
	// FlagChangedWhileRead: the file changed while it was read and was
	// stored as read (--changing-files=store); its content may mix states.
	FlagChangedWhileRead Flags = 1 << iota
)

// State is what sync compares with the file system: the latest row of a path.
type State struct {
	// The fields are ordered so that none is padded: a sync holds one
	// State per path of the target (72 bytes, not 104: 1,000,000 files
	// took ~240 MB of map).
	Size  int64
	MTime float64
	// MTimeNS is 0 for rows of the Python tools; compare MTime then.
	MTimeNS int64
	// UID and GID are the owner, when OwnerKnown.
	UID, GID int64
	Kind     EntryKind
	// LinkTarget is a symlink's target text.
	LinkTarget string
	// Mode is the Unix mode bits (0: unknown, rows of older versions).
	Mode       uint32
	Deleted    bool
	OwnerKnown bool
	// Seen is for the caller: a sync marks the paths its walk found, in
	// the map LatestStates returned, rather than keeping a set of its own.
	// The catalogue never sets it.
	Seen bool
}

// versionColumns are read by scanVersion, from sync_history aliased h.
const versionColumns = `h.id, coalesce(h.target_id, 0), h.path, coalesce(h.file_size, 0), coalesce(h.mtime, 0),
	coalesce(h.mtime_ns, 0), coalesce(h.mode, 0), coalesce(h.archive_id, ''), coalesce(h.location, ''),
	coalesce(h.checksum, ''), coalesce(h.compression, ''), h.recorded_at, h.timestamp,
	coalesce(h.content_hash, ''), coalesce(h.stored_size, 0), coalesce(h.description, ''), h.deleted,
	h.kind, h.uid, h.gid, coalesce(h.link_target, ''), coalesce(h.hardlink, ''),
	h.flags, coalesce(h.run_id, 0)`

func scanVersion(r rowScanner) (Version, error) { return scanVersionWith(r) }

// scanVersionWith scans versionColumns, then the extra columns into extra.
func scanVersionWith(r rowScanner, extra ...any) (Version, error) {
	var v Version
	var mode int64
	var recordedAt, timestamp sql.NullString
	var uid, gid sql.NullInt64
	dest := []any{&v.ID, &v.TargetID, &v.Path, &v.Size, &v.MTime, &v.MTimeNS, &mode, &v.ArchiveID,
		&v.Location, &v.Checksum, &v.Compression, &recordedAt, &timestamp, &v.ContentHash, &v.StoredSize,
		&v.Description, &v.Deleted, &v.Kind, &uid, &gid, &v.LinkTarget, &v.Hardlink, &v.Flags, &v.RunID}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return Version{}, err
	}
	if uid.Valid && gid.Valid {
		v.UID, v.GID, v.OwnerKnown = uid.Int64, gid.Int64, true
	}
	v.Mode = uint32(mode)
	t, err := rowTime(recordedAt, timestamp)
	if err != nil {
		return Version{}, fmt.Errorf("row %d: %w", v.ID, err)
	}
	v.Timestamp = t
	return v, nil
}

// rowTime is a row's recording time: recorded_at, or for rows an old tool
// added since, its HTTP-date timestamp; zero if neither is known.
func rowTime(recordedAt, timestamp sql.NullString) (time.Time, error) {
	if recordedAt.Valid {
		return parseTime(recordedAt)
	}
	if timestamp.Valid {
		if t, err := parseHTTPTime(timestamp.String); err == nil {
			return t, nil
		}
	}
	return time.Time{}, nil
}

// checkPath rejects paths that cannot be a file's name.
func checkPath(path string) error {
	if path == "" {
		return errors.New("empty path")
	}
	if strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("path %q contains a NUL byte", path)
	}
	return nil
}

// Record adds v (its ID is ignored) in one transaction and returns its row
// id. A live version needs an ArchiveID; a tombstone (Deleted) must have none.
// If MTime is 0 and MTimeNS is set, MTime is derived from it as Python's
// os.path.getmtime would report it, so old tools see the same mtime.
func (c *Catalog) Record(v Version) (int64, error) {
	if err := checkPath(v.Path); err != nil {
		return 0, fmt.Errorf("record version: %w", err)
	}
	if v.Deleted && v.ArchiveID != "" {
		return 0, fmt.Errorf("record version of %q: a tombstone has no archive (got %q)", v.Path, v.ArchiveID)
	}
	if !v.Deleted && v.Kind == KindFile && v.ArchiveID == "" {
		return 0, fmt.Errorf("record version of %q: no archive id", v.Path)
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
		return attachArchive(tx, v, id)
	})
	return id, err
}

// checkTarget fails with ErrNoTarget when the target does not exist.
func checkTarget(tx *sql.Tx, targetID int64) error {
	var one int
	if err := tx.QueryRow("SELECT 1 FROM targets WHERE id = ?", targetID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %d", ErrNoTarget, targetID)
		}
		return err
	}
	return nil
}

// attachArchive makes the whole archive v.ArchiveID the one piece of the
// live file version id (the object and blob are created when new): how a
// version stored as a single archive reads like every other.
func attachArchive(tx *sql.Tx, v Version, id int64) error {
	if v.Deleted || v.Kind != KindFile || v.ArchiveID == "" {
		return nil
	}
	if _, err := tx.Exec(`INSERT OR IGNORE INTO objects (target_id, archive_id, kind, size, tree_hash, uploaded_at)
		VALUES (?, ?, 'archive', ?, ?, ?)`, v.TargetID, v.ArchiveID, v.StoredSize, nullString(v.Checksum),
		formatTime(v.Timestamp)); err != nil {
		return err
	}
	var blob int64
	err := tx.QueryRow(`SELECT b.id FROM blobs b JOIN objects o ON o.id = b.object_id
		WHERE o.target_id = ? AND o.archive_id = ? ORDER BY b.id LIMIT 1`, v.TargetID, v.ArchiveID).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		res, err := tx.Exec(`INSERT INTO blobs (target_id, object_id, hash, size, offset, length, kind, encoding)
			SELECT target_id, id, ?, ?, 0, size, 'archive', ? FROM objects WHERE target_id = ? AND archive_id = ?`,
			nullString(v.ContentHash), v.Size, nullString(v.Compression), v.TargetID, v.ArchiveID)
		if err != nil {
			return err
		}
		if blob, err = res.LastInsertId(); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	_, err = tx.Exec("INSERT INTO version_pieces (version_id, seq, blob_id) VALUES (?, 0, ?)", id, blob)
	return err
}

// insertVersion inserts v's row (not its pieces) and returns its id. The
// caller has checked that the target exists.
func insertVersion(tx execer, v Version) (int64, error) {
	var size, mtime, stored any
	if !v.Deleted {
		size, stored = v.Size, v.StoredSize
		mtime = v.MTime
		if v.MTime == 0 && v.MTimeNS != 0 {
			mtime = floatSeconds(v.MTimeNS)
		}
	}
	var uid, gid, link any
	if v.OwnerKnown && !v.Deleted {
		uid, gid = v.UID, v.GID
	}
	if v.Kind == KindSymlink {
		link = []byte(v.LinkTarget)
	}
	res, err := tx.Exec(insertVersionSQL,
		v.Path, size, mtime, nullString(v.ArchiveID), nullString(v.Location), nullString(v.Checksum),
		nullString(v.Compression), v.Timestamp.UTC().Format(httpTimeFormat), v.TargetID, nullInt(v.MTimeNS),
		nullInt(int64(v.Mode)), nullString(v.ContentHash), stored, nullString(v.Description), v.Deleted,
		formatTime(v.Timestamp), int(v.Kind), uid, gid, link, nullString(v.Hardlink), int(v.Flags), nullInt(v.RunID))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

const insertVersionSQL = `INSERT INTO sync_history (path, file_size, mtime, archive_id, location, checksum,
		compression, timestamp, target_id, mtime_ns, mode, content_hash, stored_size, description, deleted,
		recorded_at, kind, uid, gid, link_target, hardlink, flags, run_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// execer is what *sql.Tx and *sql.Stmt-backed helpers offer for writes.
type execer interface {
	Exec(query string, args ...any) (sql.Result, error)
}

// floatSeconds converts Unix nanoseconds to float seconds the way CPython's
// os.stat does (sec + nsec*1e-9), so the Python tools' exact-float
// comparison of mtimes matches what they would have recorded.
func floatSeconds(ns int64) float64 {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	return float64(sec) + float64(nsec)*1e-9
}

// MarkDeleted records, in one transaction, that paths were gone from the
// source at `at` (zero = now): a tombstone for each path whose latest row is
// a live version. Paths never backed up, or already marked, are skipped.
func (c *Catalog) MarkDeleted(targetID int64, paths []string, at time.Time) error {
	for _, p := range paths {
		if err := checkPath(p); err != nil {
			return fmt.Errorf("mark deleted: %w", err)
		}
	}
	if at.IsZero() {
		at = c.now()
	}
	return c.update("mark deleted", func(tx *sql.Tx) error {
		if err := checkTarget(tx, targetID); err != nil {
			return err
		}
		for _, p := range paths {
			var deleted bool
			err := tx.QueryRow("SELECT deleted FROM sync_history WHERE target_id = ? AND path = ? ORDER BY id DESC LIMIT 1",
				targetID, p).Scan(&deleted)
			if errors.Is(err, sql.ErrNoRows) || deleted {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := insertVersion(tx, Version{TargetID: targetID, Path: p, Deleted: true, Timestamp: at}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Latest returns the latest row of path in the target, which may be a tombstone.
func (c *Catalog) Latest(targetID int64, path string) (Version, bool, error) {
	v, err := scanVersion(c.db.QueryRow("SELECT "+versionColumns+
		" FROM sync_history h WHERE h.target_id = ? AND h.path = ? ORDER BY h.id DESC LIMIT 1", targetID, path))
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, false, nil
	}
	if err != nil {
		return Version{}, false, wrap(c.path, "latest version", err)
	}
	return v, true, nil
}

// LatestStates returns the state of the latest row (tombstones included) of
// every path of the target under any of prefixes (all paths when empty), in
// one query for up to 100 prefixes.
func (c *Catalog) LatestStates(targetID int64, prefixes []string) (map[string]State, error) {
	out := map[string]State{}
	err := c.EachLatestState(targetID, prefixes, func(path string, s State) error {
		out[path] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachLatestState calls fn with the state of the latest row of every path
// LatestStates returns, in path order, without holding them all; an error
// from fn ends it. fn must not use the catalogue: its one connection is
// reading the rows.
func (c *Catalog) EachLatestState(targetID int64, prefixes []string, fn func(path string, s State) error) error {
	norm, err := normalizePrefixes(prefixes)
	if err != nil {
		return fmt.Errorf("latest states: %w", err)
	}
	// One ordered scan of the covering index per prefix range; within a
	// path rows come oldest first, so the last one read is the latest.
	for _, r := range stateRanges(targetID, norm) {
		// The index covers all but a symlink's target, which is read from
		// the row (SQLite defers the seek until the column is needed), for
		// symlinks only.
		rows, err := c.db.Query(`SELECT path, coalesce(file_size, 0), coalesce(mtime, 0), coalesce(mtime_ns, 0), deleted,
				kind, coalesce(mode, 0), uid, gid, CASE WHEN kind = 2 THEN coalesce(link_target, '') ELSE '' END
			FROM sync_history INDEXED BY sync_history_states WHERE target_id = ? AND `+r.cond+` ORDER BY path, id`, r.args...)
		if err != nil {
			return wrap(c.path, "latest states", err)
		}
		// Rows of a path come oldest first: a path's state is given when
		// the next path (or the end) shows its last row was read.
		var prev string
		var prevState State
		have := false
		for rows.Next() {
			var path string
			var s State
			var uid, gid sql.NullInt64
			var link []byte
			if err := rows.Scan(&path, &s.Size, &s.MTime, &s.MTimeNS, &s.Deleted, &s.Kind, &s.Mode, &uid, &gid, &link); err != nil {
				rows.Close()
				return wrap(c.path, "latest states", err)
			}
			if uid.Valid && gid.Valid {
				s.UID, s.GID, s.OwnerKnown = uid.Int64, gid.Int64, true
			}
			s.LinkTarget = string(link)
			if have && path != prev {
				if err := fn(prev, prevState); err != nil {
					rows.Close()
					return err
				}
			}
			prev, prevState, have = path, s, true
		}
		if err := closeRows(rows); err != nil {
			return wrap(c.path, "latest states", err)
		}
		if have {
			if err := fn(prev, prevState); err != nil {
				return err
			}
		}
	}
	return nil
}

type stateRange struct {
	cond string
	args []any
}

// stateRanges turns normalised prefixes into index range conditions (all
// paths when there are none), each with its arguments after the target id.
func stateRanges(targetID int64, prefixes []string) []stateRange {
	if len(prefixes) == 0 {
		return []stateRange{{cond: "path IS NOT NULL", args: []any{targetID}}}
	}
	var out []stateRange
	for _, p := range prefixes {
		lo, hi := prefixRange(p)
		if p != "/" { // the root's range already holds "/"
			out = append(out, stateRange{cond: "path = ?", args: []any{targetID, p}})
		}
		out = append(out, stateRange{cond: "path >= ? AND path < ?", args: []any{targetID, lo, hi}})
	}
	return out
}

// Select returns, sorted by path, the version of each path under any of
// prefixes (all paths when empty) that was the latest at `at` (zero = now),
// leaving out paths whose latest row at that time is a tombstone.
func (c *Catalog) Select(targetID int64, prefixes []string, at time.Time) ([]Version, error) {
	norm, err := normalizePrefixes(prefixes)
	if err != nil {
		return nil, fmt.Errorf("select versions: %w", err)
	}
	var out []Version
	var ins interner // a pack's columns repeat in each of its members' rows
	for _, group := range chunks(norm) {
		sub, args := perPath("max(id) AS id", targetID, group, !at.IsZero(), formatTime(at))
		rows, err := c.db.Query("SELECT "+versionColumns+" FROM ("+sub+
			") m CROSS JOIN sync_history h ON h.id = m.id WHERE h.deleted = 0 AND h.forgotten_at IS NULL ORDER BY h.path", args...)
		if err != nil {
			return nil, wrap(c.path, "select versions", err)
		}
		for rows.Next() {
			v, err := scanVersion(rows)
			if err != nil {
				rows.Close()
				return nil, wrap(c.path, "select versions", err)
			}
			v.ArchiveID, v.Checksum, v.Compression = ins.intern(v.ArchiveID), ins.intern(v.Checksum), ins.intern(v.Compression)
			out = append(out, v)
		}
		if err := closeRows(rows); err != nil {
			return nil, wrap(c.path, "select versions", err)
		}
	}
	if len(norm) > prefixChunk {
		sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	}
	return out, nil
}

// FileSummary describes one path's history in a target.
type FileSummary struct {
	Path string
	// Size is the size of the latest live version.
	Size int64
	// Versions counts live versions (tombstones are not versions).
	Versions int
	// LastBackup is when the latest live version was recorded.
	LastBackup time.Time
	// StoredSize sums the archive sizes of the versions (an archive shared by
	// two versions counts twice; legacy rows count 0).
	StoredSize int64
	// Deleted is true when the latest row is a tombstone.
	Deleted bool
	// Kind, LinkTarget and Flags are the latest live version's (or, for a
	// path with none remembered, the tombstone's kind).
	Kind       EntryKind
	LinkTarget string
	Flags      Flags
}

// Summaries returns one summary per path of the target under any of prefixes
// (all when empty), deleted paths included, sorted by path.
func (c *Catalog) Summaries(targetID int64, prefixes []string) ([]FileSummary, error) {
	norm, err := normalizePrefixes(prefixes)
	if err != nil {
		return nil, fmt.Errorf("summaries: %w", err)
	}
	var out []FileSummary
	for _, group := range chunks(norm) {
		sub, args := perPath(`max(id) AS id, max(id) FILTER (WHERE deleted = 0 AND forgotten_at IS NULL) AS live,
			count(*) FILTER (WHERE deleted = 0 AND forgotten_at IS NULL) AS versions,
			coalesce(sum(stored_size) FILTER (WHERE forgotten_at IS NULL), 0) AS stored,
			count(*) FILTER (WHERE forgotten_at IS NULL) AS remembered`,
			targetID, group, false, "")
		rows, err := c.db.Query(`SELECT h.path, h.deleted, coalesce(l.file_size, 0), m.versions, m.stored,
				l.recorded_at, l.timestamp, coalesce(l.kind, h.kind), coalesce(l.link_target, ''), coalesce(l.flags, 0)
			FROM (`+sub+`) m
			CROSS JOIN sync_history h ON h.id = m.id
			LEFT JOIN sync_history l ON l.id = m.live
			WHERE m.remembered > 0
			ORDER BY h.path`, args...)
		if err != nil {
			return nil, wrap(c.path, "summaries", err)
		}
		for rows.Next() {
			var s FileSummary
			var recordedAt, timestamp sql.NullString
			var link []byte
			if err := rows.Scan(&s.Path, &s.Deleted, &s.Size, &s.Versions, &s.StoredSize, &recordedAt, &timestamp,
				&s.Kind, &link, &s.Flags); err != nil {
				rows.Close()
				return nil, wrap(c.path, "summaries", err)
			}
			if s.LastBackup, err = rowTime(recordedAt, timestamp); err != nil {
				rows.Close()
				return nil, wrap(c.path, "summaries", err)
			}
			s.LinkTarget = string(link)
			out = append(out, s)
		}
		if err := closeRows(rows); err != nil {
			return nil, wrap(c.path, "summaries", err)
		}
	}
	if len(norm) > prefixChunk {
		sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	}
	return out, nil
}

// ArchiveIDs returns the set of archive ids the target's rows refer to (for verify).
func (c *Catalog) ArchiveIDs(targetID int64) (map[string]bool, error) {
	rows, err := c.db.Query("SELECT DISTINCT archive_id FROM sync_history WHERE target_id = ? AND archive_id IS NOT NULL", targetID)
	if err != nil {
		return nil, wrap(c.path, "archive ids", err)
	}
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, wrap(c.path, "archive ids", err)
		}
		out[id] = true
	}
	return out, wrap(c.path, "archive ids", closeRows(rows))
}
