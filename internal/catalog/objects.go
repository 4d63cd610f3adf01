package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ObjectKind says what an object in a store holds.
type ObjectKind string

// Object kinds, as stored in objects.kind.
const (
	// ObjectArchive is a format v1 archive or an archive of the Python
	// tools: one content, the whole object.
	ObjectArchive ObjectKind = "archive"
	// ObjectPack is a format v2 pack: members at byte ranges.
	ObjectPack ObjectKind = "pack"
	// ObjectSnapshot is an encrypted copy of the catalogue.
	ObjectSnapshot ObjectKind = "snapshot"
	// ObjectRecords is a list of catalogue changes (version records).
	ObjectRecords ObjectKind = "records"
)

// Object is one object grsync stored in a target's store.
type Object struct {
	ID, TargetID int64
	// ArchiveID is the store's id of the object.
	ArchiveID string
	Kind      ObjectKind
	// PackID is a v2 pack's own id (hex), which its members are bound to.
	PackID string
	// Size is the object's size in bytes as stored.
	Size int64
	// TreeHash is the SHA-256 tree hash (hex) of the object's bytes, if known.
	TreeHash string
	// Class is the storage class the object was stored in ("" if unknown:
	// objects of older catalogues).
	Class string
	// Uploaded is when the store accepted the object (zero if unknown).
	Uploaded time.Time
	// LockMode and LockUntil describe an S3 Object Lock retention.
	LockMode  string
	LockUntil time.Time
	// Deleted is when grsync deleted the object from the store (zero: it is there).
	Deleted time.Time
	// Condemned is when prune found no kept version using the object and
	// set it for deletion (zero: it was not); the store may or may not have
	// deleted it since. Deduplication never uses a condemned object.
	Condemned time.Time
	// RunID is the sync run that stored the object (0: unknown).
	RunID int64
}

// BlobKind says what content a blob holds.
type BlobKind string

// Blob kinds, as stored in blobs.kind.
const (
	// BlobArchive is the content of a whole v1 or legacy archive.
	BlobArchive BlobKind = "archive"
	// BlobFile is a whole file's content as a pack member.
	BlobFile BlobKind = "file"
	// BlobChunk is a piece of a file's content as a pack member.
	BlobChunk BlobKind = "chunk"
)

// Blob is one stored piece of content: a byte range of an object.
type Blob struct {
	ID, TargetID, ObjectID int64
	// Hash is the hex hash of the piece's plaintext (keyed when the target
	// is encrypted); "" for archives of the Python tools.
	Hash string
	// Size is the plaintext size; Offset and Length the stored byte range.
	Size           int64
	Offset, Length int64
	// Member is the member number in a pack; -1 for a whole archive.
	Member int64
	Kind   BlobKind
	// Encoding is how the bytes encode the content (format or legacy names).
	Encoding string
}

// Piece is a blob with the object that holds it: what restore reads.
type Piece struct {
	Blob
	// Object is shared by the pieces of one call (read only).
	Object *Object
}

const objectColumns = `o.id, o.target_id, o.archive_id, o.kind, coalesce(o.pack_id, ''), o.size, coalesce(o.tree_hash, ''),
	coalesce(o.storage_class, ''), o.uploaded_at, coalesce(o.lock_mode, ''), o.lock_until, o.deleted_at,
	coalesce(o.run_id, 0), o.condemned_at`

func objectDest(o *Object) []any {
	return []any{&o.ID, &o.TargetID, &o.ArchiveID, &o.Kind, &o.PackID, &o.Size, &o.TreeHash, &o.Class,
		timeScanner{&o.Uploaded}, &o.LockMode, timeScanner{&o.LockUntil}, timeScanner{&o.Deleted}, &o.RunID,
		timeScanner{&o.Condemned}}
}

const blobColumns = `b.id, b.target_id, b.object_id, coalesce(b.hash, ''), b.size, b.offset, b.length,
	coalesce(b.member, -1), b.kind, coalesce(b.encoding, '')`

func blobDest(b *Blob) []any {
	return []any{&b.ID, &b.TargetID, &b.ObjectID, &b.Hash, &b.Size, &b.Offset, &b.Length, &b.Member, &b.Kind, &b.Encoding}
}

// timeScanner scans a nullable catalogue time into a time.Time (zero for NULL).
type timeScanner struct{ t *time.Time }

