package catalog

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// Version records (docs/FORMAT.md section 10): the catalogue's changes,
// written to the store by every sync that changed something, so that the
// store alone can give back every version (renames, copies, deletions,
// folders and symlinks included), not only what object descriptions and
// pack indexes say. A records document is JSON lines: a header, then
// objects, blobs and versions, each referring to stored content by the
// store's object id and the byte offset of the piece in it.

// RecordsVersion is the version of the records document.
const RecordsVersion = 1

// RecordsHeader is the first line of a records document.
type RecordsHeader struct {
	Records int       `json:"grsync_records"`
	Created time.Time `json:"created"`
}

// RecordObject is an object line.
type RecordObject struct {
	ArchiveID string     `json:"id"`
	Kind      ObjectKind `json:"kind"`
	PackID    string     `json:"pack,omitempty"`
	Size      int64      `json:"size"`
	TreeHash  string     `json:"tree_hash,omitempty"`
	Class     string     `json:"class,omitempty"`
	Uploaded  time.Time  `json:"uploaded"`
	Run       int64      `json:"run,omitempty"`
}

// RecordBlob is a blob line: a piece of content at Offset in object Object.
type RecordBlob struct {
	Object   string   `json:"object"`
	Hash     string   `json:"hash,omitempty"`
	Size     int64    `json:"size"`
	Offset   int64    `json:"offset"`
	Length   int64    `json:"length"`
	Member   int64    `json:"member"`
	Kind     BlobKind `json:"kind"`
	Encoding string   `json:"encoding,omitempty"`
}

// RecordPiece names a piece of content: an object and the piece's offset in it.
type RecordPiece struct {
	Object string `json:"object"`
	Offset int64  `json:"offset"`
}

// RecordVersion is a version line. Paths and symlink targets that are not
// valid UTF-8 are given in base64 (PathB64, LinkB64) instead.
type RecordVersion struct {
	Path        string        `json:"path,omitempty"`
	PathB64     string        `json:"path_b64,omitempty"`
	Kind        EntryKind     `json:"kind"`
	Deleted     bool          `json:"deleted,omitempty"`
	Size        int64         `json:"size,omitempty"`
	MTimeNS     int64         `json:"mtime_ns,omitempty"`
	MTime       float64       `json:"mtime,omitempty"` // rows of the Python tools
	Mode        uint32        `json:"mode,omitempty"`
	UID         *int64        `json:"uid,omitempty"`
	GID         *int64        `json:"gid,omitempty"`
	Link        string        `json:"link,omitempty"`
	LinkB64     string        `json:"link_b64,omitempty"`
	Hardlink    string        `json:"hardlink,omitempty"`
	Flags       Flags         `json:"flags,omitempty"`
	ContentHash string        `json:"content_hash,omitempty"`
	Description string        `json:"desc,omitempty"`
	Compression string        `json:"compression,omitempty"`
	Recorded    time.Time     `json:"recorded"`
	Run         int64         `json:"run,omitempty"`
	Pieces      []RecordPiece `json:"pieces,omitempty"`
}

// RecordLine is one line of a records document after the header.
type RecordLine struct {
	Object  *RecordObject  `json:"object,omitempty"`
	Blob    *RecordBlob    `json:"blob,omitempty"`
	Version *RecordVersion `json:"version,omitempty"`
}

// RecordsMark is how far the records written to the store go: the last
// row, object and blob ids they hold.
type RecordsMark struct{ Version, Object, Blob int64 }

func marksKey(targetID int64) string { return "records-mark:" + strconv.FormatInt(targetID, 10) }

// RecordsMark returns the mark of the records written so far.
func (c *Catalog) RecordsMark(targetID int64) (RecordsMark, error) {
	v, ok, err := c.Setting(marksKey(targetID))
	if err != nil || !ok {
		return RecordsMark{}, err
	}
	var m RecordsMark
	if _, err := fmt.Sscanf(v, "%d %d %d", &m.Version, &m.Object, &m.Blob); err != nil {
		return RecordsMark{}, fmt.Errorf("records mark %q: %w", v, err)
	}
	return m, nil
}

