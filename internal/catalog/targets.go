package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Target is a place archives are stored: "local:/abs/dir",
// "glacier:REGION:VAULT" or "s3:BUCKET/PREFIX". Rows of the Python tools
// belong to "glacier::VAULT" (region unknown) until a command names the
// region (see Catalog.Target).
type Target struct {
	ID       int64
	Location string
	// KeyFingerprint identifies the key archives are encrypted to ("" if none recorded).
	KeyFingerprint string
	Encrypted      bool
	// Created and LastUsed are UTC; LastUsed is zero if the target was never used.
	Created, LastUsed time.Time
	// Region and Endpoint are how the target was last reached: the AWS
	// region and endpoint URL ("" for the provider's own); see SetConnection.
	Region, Endpoint string
	// LockMode is the S3 Object Lock mode its objects are written with
	// ("GOVERNANCE" or "COMPLIANCE"; "" for none), and LockDays how long a
	// new object stays locked; see SetLock.
	LockMode string
	LockDays int
	// StoreID is the id of the store's marker ("" until a command read or
	// wrote it; see docs/FORMAT.md section 10).
	StoreID string
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

const targetColumns = `id, location, coalesce(key_fingerprint, ''), coalesce(encrypted, 0), created, last_used,
	coalesce(region, ''), coalesce(endpoint, ''), coalesce(lock_mode, ''), coalesce(lock_days, 0), coalesce(store_id, '')`

type rowScanner interface{ Scan(dest ...any) error }

func scanTarget(r rowScanner) (Target, error) {
	var t Target
	var created, lastUsed sql.NullString
	if err := r.Scan(&t.ID, &t.Location, &t.KeyFingerprint, &t.Encrypted, &created, &lastUsed, &t.Region, &t.Endpoint, &t.LockMode, &t.LockDays, &t.StoreID); err != nil {
		return Target{}, err
	}
	var err error
	if t.Created, err = parseTime(created); err != nil {
		return Target{}, fmt.Errorf("target %d: %w", t.ID, err)
	}
	if t.LastUsed, err = parseTime(lastUsed); err != nil {
		return Target{}, fmt.Errorf("target %d: %w", t.ID, err)
	}
	return t, nil
}

func targetByLocation(q querier, location string) (Target, bool, error) {
	t, err := scanTarget(q.QueryRow("SELECT "+targetColumns+" FROM targets WHERE location = ?", location))
	if errors.Is(err, sql.ErrNoRows) {
		return Target{}, false, nil
	}
	if err != nil {
		return Target{}, false, err
	}
	return t, true, nil
}

// checkLocation rejects locations that cannot name a target: they need a
// lower-case scheme, a colon and something after it.
func checkLocation(location string) error {
	scheme, rest, ok := strings.Cut(location, ":")
	if !ok || scheme == "" || rest == "" || strings.IndexByte(location, 0) >= 0 {
		return fmt.Errorf("bad target location %q: want local:/DIR, glacier:REGION:VAULT or s3:BUCKET/PREFIX", location)
	}
	for _, r := range scheme {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return fmt.Errorf("bad target location %q: bad scheme %q", location, scheme)
		}
	}
	return nil
}

// splitGlacier splits "glacier:REGION:VAULT".
func splitGlacier(location string) (region, vault string, ok bool) {
	rest, ok := strings.CutPrefix(location, "glacier:")
	if !ok {
		return "", "", false
	}
	region, vault, ok = strings.Cut(rest, ":")
	if !ok || vault == "" || strings.Contains(vault, ":") {
		return "", "", false
	}
	return region, vault, true
}

// Target returns the target with this location. When location is
// "glacier:REGION:VAULT", does not exist, and the legacy "glacier::VAULT"
// does, the legacy target is renamed to location and returned: users of the
// Python tools keep their history once they name the region. In a read-only
// catalogue the legacy target is returned under its old name instead.
func (c *Catalog) Target(location string) (Target, bool, error) {
	if err := checkLocation(location); err != nil {
		return Target{}, false, err
	}
	t, ok, err := targetByLocation(c.db, location)
	if err != nil || ok {
		return t, ok, wrap(c.path, "look up target", err)
	}
	region, vault, isGlacier := splitGlacier(location)
	if !isGlacier || region == "" {
		return Target{}, false, nil
	}
	legacy, ok, err := targetByLocation(c.db, "glacier::"+vault)
	if err != nil || !ok || c.readOnly {
		return legacy, ok, wrap(c.path, "look up target", err)
	}
	err = c.update("adopt target "+legacy.Location, func(tx *sql.Tx) error {
		t, ok, err = adopt(tx, location)
		return err
	})
	return t, ok, err
}

