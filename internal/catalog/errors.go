package catalog

import (
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
)

// Errors callers can test with errors.Is. The returned errors wrap them with
// the catalogue's path and a hint of what to do.
var (
	// ErrLocked means another grsync process has the catalogue open for writing.
	ErrLocked = errors.New("catalogue in use")
	// ErrTooNew means the catalogue was written by a newer grsync; it is left untouched.
	ErrTooNew = errors.New("catalogue is newer than this grsync")
	// ErrCorrupt means the file is not an SQLite database or fails SQLite's checks.
	ErrCorrupt = errors.New("catalogue is corrupt or not an SQLite database")
	// ErrReadOnly means the catalogue (or its directory) cannot be written, or
	// it was opened with OpenOptions.ReadOnly and a write was attempted.
	ErrReadOnly = errors.New("catalogue is read-only")
	// ErrNotCatalog means the file is an SQLite database of some other program.
	ErrNotCatalog = errors.New("not a grsync catalogue")
	// ErrNoTarget means a target id does not exist in the catalogue.
	ErrNoTarget = errors.New("no such target")
)

// Primary SQLite result codes (extended codes carry them in the low byte).
const (
	sqliteReadOnly   = 8
	sqliteCorrupt    = 11
	sqliteCantOpen   = 14
	sqliteConstraint = 19
	sqliteNotADB     = 26
)

// sqliteCode returns the primary SQLite result code inside err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// wrap adds context to err and, for SQLite failures that mean a corrupt or
// read-only catalogue, the matching sentinel error.
func wrap(path, op string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch sqliteCode(err) {
	case sqliteCorrupt, sqliteNotADB:
		sentinel = ErrCorrupt
	case sqliteReadOnly:
		sentinel = ErrReadOnly
	}
	if sentinel == nil || errors.Is(err, sentinel) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if strings.Contains(op, path) {
		return fmt.Errorf("%s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("%s: %w: %s: %w", op, sentinel, path, err)
}
