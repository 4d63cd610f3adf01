package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// copyBufSize is the only buffer a Put holds, whatever the archive's size.
const copyBufSize = 256 << 10

// errBadDescription is returned (marked permanent) for descriptions that
// store.ValidDescription rejects.
var errBadDescription = fmt.Errorf("invalid description: it must be printable ASCII (0x20..0x7e) of at most %d bytes", store.MaxDescription)

// Put stores body as a new archive with a fresh random id. See the package
// documentation for the write ordering.
func (s *Store) Put(ctx context.Context, body io.Reader, description string) (store.Archive, error) {
	const op = "put"
	if err := s.Begin(ctx); err != nil {
		return store.Archive{}, s.Fail(op, err)
	}
	if !store.ValidDescription(description) {
		return store.Archive{}, s.Fail(op, store.Permanent(errBadDescription))
	}
	a, err := s.put(ctx, body, description, newID(), s.opt.Now())
	if err != nil {
		return store.Archive{}, s.Fail(op, err)
	}
	return a, nil
}

// Seed places an archive under the given id, for tests whose fixtures carry
// ids assigned by Glacier. The id must be 1 to 200 characters from
// [A-Za-z0-9_-] and not in use; a zero created means now.
func (s *Store) Seed(id, description string, created time.Time, r io.Reader) error {
	const op = "seed"
	ctx := context.Background()
	if err := s.Begin(ctx); err != nil {
		return s.Fail(op, err)
	}
	if !validID(id) {
		return s.Fail(op, store.Permanent(fmt.Errorf("archive id %q is not 1 to %d characters from [A-Za-z0-9_-]", id, maxIDLen)))
	}
	if !store.ValidDescription(description) {
		return s.Fail(op, store.Permanent(errBadDescription))
	}
	if created.IsZero() {
		created = s.opt.Now()
	}
	if _, err := s.put(ctx, r, description, id, created); err != nil {
		return s.Fail(op, err)
	}
	return nil
}

// put streams body into a new upload and publishes it as archive id.
func (s *Store) put(ctx context.Context, body io.Reader, description, id string, created time.Time) (a store.Archive, err error) {
	created = created.UTC()
	uid := newID()
	partPath, upMetaPath := s.uploadPath(uid, ".part"), s.uploadPath(uid, ".json")
	finalMetaPath := s.uploadPath(uid, ".meta") // the archive's metadata, until published

	um, err := json.Marshal(uploadMeta{Description: description, Created: created, Archive: id})
	if err != nil {
		return store.Archive{}, err
	}
	// Written whole or not at all, so every listed upload has its
	// description (a later run recognises its own dead uploads by it).
	if err := writeFileAtomic(upMetaPath, um); err != nil {
		return store.Archive{}, fmt.Errorf("start upload: %w", err)
	}
	f, err := os.OpenFile(partPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		_ = os.Remove(upMetaPath)
		return store.Archive{}, fmt.Errorf("start upload: %w", err)
	}
	published := false
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if !published {
			_ = os.Remove(partPath)
			_ = os.Remove(finalMetaPath)
			_ = os.Remove(upMetaPath)
		}
	}()

	th := treehash.New()
	size, err := copyBody(ctx, f, th, body)
	if err != nil {
		return store.Archive{}, err
	}
	if err := f.Sync(); err != nil {
		return store.Archive{}, fmt.Errorf("write upload: %w", err)
	}
	err, f = f.Close(), nil
	if err != nil {
		return store.Archive{}, fmt.Errorf("write upload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return store.Archive{}, err
	}

	meta := archiveMeta{Description: description, Size: size, Created: created, TreeHash: th.Digest().String()}
	data, err := json.Marshal(meta)
	if err != nil {
		return store.Archive{}, err
	}
	if err := writeFileAtomic(finalMetaPath, data); err != nil {
		return store.Archive{}, fmt.Errorf("write upload metadata: %w", err)
	}
	if err := s.publish(id, partPath, finalMetaPath); err != nil {
		return store.Archive{}, err
	}
	// Published: the upload is over. If grsync dies before this, the upload
	// stays listed and aborting it leaves the published archive alone.
	_ = os.Remove(upMetaPath)
	if err := syncDir(s.uploadDir()); err != nil {
		return store.Archive{}, fmt.Errorf("sync uploads: %w", err)
	}
	published = true
	return store.Archive{ID: id, Description: description, Size: size, Created: created, TreeHash: meta.TreeHash}, nil
}

// publish renames a complete upload into archives/, bytes first, then its
// metadata (which makes it listed).
func (s *Store) publish(id, partPath, metaPath string) error {
	for _, p := range []string{s.metaPath(id), s.archivePath(id)} {
		if _, err := os.Lstat(p); err == nil {
			return store.Permanent(fmt.Errorf("archive %s already exists", id))
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(partPath, s.archivePath(id)); err != nil {
		return fmt.Errorf("publish archive: %w", err)
	}
	if err := os.Rename(metaPath, s.metaPath(id)); err != nil {
		_ = os.Remove(s.archivePath(id))
		return fmt.Errorf("publish archive metadata: %w", err)
	}
	if err := syncDir(s.archiveDir()); err != nil {
		return fmt.Errorf("sync archives: %w", err)
	}
	return nil
}

// copyBody copies body to f and th with one bounded buffer, checking ctx
// before every read. Read failures say they came from the body.
func copyBody(ctx context.Context, f *os.File, th *treehash.Hash, body io.Reader) (int64, error) {
	buf := make([]byte, copyBufSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := body.Read(buf)
		if nr > 0 {
			if _, err := f.Write(buf[:nr]); err != nil {
				return n, fmt.Errorf("write upload: %w", err)
			}
			th.Write(buf[:nr])
			n += int64(nr)
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil:
			return n, fmt.Errorf("read body after %d bytes: %w", n, rerr)
		}
	}
}
