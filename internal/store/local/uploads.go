package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grsync/grsync/internal/store"
)

// ListUploads lists the uploads in DIR/uploads: Puts in progress and those
// left behind by a crash or kept for a later run. PartSize is that of
// resumable uploads, 0 for those of Put, which have no parts.
func (s *Store) ListUploads(ctx context.Context) ([]store.Upload, error) {
	const op = "list uploads"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	entries, err := os.ReadDir(s.uploadDir())
	if err != nil {
		return nil, s.Fail(op, err)
	}
	byID := make(map[string]*store.Upload)
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		id := strings.TrimSuffix(e.Name(), ext)
		if (ext != ".part" && ext != ".json") || !validID(id) {
			continue
		}
		u := byID[id]
		if u == nil {
			u = &store.Upload{ID: id}
			byID[id] = u
		}
		if ext == ".json" {
			if data, err := os.ReadFile(filepath.Join(s.uploadDir(), e.Name())); err == nil {
				if m, err := parseUploadMeta(data); err == nil && store.ValidDescription(m.Description) {
					u.Description, u.Created, u.PartSize = m.Description, m.Created, m.PartSize
				}
			}
		}
		if u.Created.IsZero() {
			if info, err := e.Info(); err == nil {
				u.Created = info.ModTime().UTC()
			}
		}
	}
	out := make([]store.Upload, 0, len(byID))
	for _, u := range byID {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// AbortUpload removes an upload's files. A Put still writing to it fails.
func (s *Store) AbortUpload(ctx context.Context, id string) error {
	const op = "abort upload"
	if err := s.Begin(ctx); err != nil {
		return s.Fail(op, err)
	}
	if !validID(id) {
		return s.Fail(op, fmt.Errorf("upload %q: invalid upload id: %w", id, store.ErrNotFound))
	}
	// An upload that died half-published (its bytes renamed into archives/,
	// its metadata not) leaves archive bytes that nothing lists: remove them.
	if data, err := os.ReadFile(s.uploadPath(id, ".json")); err == nil {
		if m, err := parseUploadMeta(data); err == nil && m.Archive != "" && validID(m.Archive) {
			if _, err := os.Lstat(s.metaPath(m.Archive)); errors.Is(err, os.ErrNotExist) {
				_ = os.Remove(s.archivePath(m.Archive))
			}
		}
	}
	var paths []string
	for _, ext := range []string{".part", ".json", ".meta", ".json.tmp", ".meta.tmp"} {
		paths = append(paths, s.uploadPath(id, ext))
	}
	if err := removeFiles(s.uploadDir(), "upload "+id, paths...); err != nil {
		return s.Fail(op, err)
	}
	return nil
}