// adopt finds location in tx, or renames its legacy "glacier::VAULT" target to it.
func adopt(tx *sql.Tx, location string) (Target, bool, error) {
	t, ok, err := targetByLocation(tx, location)
	if err != nil || ok {
		return t, ok, err
	}
	region, vault, isGlacier := splitGlacier(location)
	if !isGlacier || region == "" {
		return Target{}, false, nil
	}
	t, ok, err = targetByLocation(tx, "glacier::"+vault)
	if err != nil || !ok {
		return t, ok, err
	}
	if _, err := tx.Exec("UPDATE targets SET location = ? WHERE id = ?", location, t.ID); err != nil {
		return Target{}, false, err
	}
	t.Location = location
	return t, true, nil
}

// EnsureTarget returns the target with this location (adopting a legacy one
// as Target does), creating it if needed.
func (c *Catalog) EnsureTarget(location string) (Target, error) {
	if err := checkLocation(location); err != nil {
		return Target{}, err
	}
	t, ok, err := targetByLocation(c.db, location)
	if err != nil || ok {
		return t, wrap(c.path, "look up target", err)
	}
	err = c.update("create target "+location, func(tx *sql.Tx) error {
		var ok bool
		if t, ok, err = adopt(tx, location); err != nil || ok {
			return err
		}
		now := c.now()
		res, err := tx.Exec("INSERT INTO targets (location, created) VALUES (?, ?)", location, formatTime(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		t = Target{ID: id, Location: location, Created: now.UTC().Round(0)}
		return err
	})
	return t, err
}

// Targets returns every target, oldest first.
func (c *Catalog) Targets() ([]Target, error) {
	return c.queryTargets("list targets", "ORDER BY id")
}

// queryTargets returns the targets selected by the clauses that follow
// FROM targets.
func (c *Catalog) queryTargets(op, clauses string, args ...any) ([]Target, error) {
	rows, err := c.db.Query("SELECT "+targetColumns+" FROM targets "+clauses, args...)
	if err != nil {
		return nil, wrap(c.path, op, err)
	}
	var ts []Target
	for rows.Next() {
		t, err := scanTarget(rows)
		if err != nil {
			rows.Close()
			return nil, wrap(c.path, op, err)
		}
		ts = append(ts, t)
	}
	return ts, wrap(c.path, op, closeRows(rows))
}

// DefaultTarget returns the most recently used target (by TouchTarget, or by
// the uploads of a legacy target); false if there are no targets.
func (c *Catalog) DefaultTarget() (Target, bool, error) {
	t, err := scanTarget(c.db.QueryRow("SELECT " + targetColumns +
		" FROM targets ORDER BY last_used IS NULL, last_used DESC, id DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return Target{}, false, nil
	}
	if err != nil {
		return Target{}, false, wrap(c.path, "find default target", err)
	}
	return t, true, nil
}

// TouchTarget marks the target as used now.
func (c *Catalog) TouchTarget(id int64) error {
	return c.update("mark target used", func(tx *sql.Tx) error {
		return execOne(tx, id, "UPDATE targets SET last_used = ? WHERE id = ?", formatTime(c.now()), id)
	})
}

// SetKey records the fingerprint of the key the target's archives are
// encrypted to, and whether they are encrypted.
func (c *Catalog) SetKey(id int64, fingerprint string, encrypted bool) error {
	return c.update("record target key", func(tx *sql.Tx) error {
		return execOne(tx, id, "UPDATE targets SET key_fingerprint = ?, encrypted = ? WHERE id = ?",
			nullString(fingerprint), encrypted, id)
	})
}

// execOne runs an UPDATE of target id and fails with ErrNoTarget if no row changed.
func execOne(tx *sql.Tx, id int64, query string, args ...any) error {
	res, err := tx.Exec(query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %d", ErrNoTarget, id)
	}
	return nil
}