func (s timeScanner) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s.t = time.Time{}
		return nil
	case string:
		t, err := parseTime(sql.NullString{String: x, Valid: true})
		*s.t = t
		return err
	case []byte:
		t, err := parseTime(sql.NullString{String: string(x), Valid: true})
		*s.t = t
		return err
	}
	return fmt.Errorf("time column holds %T", v)
}

// FindBlob returns a blob of the target whose plaintext has this hash and
// whose object is still in the store, so the content need not be stored
// again. Whole-file blobs and chunks match alike (the same bytes are the
// same content). An empty hash matches nothing.
func (c *Catalog) FindBlob(targetID int64, hash string) (Blob, bool, error) {
	if hash == "" {
		return Blob{}, false, nil
	}
	var b Blob
	st, err := c.prepared(`SELECT ` + blobColumns + ` FROM blobs b JOIN objects o ON o.id = b.object_id
		WHERE b.target_id = ? AND b.hash = ? AND o.deleted_at IS NULL AND o.condemned_at IS NULL ORDER BY b.id DESC LIMIT 1`)
	if err != nil {
		return Blob{}, false, wrap(c.path, "find blob", err)
	}
	err = st.QueryRow(targetID, hash).Scan(blobDest(&b)...)
	if errors.Is(err, sql.ErrNoRows) {
		return Blob{}, false, nil
	}
	if err != nil {
		return Blob{}, false, wrap(c.path, "find blob", err)
	}
	return b, true, nil
}

// BlobSizes returns the distinct sizes of the target's blobs, in order
// (deleted objects' too: a size here only says a lookup may find
// something).
func (c *Catalog) BlobSizes(targetID int64) ([]int64, error) {
	rows, err := c.db.Query(`SELECT DISTINCT size FROM blobs WHERE target_id = ? ORDER BY size`, targetID)
	if err != nil {
		return nil, wrap(c.path, "blob sizes", err)
	}
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, wrap(c.path, "blob sizes", err)
		}
		out = append(out, n)
	}
	if err := closeRows(rows); err != nil {
		return nil, wrap(c.path, "blob sizes", err)
	}
	return out, nil
}

// HasWholeOfSize reports whether the target stores a whole file's content
// (an archive or a whole-file member) of exactly size plaintext bytes: only
// then can a large file be a duplicate of one stored whole, and only then is
// hashing it before chunking worth a second read.
func (c *Catalog) HasWholeOfSize(targetID, size int64) (bool, error) {
	var one int
	st, err := c.prepared(`SELECT 1 FROM blobs b JOIN objects o ON o.id = b.object_id
		WHERE b.target_id = ? AND b.size = ? AND b.kind IN ('archive', 'file') AND o.deleted_at IS NULL
			AND o.condemned_at IS NULL LIMIT 1`)
	if err != nil {
		return false, wrap(c.path, "find content by size", err)
	}
	err = st.QueryRow(targetID, size).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap(c.path, "find content by size", err)
	}
	return true, nil
}

// Pieces returns the pieces of each of the given versions, in order.
// Versions without pieces (folders, symlinks, empty files, tombstones) are
// absent from the map.
func (c *Catalog) Pieces(versionIDs []int64) (map[int64][]Piece, error) {
	out := map[int64][]Piece{}
	// Objects are read once each and shared by their pieces (a restore of
	// many small files holds every piece: a pack's strings once, not once
	// a member).
	objs := map[int64]*Object{}
	var ins interner
	const batch = 500
	for len(versionIDs) > 0 {
		n := min(batch, len(versionIDs))
		ids := versionIDs[:n]
		versionIDs = versionIDs[n:]
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		rows, err := c.db.Query(`SELECT p.version_id, `+blobColumns+`
			FROM version_pieces p JOIN blobs b ON b.id = p.blob_id
			WHERE p.version_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY p.version_id, p.seq`, args...)
		if err != nil {
			return nil, wrap(c.path, "read pieces", err)
		}
		for rows.Next() {
			var vid int64
			var p Piece
			if err := rows.Scan(append([]any{&vid}, blobDest(&p.Blob)...)...); err != nil {
				rows.Close()
				return nil, wrap(c.path, "read pieces", err)
			}
			p.Kind, p.Encoding = BlobKind(ins.intern(string(p.Kind))), ins.intern(p.Encoding)
			objs[p.ObjectID] = nil
			out[vid] = append(out[vid], p)
		}
		if err := closeRows(rows); err != nil {
			return nil, wrap(c.path, "read pieces", err)
		}
	}
	if err := c.objectsByID(objs); err != nil {
		return nil, wrap(c.path, "read pieces", err)
	}
	for vid, ps := range out {
		kept := ps[:0]
		for _, p := range ps {
			if o := objs[p.ObjectID]; o != nil { // (every blob has its object)
				p.Object = o
				kept = append(kept, p)
			}
		}
		out[vid] = kept
	}
	return out, nil
}

