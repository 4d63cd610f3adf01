// Package catfill gives a catalogue many rows quickly, written directly in
// SQL, for benchmarks of what scales with a catalogue's size (snapshots,
// recovery). Tests only.
package catfill

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// Files gives target targetID of the catalogue at path (created by
// catalog.Open, closed now) n file versions as a sync with packs records
// them: each one row, one blob and one piece; 3,000 members per pack
// object; paths in 1,000 folders; keyed content hashes (random-looking
// hex, as with encryption on); the last tenth are second versions of the
// first files. Pack ids, store ids and hashes are made up: the rows are
// for measuring, not for restoring.
func Files(path string, targetID int64, location string, n int, at time.Time) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insObj, err := tx.Prepare(`INSERT INTO objects (target_id, archive_id, kind, pack_id, size, tree_hash, storage_class, uploaded_at, run_id)
		VALUES (?, ?, 'pack', ?, ?, ?, 'DEEP_ARCHIVE', ?, 1)`)
	if err != nil {
		return err
	}
	insBlob, err := tx.Prepare(`INSERT INTO blobs (target_id, object_id, hash, size, offset, length, member, kind, encoding)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'file', 'grsync2+zstd+age')`)
	if err != nil {
		return err
	}
	insVer, err := tx.Prepare(`INSERT INTO sync_history (path, file_size, mtime, archive_id, location, checksum,
		compression, timestamp, target_id, mtime_ns, mode, content_hash, stored_size, description, deleted,
		recorded_at, kind, uid, gid, link_target, hardlink, flags, run_id)
		VALUES (?, ?, ?, ?, ?, ?, 'grsync2+zstd+age', ?, ?, ?, 420, ?, ?, NULL, 0, ?, 0, 1000, 1000, NULL, NULL, 0, 1)`)
	if err != nil {
		return err
	}
	insPiece, err := tx.Prepare(`INSERT INTO version_pieces (version_id, seq, blob_id) VALUES (?, 0, ?)`)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT OR IGNORE INTO runs (id, target_id, started, finished, complete) VALUES (1, ?, ?, ?, 1)`,
		targetID, at.UTC().Format(timeLayout), at.Add(time.Hour).UTC().Format(timeLayout)); err != nil {
		return err
	}
	var obj int64
	var archive, treeHash string
	var off int64
	for i := range n {
		f := i
		if i >= n-n/10 {
			f = i - (n - n/10)
		}
		h := sha256.Sum256(fmt.Appendf(nil, "content %d", i))
		hash := hex.EncodeToString(h[:])
		if i%3000 == 0 {
			p := sha256.Sum256(fmt.Appendf(nil, "pack %d", i))
			archive, treeHash = hex.EncodeToString(p[:16]), hex.EncodeToString(p[:])
			res, err := insObj.Exec(targetID, archive, hex.EncodeToString(p[16:]), 64<<20, treeHash, at.UTC().Format(timeLayout))
			if err != nil {
				return err
			}
			obj, _ = res.LastInsertId()
			off = 0
		}
		size := int64(1000 + i%50000)
		length := size/2 + 200
		res, err := insBlob.Exec(targetID, obj, hash, size, off, length, i%3000)
		if err != nil {
			return err
		}
		blob, _ := res.LastInsertId()
		off += length
		ts := at.Add(time.Duration(i) * time.Millisecond).UTC()
		path := fmt.Sprintf("/home/user/projects/dir%03d/sub%02d/file-%07d.dat", f%1000, f%37, f)
		res, err = insVer.Exec(path, size, float64(ts.Unix()), archive, location, treeHash,
			ts.Format("Mon, 02 Jan 2006 15:04:05 GMT"), targetID, ts.UnixNano(), hash, length, ts.Format(timeLayout))
		if err != nil {
			return err
		}
		v, _ := res.LastInsertId()
		if _, err := insPiece.Exec(v, blob); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"
