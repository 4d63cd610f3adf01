package catalog

// ArchiveVersions returns the target's live versions that name an archive
// (forgotten ones left out), by archive id, each archive's oldest first:
// what every archive holds, for reading every archive back (verify
// --read-data).
func (c *Catalog) ArchiveVersions(targetID int64) (map[string][]Version, error) {
	rows, err := c.db.Query("SELECT "+versionColumns+` FROM sync_history h
		WHERE h.target_id = ? AND h.archive_id IS NOT NULL AND h.deleted = 0 AND h.forgotten_at IS NULL
		ORDER BY h.archive_id, h.id`, targetID)
	if err != nil {
		return nil, wrap(c.path, "archive versions", err)
	}
	out := map[string][]Version{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return nil, wrap(c.path, "archive versions", err)
		}
		out[v.ArchiveID] = append(out[v.ArchiveID], v)
	}
	return out, wrap(c.path, "archive versions", closeRows(rows))
}