// objectsByID fills objs (keys: object ids) with the objects.
func (c *Catalog) objectsByID(objs map[int64]*Object) error {
	ids := make([]any, 0, len(objs))
	for id := range objs {
		ids = append(ids, id)
	}
	const batch = 500
	for len(ids) > 0 {
		n := min(batch, len(ids))
		list, err := c.queryObjects("read objects", `SELECT `+objectColumns+` FROM objects o WHERE o.id IN (?`+
			strings.Repeat(", ?", n-1)+`)`, ids[:n]...)
		if err != nil {
			return err
		}
		for i := range list {
			objs[list[i].ID] = &list[i]
		}
		ids = ids[n:]
	}
	return nil
}

// interner gives one copy of each string it is given, for the columns
// that repeat across many rows (a pack's archive id in each of its
// members' rows).
type interner map[string]string

func (in *interner) intern(s string) string {
	if *in == nil {
		*in = map[string]string{}
	}
	if t, ok := (*in)[s]; ok {
		return t
	}
	(*in)[s] = s
	return s
}

// Objects returns the target's objects that are still in the store
// (condemned ones included: prune has not confirmed their deletion).
func (c *Catalog) Objects(targetID int64) ([]Object, error) {
	return c.queryObjects("list objects", `SELECT `+objectColumns+` FROM objects o WHERE o.target_id = ? AND o.deleted_at IS NULL ORDER BY o.id`, targetID)
}

// queryObjects runs a query of objectColumns and returns its objects.
func (c *Catalog) queryObjects(op, query string, args ...any) ([]Object, error) {
	rows, err := c.db.Query(query, args...)
	if err != nil {
		return nil, wrap(c.path, op, err)
	}
	var out []Object
	for rows.Next() {
		var o Object
		if err := rows.Scan(objectDest(&o)...); err != nil {
			rows.Close()
			return nil, wrap(c.path, op, err)
		}
		out = append(out, o)
	}
	return out, wrap(c.path, op, closeRows(rows))
}

// Batch is catalogue work committed in one transaction: objects just
// stored with their blobs, and versions whose pieces are in them or in
// objects committed before. Commit fills in the ids of the objects, blobs
// and versions it inserts, through the pointers given.
type Batch struct {
	Objects  []*NewObject
	Versions []*NewVersion
	// Deleted are tombstones to add: paths gone from the source.
	Deleted []Version
	// Settled are pending uploads (BeginUpload ids) the batch completes.
	Settled []int64
	// Records, when set, asks for the batch's version records (see
	// BatchRecords).
	Records *BatchRecords
}

// NewObject is an object to record with the blobs it holds.
type NewObject struct {
	Object
	Blobs []*Blob
}

// NewVersion is a version to record with its pieces, in order. Each piece
// is a blob committed earlier (ID set) or one of the batch's own.
type NewVersion struct {
	Version
	Pieces []*Blob
}

// Len is how many rows the batch will add.
func (b *Batch) Len() int {
	n := len(b.Versions) + len(b.Deleted)
	for _, o := range b.Objects {
		n += 1 + len(o.Blobs)
	}
	return n
}

