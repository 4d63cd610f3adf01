package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

var _ store.Resumer = (*Store)(nil)

// PutResumable is Put for uploads a later run can continue (see
// store.Resumer and the package documentation). A body of at most
// Options.PartSize bytes is stored as by Put and never calls opt.Started.
// A longer one is handed to opt.Started once its first part is written,
// and is kept in DIR/uploads when it fails for a reason a later run may
// not meet (a body error, cancellation, a transient file system error).
// With opt.Resume set, it continues that upload: the whole parts in its
// file are read back and compared with the body instead of written again,
// then the rest of the file is cut off and the rest of the body appended.
func (s *Store) PutResumable(ctx context.Context, body io.Reader, description string, opt store.ResumeOptions) (store.Archive, error) {
	return s.PutResumableWith(opt,
		func() error { return s.BeginPut(ctx, description, errBadDescription) },
		func() (store.Archive, error) { return s.putResumable(ctx, body, description, opt.Started) },
		func(ref store.UploadRef) (store.Archive, error) {
			return s.resume(ctx, body, description, ref, opt.Skipped)
		})
}

// putResumable stores body as put does, but once the body turns out
// longer than one part, it hands the upload to started and keeps it after
// a failure a later run may continue.
func (s *Store) putResumable(ctx context.Context, body io.Reader, description string, started func(store.UploadRef) error) (a store.Archive, err error) {
	ps := s.opt.PartSize
	u, err := s.startUpload(uploadMeta{Description: description, Created: s.opt.Now().UTC(), Archive: newID(), PartSize: ps})
	if err != nil {
		return store.Archive{}, err
	}
	resumable := false
	defer func() {
		if err != nil {
			u.fail(ctx, err, resumable)
		}
	}()
	br := bufio.NewReaderSize(body, 16) // the smallest: it only peeks
	eof, err := u.copy(ctx, br, ps)
	if err != nil {
		return store.Archive{}, err
	}
	if !eof {
		_, perr := br.Peek(1)
		switch {
		case perr == io.EOF:
			eof = true
		case perr != nil:
			return store.Archive{}, &store.BodyError{Err: fmt.Errorf("read body after %d bytes: %w", u.size, perr)}
		}
	}
	if !eof {
		if started != nil {
			if err := started(store.UploadRef{ID: u.id, PartSize: ps}); err != nil {
				return store.Archive{}, fmt.Errorf("upload %s started: %w", u.id, err)
			}
		}
		resumable = true
		if _, err := u.copy(ctx, br, -1); err != nil {
			return store.Archive{}, err
		}
	}
	return u.complete(ctx)
}

// fail cleans up after a failed upload: a resumable one that a later run
// may continue (see store.KeepUpload) is kept, its bytes synced; any other
// is removed.
func (u *upload) fail(ctx context.Context, err error, resumable bool) {
	if resumable && store.KeepUpload(ctx, err) {
		_ = u.close(true)
		return
	}
	u.remove()
}

// resume continues upload ref: it compares the whole parts in its file
// with the body, then replaces the rest of the file with the rest of the
// body and publishes the archive.
func (s *Store) resume(ctx context.Context, body io.Reader, description string, ref store.UploadRef, skipped func(int64)) (a store.Archive, err error) {
	u, err := s.openUpload(ref, description)
	if err != nil {
		return store.Archive{}, fmt.Errorf("upload %s: %w", ref.ID, err)
	}
	defer func() {
		if err != nil {
			u.fail(ctx, err, true)
		}
	}()
	fi, err := u.f.Stat()
	if err != nil {
		return store.Archive{}, fmt.Errorf("upload %s: %w", ref.ID, err)
	}
	held := fi.Size() / u.meta.PartSize * u.meta.PartSize
	if err := u.compare(ctx, body, held, skipped); err != nil {
		return store.Archive{}, fmt.Errorf("upload %s: %w", ref.ID, err)
	}
	// Every held part is the body's: drop the torn part after them.
	if err := u.f.Truncate(held); err != nil {
		return store.Archive{}, fmt.Errorf("upload %s: %w", ref.ID, err)
	}
	if _, err := u.f.Seek(held, io.SeekStart); err != nil {
		return store.Archive{}, fmt.Errorf("upload %s: %w", ref.ID, err)
	}
	u.size = held
	if _, err := u.copy(ctx, body, -1); err != nil {
		return store.Archive{}, err
	}
	if u.size == 0 {
		return store.Archive{}, store.CannotResume("upload %s: the body is empty", ref.ID)
	}
	return u.complete(ctx)
}

// openUpload opens upload ref, made for description, to be continued. An
// unknown upload, one made by Put or with another part size or
// description, and one whose bytes are gone are store.ErrCannotResume.
func (s *Store) openUpload(ref store.UploadRef, description string) (*upload, error) {
	if !validID(ref.ID) {
		return nil, store.CannotResume("invalid upload id: %w", store.ErrNotFound)
	}
	u := &upload{s: s, id: ref.ID, th: treehash.New()}
	data, err := os.ReadFile(u.path(".json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, store.CannotResume("%w", store.ErrNotFound)
	case err != nil:
		return nil, err
	}
	m, err := parseUploadMeta(data)
	switch {
	case err != nil:
		return nil, store.CannotResume("%w", err)
	case m.PartSize <= 0:
		return nil, store.CannotResume("it was not made to be continued")
	case m.PartSize != ref.PartSize:
		return nil, store.CannotResume("it was made with parts of %d bytes, not %d", m.PartSize, ref.PartSize)
	case m.Description != description:
		return nil, store.CannotResume("it was made for the description %.60q, not %.60q", m.Description, description)
	case !validID(m.Archive):
		return nil, store.CannotResume("it names no valid archive id")
	}
	u.meta = m
	u.f, err = os.OpenFile(u.path(".part"), os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, store.CannotResume("its bytes are gone: %w", store.ErrNotFound)
	case err != nil:
		return nil, err
	}
	return u, nil
}

// compare reads the first held bytes (whole parts) of body and compares
// them with those in the upload's file, feeding them to the tree hash and
// telling skipped about each part that is the same. It changes nothing.
func (u *upload) compare(ctx context.Context, body io.Reader, held int64, skipped func(int64)) error {
	ps := u.meta.PartSize
	got, want := make([]byte, copyBufSize), make([]byte, copyBufSize)
	var off int64
	for off < held {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := off/ps*ps + ps // of the part
		nr, rerr := body.Read(got[:min(int64(len(got)), end-off)])
		if nr > 0 {
			if _, err := u.f.ReadAt(want[:nr], off); err != nil {
				return fmt.Errorf("read back part %d: %w", off/ps+1, err)
			}
			if !bytes.Equal(got[:nr], want[:nr]) {
				return store.CannotResume("part %d differs from the one the store holds, at byte %d or after", off/ps+1, off)
			}
			u.th.Write(got[:nr])
			off += int64(nr)
			if off == end && skipped != nil {
				skipped(ps)
			}
		}
		switch {
		case rerr == io.EOF && off < held:
			return store.CannotResume("the body ended at byte %d, within part %d, which the store holds", off, off/ps+1)
		case rerr != nil && rerr != io.EOF:
			return &store.BodyError{Err: fmt.Errorf("read body after %d bytes: %w", off, rerr)}
		}
	}
	return nil
}