// ExportRecords writes a records document of every object, blob and row of
// the target added after mark (records and snapshot objects excepted), and
// returns the mark that covers them and how many lines it wrote after the
// header. Nothing at all is written when nothing changed. Each query walks
// the table from the mark's id ("+target_id" keeps SQLite from scanning
// the target's index instead), so a sync that changed nothing pays three
// lookups, not three scans of the catalogue.
func (c *Catalog) ExportRecords(targetID int64, mark RecordsMark, now time.Time, w io.Writer) (RecordsMark, int, error) {
	return c.ExportRecordsPart(targetID, mark, now, w, true)
}

// ExportRecordsPart is ExportRecords, with the header line only when
// header is set: a document can be written in parts while the catalogue
// grows (a sync exports what each pack committed while it goes on), each
// part starting at the mark the one before returned. A part is consistent
// however the catalogue changes while it is read: it covers exactly the
// rows with ids up to those the tables had when it began (ids only grow,
// and no row of these tables is ever deleted), so a version is never
// written before its object and blobs are.
func (c *Catalog) ExportRecordsPart(targetID int64, mark RecordsMark, now time.Time, w io.Writer, header bool) (RecordsMark, int, error) {
	enc := newRecordsEncoder(w, now, header)
	emit := enc.emit
	next := mark
	fail := func(rows *sql.Rows, err error) (RecordsMark, int, error) {
		if rows != nil {
			rows.Close()
		}
		return mark, 0, wrap(c.path, "export records", err)
	}
	// The bounds, read in one statement: what every table held at once.
	upTo, err := lastIDs(c.db)
	if err != nil {
		return fail(nil, err)
	}
	next = RecordsMark{Version: max(mark.Version, upTo.Version), Object: max(mark.Object, upTo.Object), Blob: max(mark.Blob, upTo.Blob)}
	rows, err := c.db.Query(`SELECT `+objectColumns+` FROM objects o
		WHERE +o.target_id = ? AND o.id > ? AND o.id <= ? AND o.kind IN ('archive', 'pack') ORDER BY o.id`, targetID, mark.Object, upTo.Object)
	if err != nil {
		return fail(nil, err)
	}
	for rows.Next() {
		var o Object
		if err := rows.Scan(objectDest(&o)...); err != nil {
			return fail(rows, err)
		}
		if err := emit(RecordLine{Object: &RecordObject{ArchiveID: o.ArchiveID, Kind: o.Kind, PackID: o.PackID, Size: o.Size,
			TreeHash: o.TreeHash, Class: o.Class, Uploaded: o.Uploaded, Run: o.RunID}}); err != nil {
			return fail(rows, err)
		}
	}
	if err := closeRows(rows); err != nil {
		return fail(nil, err)
	}
	rows, err = c.db.Query(`SELECT `+blobColumns+`, o.archive_id FROM blobs b JOIN objects o ON o.id = b.object_id
		WHERE +b.target_id = ? AND b.id > ? AND b.id <= ? ORDER BY b.id`, targetID, mark.Blob, upTo.Blob)
	if err != nil {
		return fail(nil, err)
	}
	for rows.Next() {
		var b Blob
		var obj string
		if err := rows.Scan(append(blobDest(&b), &obj)...); err != nil {
			return fail(rows, err)
		}
		if err := emit(RecordLine{Blob: &RecordBlob{Object: obj, Hash: b.Hash, Size: b.Size, Offset: b.Offset, Length: b.Length,
			Member: b.Member, Kind: b.Kind, Encoding: b.Encoding}}); err != nil {
			return fail(rows, err)
		}
	}
	if err := closeRows(rows); err != nil {
		return fail(nil, err)
	}
	// Versions in windows of ids: each window's pieces first (a range of
	// version_pieces' key, one row a piece), then its versions. A
	// subquery per version cost twice as much.
	for lo := mark.Version; lo < upTo.Version; {
		hi := min(lo+exportWindow, upTo.Version)
		pieces, err := c.exportPieces(lo, hi)
		if err != nil {
			return fail(nil, err)
		}
		rows, err := c.db.Query(`SELECT `+versionColumns+` FROM sync_history h
			WHERE +h.target_id = ? AND h.id > ? AND h.id <= ? ORDER BY h.id`, targetID, lo, hi)
		if err != nil {
			return fail(nil, err)
		}
		for rows.Next() {
			v, err := scanVersion(rows)
			if err != nil {
				return fail(rows, err)
			}
			rv := recordOf(v)
			rv.Pieces = pieces[v.ID]
			if err := emit(RecordLine{Version: rv}); err != nil {
				return fail(rows, err)
			}
		}
		if err := closeRows(rows); err != nil {
			return fail(nil, err)
		}
		lo = hi
	}
	return next, enc.n, nil
}