// Commit records the batch in one transaction. Nothing is recorded if any
// part fails. A version must not refer to a blob that is neither committed
// nor in the batch.
func (c *Catalog) Commit(b *Batch) error {
	if b.Len() == 0 && len(b.Settled) == 0 {
		return nil
	}
	now := c.now()
	for _, v := range b.Versions {
		if err := checkPath(v.Path); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		if v.Deleted {
			return fmt.Errorf("record version of %q: a batch version cannot be a tombstone", v.Path)
		}
	}
	for _, v := range b.Deleted {
		if err := checkPath(v.Path); err != nil {
			return fmt.Errorf("mark deleted: %w", err)
		}
	}
	// Ids are given back only when the transaction commits.
	var ids []idAssign
	br := b.Records
	err := c.update("record batch", func(tx *sql.Tx) error {
		ids = ids[:0]
		if br != nil {
			if err := br.begin(tx); err != nil {
				return err
			}
		}
		checked := map[int64]bool{}
		target := func(id int64) error {
			if checked[id] {
				return nil
			}
			checked[id] = true
			return checkTarget(tx, id)
		}
		for _, o := range b.Objects {
			if err := target(o.TargetID); err != nil {
				return err
			}
		}
		insVer, err := tx.Prepare(insertVersionSQL)
		if err != nil {
			return err
		}
		defer insVer.Close()
		insPiece, err := tx.Prepare(`INSERT INTO version_pieces (version_id, seq, blob_id) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insPiece.Close()

		pending, a, err := insertObjects(tx, b.Objects, now, br) // blobs of this batch, by pointer
		if err != nil {
			return err
		}
		ids = append(ids, a...)
		objOf := map[*Blob]*NewObject{} // and their objects
		for _, o := range b.Objects {
			for _, bl := range o.Blobs {
				objOf[bl] = o
			}
		}
		// Where a piece is: its object's archive id and tree hash, its
		// offset; blobs committed before are read once each.
		type place struct {
			archive, treeHash string
			offset            int64
		}
		before := map[int64]place{}
		placeOf := func(bl *Blob, bid int64) (place, error) {
			if o, ok := objOf[bl]; ok {
				return place{o.ArchiveID, o.TreeHash, bl.Offset}, nil
			}
			if pl, ok := before[bid]; ok {
				return pl, nil
			}
			var pl place
			err := tx.QueryRow(`SELECT o.archive_id, coalesce(o.tree_hash, ''), b.offset FROM blobs b
				JOIN objects o ON o.id = b.object_id WHERE b.id = ?`, bid).Scan(&pl.archive, &pl.treeHash, &pl.offset)
			before[bid] = pl
			return pl, err
		}
		for _, v := range b.Versions {
			if err := target(v.TargetID); err != nil {
				return err
			}
			row := v.Version
			if row.Timestamp.IsZero() {
				row.Timestamp = now
			}
			if row.ArchiveID == "" && len(v.Pieces) > 0 {
				// The Python columns name where the content starts.
				first := v.Pieces[0]
				pl, err := placeOf(first, first.ID)
				if err != nil {
					return fmt.Errorf("version of %q: its first piece: %w", v.Path, err)
				}
				row.ArchiveID, row.Checksum = pl.archive, pl.treeHash
				row.Compression = first.Encoding
				row.StoredSize = 0
				for _, p := range v.Pieces {
					row.StoredSize += p.Length
				}
			}
			vid, err := insertVersion(stmtExecer{insVer}, row)
			if err != nil {
				return fmt.Errorf("version of %q: %w", v.Path, err)
			}
			ids = append(ids, idAssign{&v.ID, vid})
			var recPieces []RecordPiece
			for seq, bl := range v.Pieces {
				bid := bl.ID
				if id, ok := pending[bl]; ok {
					bid = id
				}
				if bid == 0 {
					return fmt.Errorf("version of %q: piece %d is in no committed object", v.Path, seq)
				}
				if _, err := insPiece.Exec(vid, seq, bid); err != nil {
					return fmt.Errorf("version of %q: %w", v.Path, err)
				}
				if br != nil && br.OK && v.TargetID == br.TargetID {
					pl, err := placeOf(bl, bid)
					if err != nil {
						return fmt.Errorf("version of %q: piece %d: %w", v.Path, seq, err)
					}
					recPieces = append(recPieces, RecordPiece{Object: pl.archive, Offset: pl.offset})
				}
			}
			br.version(vid, row, recPieces)
		}
		for _, d := range b.Deleted {
			if err := target(d.TargetID); err != nil {
				return err
			}
			var deleted bool
			err := tx.QueryRow("SELECT deleted FROM sync_history WHERE target_id = ? AND path = ? ORDER BY id DESC LIMIT 1",
				d.TargetID, d.Path).Scan(&deleted)
			if errors.Is(err, sql.ErrNoRows) || deleted {
				continue
			}
			if err != nil {
				return err
			}
			row := Version{TargetID: d.TargetID, Path: d.Path, Kind: d.Kind, Deleted: true, Timestamp: d.Timestamp, RunID: d.RunID}
			if row.Timestamp.IsZero() {
				row.Timestamp = now
			}
			vid, err := insertVersion(stmtExecer{insVer}, row)
			if err != nil {
				return err
			}
			br.version(vid, row, nil)
		}
		br.end()
		for _, id := range b.Settled {
			if _, err := tx.Exec("DELETE FROM pending_uploads WHERE id = ?", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range ids {
		*a.p = a.id
	}
	return nil
}

// idAssign is an id to give back once the transaction commits.
type idAssign struct {
	p  *int64
	id int64
}

// insertObjects inserts objs and their blobs, and returns the blob ids by
// pointer and the ids to give back on commit. An object without an upload
// time gets now.
func insertObjects(tx *sql.Tx, objs []*NewObject, now time.Time, br *BatchRecords) (map[*Blob]int64, []idAssign, error) {
	pending := map[*Blob]int64{}
	if len(objs) == 0 {
		return pending, nil, nil
	}
	var ids []idAssign
	insObj, err := tx.Prepare(`INSERT INTO objects (target_id, archive_id, kind, pack_id, size, tree_hash,
		storage_class, uploaded_at, lock_mode, lock_until, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, nil, err
	}
	defer insObj.Close()
	insBlob, err := tx.Prepare(`INSERT INTO blobs (target_id, object_id, hash, size, offset, length, member, kind, encoding)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, nil, err
	}
	defer insBlob.Close()
	for _, o := range objs {
		up := o.Uploaded
		if up.IsZero() {
			up = now
		}
		res, err := insObj.Exec(o.TargetID, o.ArchiveID, string(o.Kind), nullString(o.PackID), o.Size,
			nullString(o.TreeHash), nullString(o.Class), formatTime(up), nullString(o.LockMode), nullTime(o.LockUntil),
			nullInt(o.RunID))
		if err != nil {
			return nil, nil, fmt.Errorf("object %s: %w", o.ArchiveID, err)
		}
		oid, err := res.LastInsertId()
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, idAssign{&o.ID, oid})
		var blobIDs []int64
		for _, bl := range o.Blobs {
			var member any
			if bl.Member >= 0 {
				member = bl.Member
			}
			res, err := insBlob.Exec(o.TargetID, oid, nullString(bl.Hash), bl.Size, bl.Offset, bl.Length, member,
				string(bl.Kind), nullString(bl.Encoding))
			if err != nil {
				return nil, nil, fmt.Errorf("blob of object %s: %w", o.ArchiveID, err)
			}
			bid, err := res.LastInsertId()
			if err != nil {
				return nil, nil, err
			}
			pending[bl] = bid
			ids = append(ids, idAssign{&bl.ID, bid}, idAssign{&bl.ObjectID, oid}, idAssign{&bl.TargetID, o.TargetID})
			if br != nil {
				blobIDs = append(blobIDs, bid)
			}
		}
		br.object(oid, o, up, blobIDs)
	}
	return pending, ids, nil
}

// stmtExecer runs insertVersion's statement through a prepared statement.
type stmtExecer struct{ s *sql.Stmt }

func (e stmtExecer) Exec(_ string, args ...any) (sql.Result, error) { return e.s.Exec(args...) }

// ObjectPaths returns the distinct paths, sorted, of the versions (not
// forgotten) with a piece in the target's object archiveID.
func (c *Catalog) ObjectPaths(targetID int64, archiveID string) ([]string, error) {
	rows, err := c.db.Query(`SELECT DISTINCT h.path FROM objects o
		JOIN blobs b ON b.object_id = o.id
		JOIN version_pieces p ON p.blob_id = b.id
		JOIN sync_history h ON h.id = p.version_id
		WHERE o.target_id = ? AND o.archive_id = ? AND h.forgotten_at IS NULL ORDER BY h.path`, targetID, archiveID)
	if err != nil {
		return nil, wrap(c.path, "paths in object", err)
	}
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, wrap(c.path, "paths in object", err)
		}
		out = append(out, p)
	}
	return out, wrap(c.path, "paths in object", closeRows(rows))
}
