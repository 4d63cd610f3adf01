// Package engine runs grsync's work: sync (walk, compare with the
// catalogue, deduplicate, encode, upload, record), restore (select versions,
// request retrievals, download, verify, decode, place) and inventory rebuild.
// It talks to a store.Store, a catalog.Catalog and an Observer, and never
// prints, exits or reads flags itself.
package engine

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"log/slog"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store"
)

// Config is what every engine operation needs.
type Config struct {
	Store   store.Store
	Catalog *catalog.Catalog
	Target  catalog.Target
	// Key is the user's key, nil when none was given. Encryption of new
	// archives is decided by Encrypt; the key may still be needed to read
	// encrypted archives.
	Key      *keys.Key
	Encrypt  bool
	Compress bool
	Desc     string // user --desc stored with each new archive
	Jobs     int    // files in flight; <1 means 1
	// PackSize is the size packs are closed at (0: DefaultPackSize);
	// NoPacking stores each file's content in an object of its own.
	PackSize  int64
	NoPacking bool
	// PackThreshold is the largest file stored whole (0: 1 MiB); larger
	// files are stored as content-defined chunks. Files above 8 MiB
	// (chunk.MaxSize) that it stores whole are read twice: hashed, then
	// streamed into their pack.
	PackThreshold int64
	// Class is the storage class new objects get, as the catalogue records
	// it when the store does not say ("LOCAL", "VAULT", an S3 class).
	Class string
	// HotClass is the class catalogue snapshots and version records are
	// stored in where the store has classes (S3; "" elsewhere), so that a
	// lost catalogue is recovered without a restore.
	HotClass string
	Observer Observer
	Log      *slog.Logger
	Now      func() time.Time

	// afterRead, in tests, runs after each read of a file's content.
	afterRead func(path string)
	// packIndexMax, in tests, lowers the index size packs close at
	// (0: maxPackIndex).
	packIndexMax int
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *Config) packSize() int64 {
	switch {
	case c.NoPacking:
		return 0
	case c.PackSize > 0:
		return c.PackSize
	}
	return DefaultPackSize
}

func (c *Config) packThreshold() int64 {
	if c.PackThreshold > 0 {
		return c.PackThreshold
	}
	return DefaultPackThreshold
}

func (c *Config) jobs() int {
	if c.Jobs < 1 {
		return 1
	}
	return c.Jobs
}

func (c *Config) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Config) observer() Observer {
	if c.Observer != nil {
		return c.Observer
	}
	return NopObserver{}
}

// contentHash returns the hash that identifies file content on this target:
// keyed (HMAC) when a key is present, so that hashes leaving the machine
// reveal nothing; plain SHA-256 otherwise.
func (c *Config) contentHash() hash.Hash {
	if c.Key != nil {
		return c.Key.ContentHash()
	}
	return sha256.New()
}

// Observer receives progress events. Implementations must be safe for
// concurrent use; the engine calls them from several goroutines.
type Observer interface {
	// Found is called as the walk discovers files that need work (for a
	// restore: once, with the whole plan).
	Found(files int, bytes int64)
	// Scanned is called once every file has been Found: the totals are
	// final from then on.
	Scanned()
	// Start and Done bracket the work on one file; status is one of
	// "uploaded", "deduplicated", "unchanged", "restored", "skipped",
	// "vanished" (deleted before it could be read), "failed". A dry run
	// calls Done alone, with status "would upload", for each file it
	// would upload.
	Start(path string, size int64)
	Done(path string, status string, err error)
	// Progress reports bytes processed.
	Progress(bytes int64)
	// Notice reports something the user should see that is not an error
	// (a skipped symlink, a retry, a pending retrieval).
	Notice(path, msg string)
}

// NopObserver ignores every event.
type NopObserver struct{}

func (NopObserver) Found(int, int64)           {}
func (NopObserver) Scanned()                   {}
func (NopObserver) Start(string, int64)        {}
func (NopObserver) Done(string, string, error) {}
func (NopObserver) Progress(int64)             {}
func (NopObserver) Notice(string, string)      {}

// Failure is one path that could not be handled, and why.
type Failure struct {
	Path string
	Err  error
}

func (f Failure) String() string { return fmt.Sprintf("%s: %v", f.Path, f.Err) }