// exportWindow is how many version ids ExportRecordsPart reads at a time.
const exportWindow = 4096

// exportPieces returns the pieces, in order, of the versions with ids in
// (lo, hi], by version id.
func (c *Catalog) exportPieces(lo, hi int64) (map[int64][]RecordPiece, error) {
	rows, err := c.db.Query(`SELECT p.version_id, o.archive_id, b.offset FROM version_pieces p
		JOIN blobs b ON b.id = p.blob_id JOIN objects o ON o.id = b.object_id
		WHERE p.version_id > ? AND p.version_id <= ? ORDER BY p.version_id, p.seq`, lo, hi)
	if err != nil {
		return nil, err
	}
	pieces := map[int64][]RecordPiece{}
	for rows.Next() {
		var id int64
		var p RecordPiece
		if err := rows.Scan(&id, &p.Object, &p.Offset); err != nil {
			rows.Close()
			return nil, err
		}
		pieces[id] = append(pieces[id], p)
	}
	return pieces, closeRows(rows)
}

func recordOf(v Version) *RecordVersion {
	rv := &RecordVersion{Kind: v.Kind, Deleted: v.Deleted, Size: v.Size, MTimeNS: v.MTimeNS, Mode: v.Mode,
		Hardlink: v.Hardlink, Flags: v.Flags, ContentHash: v.ContentHash, Description: v.Description,
		Compression: v.Compression, Recorded: v.Timestamp, Run: v.RunID}
	if v.MTimeNS == 0 {
		rv.MTime = v.MTime
	}
	if utf8.ValidString(v.Path) {
		rv.Path = v.Path
	} else {
		rv.PathB64 = base64.StdEncoding.EncodeToString([]byte(v.Path))
	}
	if v.LinkTarget != "" {
		if utf8.ValidString(v.LinkTarget) {
			rv.Link = v.LinkTarget
		} else {
			rv.LinkB64 = base64.StdEncoding.EncodeToString([]byte(v.LinkTarget))
		}
	}
	if v.OwnerKnown {
		uid, gid := v.UID, v.GID
		rv.UID, rv.GID = &uid, &gid
	}
	return rv
}

