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
	if err := s.BeginPut(ctx, description, errBadDescription); err != nil {
		return store.Archive{}, s.Fail(op, err)
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
	u, err := s.startUpload(uploadMeta{Description: description, Created: created.UTC(), Archive: id})
	if err != nil {
		return store.Archive{}, err
	}
	defer func() {
		if err != nil {
			u.remove()
		}
	}()
	if _, err := u.copy(ctx, body, -1); err != nil {
		return store.Archive{}, err
	}
	return u.complete(ctx)
}

// upload is an upload being written in DIR/uploads.
type upload struct {
	s    *Store
	id   string
	meta uploadMeta
	f    *os.File // the bytes, open for writing at their end; nil once closed
	th   *treehash.Hash
	size int64 // bytes written
}

// startUpload records a new upload and creates its empty file of bytes.
func (s *Store) startUpload(meta uploadMeta) (*upload, error) {
	u := &upload{s: s, id: newID(), meta: meta, th: treehash.New()}
	um, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	// Written whole or not at all, so every listed upload has its
	// description (a later run recognises its own dead uploads by it).
	if err := writeFileAtomic(u.path(".json"), um); err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	u.f, err = os.OpenFile(u.path(".part"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		_ = os.Remove(u.path(".json"))
		return nil, fmt.Errorf("start upload: %w", err)
	}
	return u, nil
}

func (u *upload) path(ext string) string { return u.s.uploadPath(u.id, ext) }

// copy appends up to limit bytes of body (limit < 0: all of it) and
// reports whether body ended.
func (u *upload) copy(ctx context.Context, body io.Reader, limit int64) (eof bool, err error) {
	n, eof, err := copyBody(ctx, u.f, u.th, body, u.size, limit)
	u.size += n
	return eof, err
}

// close closes the file of bytes, if open, after syncing it if sync is set.
func (u *upload) close(sync bool) error {
	if u.f == nil {
		return nil
	}
	var err error
	if sync {
		err = u.f.Sync()
	}
	err = errors.Join(err, u.f.Close())
	u.f = nil
	return err
}

// remove closes and deletes the upload's files (what is left of them).
func (u *upload) remove() {
	_ = u.close(false)
	for _, ext := range []string{".part", ".meta", ".json"} {
		_ = os.Remove(u.path(ext))
	}
}

// complete makes the upload's bytes durable and publishes them as archive
// u.meta.Archive. See the package documentation for the write ordering.
func (u *upload) complete(ctx context.Context) (store.Archive, error) {
	if err := u.close(true); err != nil {
		return store.Archive{}, fmt.Errorf("write upload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return store.Archive{}, err
	}
	meta := archiveMeta{Description: u.meta.Description, Size: u.size, Created: u.meta.Created, TreeHash: u.th.Digest().String()}
	data, err := json.Marshal(meta)
	if err != nil {
		return store.Archive{}, err
	}
	// The archive's metadata, until published.
	if err := writeFileAtomic(u.path(".meta"), data); err != nil {
		return store.Archive{}, fmt.Errorf("write upload metadata: %w", err)
	}
	id := u.meta.Archive
	if err := u.s.publish(id, u.path(".part"), u.path(".meta")); err != nil {
		return store.Archive{}, err
	}
	// Published: the upload is over. If grsync dies before this, the upload
	// stays listed and aborting it leaves the published archive alone.
	_ = os.Remove(u.path(".json"))
	if err := syncDir(u.s.uploadDir()); err != nil {
		return store.Archive{}, fmt.Errorf("sync uploads: %w", err)
	}
	return store.Archive{ID: id, Description: meta.Description, Size: meta.Size, Created: meta.Created, TreeHash: meta.TreeHash}, nil
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

// copyBody copies up to limit bytes of body (limit < 0: all of it) to w
// and th with one bounded buffer, checking ctx before every read, and
// reports whether body ended. Read failures are store.BodyErrors that say
// how far into the body (done bytes before) they happened.
func copyBody(ctx context.Context, w io.Writer, th *treehash.Hash, body io.Reader, done, limit int64) (n int64, eof bool, err error) {
	buf := make([]byte, copyBufSize)
	for limit < 0 || n < limit {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		b := buf
		if limit >= 0 {
			b = buf[:min(int64(len(buf)), limit-n)]
		}
		nr, rerr := body.Read(b)
		if nr > 0 {
			if _, err := w.Write(b[:nr]); err != nil {
				return n, false, fmt.Errorf("write upload: %w", err)
			}
			th.Write(b[:nr])
			n += int64(nr)
		}
		switch {
		case rerr == io.EOF:
			return n, true, nil
		case rerr != nil:
			return n, false, &store.BodyError{Err: fmt.Errorf("read body after %d bytes: %w", done+n, rerr)}
		}
	}
	return n, false, nil
}
