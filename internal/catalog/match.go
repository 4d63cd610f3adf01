package catalog

import (
	"database/sql"
	"errors"
)

// MatchVersion returns the most recent live version of path in the target
// with this size and modification time, whichever version it is. The Python
// tools counted a file as backed up when any of its rows matched path, size
// and mtime, so a file matching an older row must not be uploaded again.
// mtimeNS is compared exactly with rows that have it; rows of the Python
// tools (no mtime_ns) are compared by their float mtime within a microsecond.
func (c *Catalog) MatchVersion(targetID int64, path string, size int64, mtime float64, mtimeNS int64) (Version, bool, error) {
	st, err := c.prepared("SELECT " + versionColumns + ` FROM sync_history h
		WHERE h.target_id = ? AND h.path = ? AND h.file_size = ? AND h.deleted = 0 AND h.archive_id IS NOT NULL AND h.forgotten_at IS NULL
		AND ((h.mtime_ns IS NOT NULL AND h.mtime_ns != 0 AND h.mtime_ns = ?)
		  OR ((h.mtime_ns IS NULL OR h.mtime_ns = 0) AND abs(h.mtime - ?) < 0.000001))
		ORDER BY h.id DESC LIMIT 1`)
	if err != nil {
		return Version{}, false, wrap(c.path, "match version", err)
	}
	v, err := scanVersion(st.QueryRow(targetID, path, size, mtimeNS, mtime))
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, false, nil
	}
	if err != nil {
		return Version{}, false, wrap(c.path, "match version", err)
	}
	return v, true, nil
}