// MarkRecords records, in one transaction, the object obj that holds the
// records up to mark, the mark, and the end of the upload note settled.
func (c *Catalog) MarkRecords(targetID int64, mark RecordsMark, obj Object, settled int64) error {
	return c.update("note stored records", func(tx *sql.Tx) error {
		if err := checkTarget(tx, targetID); err != nil {
			return err
		}
		if settled != 0 {
			if _, err := tx.Exec("DELETE FROM pending_uploads WHERE id = ?", settled); err != nil {
				return err
			}
		}
		if obj.ArchiveID != "" {
			if _, err := tx.Exec(`INSERT INTO objects (target_id, archive_id, kind, pack_id, size, tree_hash, storage_class, uploaded_at,
				lock_mode, lock_until, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, targetID, obj.ArchiveID, string(obj.Kind), nullString(obj.PackID), obj.Size,
				nullString(obj.TreeHash), nullString(obj.Class), formatTime(obj.Uploaded), nullString(obj.LockMode), nullTime(obj.LockUntil),
				nullInt(obj.RunID)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
			marksKey(targetID), fmt.Sprintf("%d %d %d", mark.Version, mark.Object, mark.Blob))
		return err
	})
}

// ImportStats counts what ImportRecords added.
type ImportStats struct {
	Objects, Blobs, Versions, Known int
	// Entries counts the versions added that are of folders and symlinks
	// (included in Versions).
	Entries int
}

// ImportRecords adds the lines of a records document to the target, in
// one transaction: objects and blobs not known yet, and versions not
// recorded yet (a version with the same path, recording time and state is
// taken as known). It fails, adding nothing, if a version refers to content
// neither the catalogue nor the document has.
func (c *Catalog) ImportRecords(targetID int64, lines []RecordLine) (ImportStats, error) {
	var st ImportStats
	err := c.update("import version records", func(tx *sql.Tx) error {
		st = ImportStats{}
		if err := checkTarget(tx, targetID); err != nil {
			return err
		}
		objectID := func(archive string) (int64, error) {
			var id int64
			err := tx.QueryRow("SELECT id FROM objects WHERE target_id = ? AND archive_id = ?", targetID, archive).Scan(&id)
			return id, err
		}
		// The blobs of each object, by offset, loaded once per object: a
		// pack holds up to hundreds of thousands of members, and a query
		// per piece would walk them all each time.
		blobsOf := map[string]map[int64]int64{}
		blobID := func(archive string, off int64) (int64, error) {
			m, ok := blobsOf[archive]
			if !ok {
				m = map[int64]int64{}
				rows, err := tx.Query(`SELECT b.offset, min(b.id) FROM blobs b JOIN objects o ON o.id = b.object_id
					WHERE o.target_id = ? AND o.archive_id = ? GROUP BY b.offset`, targetID, archive)
				if err != nil {
					return 0, err
				}
				for rows.Next() {
					var o, id int64
					if err := rows.Scan(&o, &id); err != nil {
						rows.Close()
						return 0, err
					}
					m[o] = id
				}
				if err := closeRows(rows); err != nil {
					return 0, err
				}
				blobsOf[archive] = m
			}
			id, ok := m[off]
			if !ok {
				return 0, sql.ErrNoRows
			}
			return id, nil
		}
		for i, l := range lines {
			line := i + 2 // the header is line 1
			switch {
			case l.Object != nil:
				o := l.Object
				if o.ArchiveID == "" {
					return fmt.Errorf("records line %d: object without id", line)
				}
				switch o.Kind {
				case ObjectArchive, ObjectPack:
				default:
					return fmt.Errorf("records line %d: object of kind %q", line, o.Kind)
				}
				if _, err := objectID(o.ArchiveID); err == nil {
					continue
				} else if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				if _, err := tx.Exec(`INSERT INTO objects (target_id, archive_id, kind, pack_id, size, tree_hash, storage_class, uploaded_at, run_id)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, targetID, o.ArchiveID, string(o.Kind), nullString(o.PackID), o.Size,
					nullString(o.TreeHash), nullString(o.Class), nullTime(o.Uploaded), nullInt(o.Run)); err != nil {
					return fmt.Errorf("records line %d: %w", line, err)
				}
				st.Objects++
			case l.Blob != nil:
				b := l.Blob
				switch b.Kind {
				case BlobArchive, BlobFile, BlobChunk:
				default:
					return fmt.Errorf("records line %d: blob of kind %q", line, b.Kind)
				}
				if _, err := blobID(b.Object, b.Offset); err == nil {
					continue
				} else if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				oid, err := objectID(b.Object)
				if err != nil {
					return fmt.Errorf("records line %d: a piece of object %s, which no line names: %w", line, b.Object, err)
				}
				var member any
				if b.Member >= 0 {
					member = b.Member
				}
				res, err := tx.Exec(`INSERT INTO blobs (target_id, object_id, hash, size, offset, length, member, kind, encoding)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, targetID, oid, nullString(b.Hash), b.Size, b.Offset, b.Length, member,
					string(b.Kind), nullString(b.Encoding))
				if err != nil {
					return fmt.Errorf("records line %d: %w", line, err)
				}
				id, err := res.LastInsertId()
				if err != nil {
					return err
				}
				blobsOf[b.Object][b.Offset] = id
				st.Blobs++
			case l.Version != nil:
				v, err := l.Version.version(targetID)
				if err != nil {
					return fmt.Errorf("records line %d: %w", line, err)
				}
				var one int
				err = tx.QueryRow(`SELECT 1 FROM sync_history WHERE target_id = ? AND path = ? AND recorded_at = ? AND deleted = ?
					AND coalesce(file_size, 0) = ? AND coalesce(mtime_ns, 0) = ? AND kind = ? LIMIT 1`,
					targetID, v.Path, formatTime(v.Timestamp), v.Deleted, v.Size, v.MTimeNS, int(v.Kind)).Scan(&one)
				if err == nil {
					st.Known++
					continue
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				var blobs []int64
				for _, p := range l.Version.Pieces {
					id, err := blobID(p.Object, p.Offset)
					if err != nil {
						return fmt.Errorf("records line %d: %q: its piece at %d of object %s is unknown: %w", line, v.Path, p.Offset, p.Object, err)
					}
					blobs = append(blobs, id)
				}
				if len(l.Version.Pieces) > 0 {
					// As Commit fills them: where the content starts, and
					// the stored bytes of its pieces.
					v.ArchiveID = l.Version.Pieces[0].Object
					if err := tx.QueryRow(`SELECT coalesce(tree_hash, '') FROM objects WHERE target_id = ? AND archive_id = ?`,
						targetID, v.ArchiveID).Scan(&v.Checksum); err != nil {
						return fmt.Errorf("records line %d: %w", line, err)
					}
					for _, b := range blobs {
						var n int64
						if err := tx.QueryRow("SELECT length FROM blobs WHERE id = ?", b).Scan(&n); err != nil {
							return fmt.Errorf("records line %d: %w", line, err)
						}
						v.StoredSize += n
					}
				}
				id, err := insertVersion(tx, v)
				if err != nil {
					return fmt.Errorf("records line %d: %w", line, err)
				}
				for seq, b := range blobs {
					if _, err := tx.Exec("INSERT INTO version_pieces (version_id, seq, blob_id) VALUES (?, ?, ?)", id, seq, b); err != nil {
						return err
					}
				}
				st.Versions++
				if v.Kind != KindFile {
					st.Entries++
				}
			default:
				return fmt.Errorf("records line %d: neither an object, a blob nor a version", line)
			}
		}
		return nil
	})
	return st, err
}

// version turns a version line back into a row of target.
func (rv *RecordVersion) version(targetID int64) (Version, error) {
	v := Version{TargetID: targetID, Path: rv.Path, Kind: rv.Kind, Deleted: rv.Deleted, Size: rv.Size, MTimeNS: rv.MTimeNS,
		MTime: rv.MTime, Mode: rv.Mode, Hardlink: rv.Hardlink, Flags: rv.Flags, ContentHash: rv.ContentHash,
		Description: rv.Description, Compression: rv.Compression, Timestamp: rv.Recorded, RunID: rv.Run, LinkTarget: rv.Link}
	if rv.PathB64 != "" {
		b, err := base64.StdEncoding.DecodeString(rv.PathB64)
		if err != nil {
			return v, fmt.Errorf("path_b64: %w", err)
		}
		v.Path = string(b)
	}
	if rv.LinkB64 != "" {
		b, err := base64.StdEncoding.DecodeString(rv.LinkB64)
		if err != nil {
			return v, fmt.Errorf("link_b64: %w", err)
		}
		v.LinkTarget = string(b)
	}
	if rv.UID != nil && rv.GID != nil {
		v.UID, v.GID, v.OwnerKnown = *rv.UID, *rv.GID, true
	}
	if err := checkPath(v.Path); err != nil {
		return v, err
	}
	if v.Timestamp.IsZero() {
		return v, fmt.Errorf("version of %q without a recording time", v.Path)
	}
	switch v.Kind {
	case KindFile, KindDir, KindSymlink:
	default:
		return v, fmt.Errorf("version of %q of unknown kind %d", v.Path, v.Kind)
	}
	if v.Deleted && len(rv.Pieces) > 0 {
		return v, fmt.Errorf("deletion of %q with content", v.Path)
	}
	return v, nil
}

// ReadRecords parses a records document: its header and lines. It refuses
// another version, unknown fields, and any line that is not exactly one of
// an object, a blob or a version.
func ReadRecords(r io.Reader) (RecordsHeader, []RecordLine, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var h RecordsHeader
	if err := dec.Decode(&h); err != nil {
		return h, nil, fmt.Errorf("records header: %w", err)
	}
	if h.Records != RecordsVersion {
		return h, nil, fmt.Errorf("records of version %d; this grsync reads version %d", h.Records, RecordsVersion)
	}
	var lines []RecordLine
	for {
		var l RecordLine
		err := dec.Decode(&l)
		if errors.Is(err, io.EOF) {
			return h, lines, nil
		}
		if err != nil {
			return h, nil, fmt.Errorf("records line %d: %w", len(lines)+2, err)
		}
		k := 0
		for _, set := range []bool{l.Object != nil, l.Blob != nil, l.Version != nil} {
			if set {
				k++
			}
		}
		if k != 1 {
			return h, nil, fmt.Errorf("records line %d: want exactly one of object, blob, version", len(lines)+2)
		}
		lines = append(lines, l)
	}
}

// MarkAllRecorded sets the records mark past everything the target has:
// after a catalogue is recovered from the store's records, what it holds
// is in the store already.
func (c *Catalog) MarkAllRecorded(targetID int64) error {
	return c.update("note stored records", func(tx *sql.Tx) error {
		var m RecordsMark
		if err := tx.QueryRow(`SELECT (SELECT coalesce(max(id), 0) FROM sync_history WHERE target_id = ?),
			(SELECT coalesce(max(id), 0) FROM objects WHERE target_id = ?),
			(SELECT coalesce(max(id), 0) FROM blobs WHERE target_id = ?)`, targetID, targetID, targetID).Scan(&m.Version, &m.Object, &m.Blob); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
			marksKey(targetID), fmt.Sprintf("%d %d %d", m.Version, m.Object, m.Blob))
		return err
	})
}

// AddObject records an object the store holds, with its lock, unless it
// is known already (the records and snapshot objects a recovery read, an
// object a sync could not delete).
func (c *Catalog) AddObject(o Object) error {
	return c.update("record object", func(tx *sql.Tx) error {
		if err := checkTarget(tx, o.TargetID); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT OR IGNORE INTO objects (target_id, archive_id, kind, pack_id, size, tree_hash, storage_class, uploaded_at,
			lock_mode, lock_until, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, o.TargetID, o.ArchiveID, string(o.Kind), nullString(o.PackID), o.Size,
			nullString(o.TreeHash), nullString(o.Class), nullTime(o.Uploaded), nullString(o.LockMode), nullTime(o.LockUntil), nullInt(o.RunID))
		return err
	})
}
