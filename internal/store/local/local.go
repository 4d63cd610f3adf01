package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/store"
)

const (
	markerName  = "grsync-store.json"
	archivesDir = "archives"
	uploadsDir  = "uploads"
	jobsDir     = "jobs"
)

// Options tunes a local store.
type Options struct {
	// RetrievalDelay simulates a cold store: a retrieval becomes ready only
	// this long after it was requested. Zero means ready at once.
	RetrievalDelay time.Duration
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
	// PartSize is the part size of resumable uploads (PutResumable): a
	// body of at most one part is stored as by Put, a larger one can be
	// continued after a failure from its last whole part. 0 means
	// DefaultPartSize.
	PartSize int64
	// ObjectLock must be empty: a directory on this machine cannot be made
	// immutable against someone who holds it, so open refuses a lock mode
	// with a *store.ConfigError rather than pretend.
	ObjectLock store.LockMode
}

// DefaultPartSize is the part size of resumable uploads when
// Options.PartSize is 0.
const DefaultPartSize = 8 << 20

// Store is a store.Store on a local directory. It is safe for concurrent use.
type Store struct {
	dir string // absolute, cleaned
	store.Base
	opt   Options
	metas *metaCache
}

var _ store.Store = (*Store)(nil)

// New opens the store in dir, creating dir and its marker if dir is missing
// or empty. It refuses a non-empty directory without a marker.
func New(dir string, opt Options) (*Store, error) {
	return open(dir, opt, true)
}

// Open opens an existing store in dir and fails if dir has no marker.
func Open(dir string, opt Options) (*Store, error) {
	return open(dir, opt, false)
}

func open(dir string, opt Options, create bool) (*Store, error) {
	if dir == "" {
		return nil, errors.New("local store: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PartSize == 0 {
		opt.PartSize = DefaultPartSize
	}
	if opt.PartSize < 0 {
		return nil, fmt.Errorf("local store %s: negative part size %d", dir, opt.PartSize)
	}
	if err := CheckObjectLock(dir, opt.ObjectLock); err != nil {
		return nil, err
	}
	s := &Store{Base: store.NewBase("local:" + abs), dir: abs, opt: opt, metas: &metaCache{}}
	if err := s.init(create); err != nil {
		return nil, fmt.Errorf("%s: open: %w", s.Location(), err)
	}
	return s, nil
}

// init checks the marker, or writes one into a new or empty directory when
// create is set, and makes sure the subdirectories exist.
func (s *Store) init(create bool) error {
	err := checkMarker(filepath.Join(s.dir, markerName))
	switch {
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return err
	case !create:
		return fmt.Errorf("no %s here: not a grsync local store", markerName)
	default:
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return err
		}
		entries, err := os.ReadDir(s.dir)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("refusing to use a directory that is not empty and has no %s; choose a new or empty directory", markerName)
		}
		if err := writeMarker(s.dir, s.opt.Now()); err != nil {
			return err
		}
	}
	for _, d := range []string{archivesDir, uploadsDir, jobsDir} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o700); err != nil {
			return err
		}
	}
	return syncDir(s.dir)
}

// Dir returns the absolute directory of the store.
func (s *Store) Dir() string { return s.dir }

func (s *Store) archivePath(id string) string { return filepath.Join(s.dir, archivesDir, id) }
func (s *Store) metaPath(id string) string    { return filepath.Join(s.dir, archivesDir, id+".json") }
func (s *Store) uploadPath(id, ext string) string {
	return filepath.Join(s.dir, uploadsDir, id+ext)
}
func (s *Store) jobPath(id string) string { return filepath.Join(s.dir, jobsDir, id+".json") }
func (s *Store) archiveDir() string       { return filepath.Join(s.dir, archivesDir) }
func (s *Store) uploadDir() string        { return filepath.Join(s.dir, uploadsDir) }

// CheckObjectLock refuses an Object Lock for a local store (a
// store.ConfigError): a local directory has none. Commands check it before
// they create anything.
func CheckObjectLock(dir string, mode store.LockMode) error {
	if mode == "" {
		return nil
	}
	return &store.ConfigError{
		Err: fmt.Errorf("local store %s: --object-lock %s: a local directory has no object lock", dir, strings.ToLower(string(mode))),
		Hint: "leave out --object-lock for a local store; for backups nobody can delete, use --bucket with an S3 bucket that has Object Lock, " +
			"or protect the disk itself (a read-only snapshot, an offline copy)",
	}
}
