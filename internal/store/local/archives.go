package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/grsync/grsync/internal/store"
)

// loadMeta reads archive id's metadata; an invalid or unknown id yields an
// error wrapping store.ErrNotFound.
func (s *Store) loadMeta(id string) (archiveMeta, error) {
	if !validID(id) {
		return archiveMeta{}, fmt.Errorf("archive %q: invalid archive id: %w", id, store.ErrNotFound)
	}
	data, err := os.ReadFile(s.metaPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return archiveMeta{}, fmt.Errorf("archive %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return archiveMeta{}, err
	}
	m, err := parseArchiveMeta(data)
	if err != nil {
		return archiveMeta{}, store.Permanent(fmt.Errorf("archive %s: %w", id, err))
	}
	return m, nil
}

// Delete removes archive id: its metadata first, then its bytes. It also
// removes bytes left without metadata by a crash.
func (s *Store) Delete(ctx context.Context, id string) error {
	const op = "delete"
	if err := s.Begin(ctx); err != nil {
		return s.Fail(op, err)
	}
	if !validID(id) {
		return s.Fail(op, fmt.Errorf("archive %q: invalid archive id: %w", id, store.ErrNotFound))
	}
	s.metas.forget(id)
	if err := removeFiles(s.archiveDir(), "archive "+id, s.metaPath(id), s.archivePath(id)); err != nil {
		return s.Fail(op, err)
	}
	return nil
}

// walkArchives calls fn with every listed archive, in id order. The size
// listed is that of the data file itself, not the one its metadata
// records, and an archive whose data file is gone is not listed: a listing
// shows what the store can give back (a truncated or deleted file under a
// surviving .json is then reported by verify).
func (s *Store) walkArchives(ctx context.Context, fn func(store.Archive) error) error {
	entries, err := os.ReadDir(s.archiveDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validID(id) || !e.Type().IsRegular() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := s.loadMeta(id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted while we were listing
		}
		if err != nil {
			return err
		}
		fi, err := os.Stat(s.archivePath(id))
		if errors.Is(err, os.ErrNotExist) {
			continue // its bytes are gone: the archive cannot be given back
		}
		if err != nil {
			return err
		}
		if err := fn(store.Archive{ID: id, Description: m.Description, Size: fi.Size(), Created: m.Created, TreeHash: m.TreeHash}); err != nil {
			return err
		}
	}
	return nil
}
