package catalog

import (
	"database/sql"
	"fmt"
	"time"
)

// migrate7 separates where content is stored from which file versions use
// it, so that many files can share one stored object (packs) and one file
// can be made of many pieces (chunks):
//
//   - objects: every object grsync stored in a target (a v1 or legacy
//     archive, a v2 pack, a catalogue snapshot, a version-records object),
//     with what retention and prune need: its storage class, when the store
//     accepted it, a lock, and when grsync deleted it.
//   - blobs: one stored piece of content (a whole file's content or a chunk)
//     as a byte range of an object, with the keyed hash of its plaintext.
//   - version_pieces: the blobs a file version is made of, in order.
//   - runs: each sync run (the points in time retention rules count).
//
// sync_history gains the entry kind (file, folder, symlink), owner, symlink
// target, hard-link identity, flags, the run that recorded a row, and when
// a row was forgotten by retention. Its Python columns keep their meaning:
// archive_id names the object holding the version's first piece.
//
// Every live row of an older catalogue gets one object (its archive), one
// blob (the whole archive) and one piece, so all rows read alike.
func migrate7(tx *sql.Tx, _ time.Time) error {
	stmts := []string{
		`CREATE TABLE objects (id INTEGER PRIMARY KEY,
			target_id INTEGER NOT NULL REFERENCES targets(id),
			archive_id TEXT NOT NULL,
			kind TEXT NOT NULL CHECK (kind IN ('archive', 'pack', 'snapshot', 'records')),
			pack_id TEXT,
			size INTEGER NOT NULL DEFAULT 0,
			tree_hash TEXT,
			storage_class TEXT,
			uploaded_at TEXT,
			lock_mode TEXT,
			lock_until TEXT,
			deleted_at TEXT,
			run_id INTEGER,
			UNIQUE (target_id, archive_id))`,
		`CREATE TABLE blobs (id INTEGER PRIMARY KEY,
			target_id INTEGER NOT NULL REFERENCES targets(id),
			object_id INTEGER NOT NULL REFERENCES objects(id),
			hash TEXT,
			size INTEGER NOT NULL,
			offset INTEGER NOT NULL DEFAULT 0,
			length INTEGER NOT NULL,
			member INTEGER,
			kind TEXT NOT NULL CHECK (kind IN ('archive', 'file', 'chunk')),
			encoding TEXT)`,
		`CREATE INDEX blobs_hash ON blobs(target_id, hash)`,
		`CREATE INDEX blobs_object ON blobs(object_id)`,
		`CREATE INDEX blobs_size ON blobs(target_id, size)`,
		`CREATE TABLE version_pieces (version_id INTEGER NOT NULL REFERENCES sync_history(id),
			seq INTEGER NOT NULL,
			blob_id INTEGER NOT NULL REFERENCES blobs(id),
			PRIMARY KEY (version_id, seq)) WITHOUT ROWID`,
		`CREATE INDEX version_pieces_blob ON version_pieces(blob_id)`,
		`CREATE TABLE runs (id INTEGER PRIMARY KEY,
			target_id INTEGER NOT NULL REFERENCES targets(id),
			started TEXT NOT NULL, finished TEXT,
			complete INTEGER NOT NULL DEFAULT 0)`,
		`ALTER TABLE sync_history ADD COLUMN kind INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE sync_history ADD COLUMN uid INTEGER`,
		`ALTER TABLE sync_history ADD COLUMN gid INTEGER`,
		`ALTER TABLE sync_history ADD COLUMN link_target BLOB`,
		`ALTER TABLE sync_history ADD COLUMN hardlink TEXT`,
		`ALTER TABLE sync_history ADD COLUMN flags INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE sync_history ADD COLUMN run_id INTEGER`,
		`ALTER TABLE sync_history ADD COLUMN forgotten_at TEXT`,
		// What sync compares now includes the entry's kind, mode and owner
		// (a chmod alone is a new version), still from the index alone.
		`DROP INDEX sync_history_states`,
		`CREATE INDEX sync_history_states ON sync_history(target_id, path, id, file_size, mtime, mtime_ns, deleted,
			kind, mode, uid, gid)`,
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			return fmt.Errorf("%.60s...: %w", s, err)
		}
	}
	return attachPieces(tx)
}

// attachPieces gives every live row that refers to an archive but has no
// pieces (rows of older catalogues, and rows the Python tools append later)
// the object, blob and piece of that archive: the whole archive is one
// piece of content. Archives already known as objects are reused.
func attachPieces(tx *sql.Tx) error {
	stmts := []string{
		// The archive's class is unknown: prune then assumes the longest
		// minimum storage duration of the target's kind.
		`INSERT OR IGNORE INTO objects (target_id, archive_id, kind, size, tree_hash, uploaded_at)
			SELECT h.target_id, h.archive_id, 'archive', coalesce(max(h.stored_size), 0), max(h.checksum), min(h.recorded_at)
			FROM sync_history h
			WHERE h.target_id IS NOT NULL AND h.archive_id IS NOT NULL AND h.deleted = 0
				AND NOT EXISTS (SELECT 1 FROM version_pieces p WHERE p.version_id = h.id)
			GROUP BY h.target_id, h.archive_id`,
		`INSERT INTO blobs (target_id, object_id, hash, size, offset, length, kind, encoding)
			SELECT o.target_id, o.id,
				(SELECT h.content_hash FROM sync_history h WHERE h.target_id = o.target_id AND h.archive_id = o.archive_id
					AND h.content_hash IS NOT NULL AND h.content_hash != '' ORDER BY h.id DESC LIMIT 1),
				(SELECT coalesce(h.file_size, 0) FROM sync_history h WHERE h.target_id = o.target_id AND h.archive_id = o.archive_id
					AND h.deleted = 0 ORDER BY h.id DESC LIMIT 1),
				0, o.size, 'archive',
				(SELECT h.compression FROM sync_history h WHERE h.target_id = o.target_id AND h.archive_id = o.archive_id
					AND h.deleted = 0 ORDER BY h.id DESC LIMIT 1)
			FROM objects o
			WHERE o.kind = 'archive' AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.object_id = o.id)`,
		`INSERT INTO version_pieces (version_id, seq, blob_id)
			SELECT h.id, 0, (SELECT min(b.id) FROM blobs b WHERE b.object_id = o.id)
			FROM sync_history h
			JOIN objects o ON o.target_id = h.target_id AND o.archive_id = h.archive_id
			WHERE h.deleted = 0 AND h.archive_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM version_pieces p WHERE p.version_id = h.id)`,
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			return fmt.Errorf("attach pieces: %.60s...: %w", s, err)
		}
	}
	return nil
}
