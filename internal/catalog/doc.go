// Package catalog is grsync's local SQLite catalogue: which version of which
// file was stored in which archive of which target.
//
// # Compatibility with the Python tools
//
// The catalogue file is the one the Python glacier-rsync tools wrote
// (glacier.db). Its table sync_history keeps its nine original columns and
// every original row byte for byte; grsync only adds columns, tables and
// indexes (migration 1), so the old tools can still read it and even append
// to it. Rows appended later by an old tool are linked to their target the
// next time grsync opens the catalogue for writing.
//
// # Schema versions
//
// The schema version is PRAGMA user_version: 0 is the Python tools' file (or
// an empty file), 1 is the first grsync schema. Migrations are numbered, run
// in one transaction each, and are preceded by a copy of the catalogue
// (<path>.pre-vN-<time>.bak) when it holds rows. A catalogue whose version is
// newer than this code knows is refused with ErrTooNew and never written.
// grsync catalogues carry PRAGMA application_id 0x67727379 ("grsy").
//
// # Durability and exclusive use
//
// The catalogue runs in WAL mode with synchronous=FULL: every committed
// Record is fsynced before Record returns. NORMAL would only lose the last
// commits on power loss, but a lost commit here means an archive that was
// uploaded (and paid for) but is not recorded; an fsync per file is cheap next
// to an upload. Each write method is one transaction; a crash leaves either
// the whole row or none of it.
//
// A writer holds an advisory lock (flock) on <path>.lock until Close, so a
// second grsync is refused with ErrLocked; the kernel drops the lock when the
// process dies. Read-only opens take no lock: WAL lets them read a consistent
// snapshot while a writer works.
//
// Open checks, before writing anything: that the directory and file are
// writable (ErrReadOnly), the SQLite header (ErrCorrupt), the schema version
// and application id (ErrTooNew, ErrNotCatalog), then PRAGMA quick_check
// (ErrCorrupt; roughly 0.05-0.15 s for 100,000 rows). A read-only open of an older
// catalogue, or of a WAL catalogue in a directory it cannot write, reads a
// private in-memory copy (upgraded there) and never changes the file.
//
// Each catalogue uses one SQLite connection (32 MiB page cache): methods are
// safe for concurrent use and run one at a time.
//
// # Versions and time
//
// Every backup of a file adds a row; a file that disappeared from the source
// gets a tombstone row (Deleted, no archive). The latest version of a path is
// its row with the highest id (insertion order). "Latest at time T" is the
// highest-id row recorded at or before T. Times are stored in UTC as
// fixed-width RFC 3339 text with nanoseconds, so they sort as text; the
// legacy timestamp column keeps HTTP-date text for the old tools.
//
// Rows written by the Python tools have no exact modification time:
// Version.MTimeNS and State.MTimeNS are 0 for them and only the float MTime
// (Python's os.path.getmtime) is known. Comparing that float with a stat
// result is the caller's job.
//
// # Paths
//
// Paths are stored as TEXT holding the file name's raw bytes (not
// necessarily UTF-8) and come back byte for byte. They may not contain NUL.
// Prefix selection is by path component and uses range comparisons on the
// index, never LIKE: prefix "/a/b" selects "/a/b" and "/a/b/x" but not
// "/a/bc".
package catalog
