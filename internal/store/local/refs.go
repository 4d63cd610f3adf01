package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grsync/grsync/internal/store"
)

// refsDir holds one file per ref: refs/<name>, its content the value.
const refsDir = "refs"

func (s *Store) refDir() string             { return filepath.Join(s.dir, refsDir) }
func (s *Store) refPath(name string) string { return filepath.Join(s.dir, refsDir, name) }

// Refs reads every file in refs/ whose name is a valid ref name. Files
// with other names (a temporary file left by a crash) are not refs.
func (s *Store) Refs(ctx context.Context) (map[string]string, error) {
	const op = "refs"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	refs, err := s.readRefs()
	if err != nil {
		return nil, s.Fail(op, err)
	}
	return refs, nil
}

func (s *Store) readRefs() (map[string]string, error) {
	entries, err := os.ReadDir(s.refDir())
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil // a store made before refs existed
	}
	if err != nil {
		return nil, err
	}
	refs := make(map[string]string)
	for _, e := range entries {
		name := e.Name()
		if !store.ValidRefName(name) || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(s.refPath(name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted while we were listing
		}
		if err != nil {
			return nil, err
		}
		v := string(data)
		if !store.ValidRefValue(v) {
			return nil, store.Permanent(fmt.Errorf("ref %s: the file %s does not hold a valid ref value", name, s.refPath(name)))
		}
		refs[name] = v
	}
	return refs, nil
}

// SetRef writes refs/<name> through a temporary file that is fsynced and
// renamed into place, then fsyncs refs/: a reader sees the old value or the
// new one, and a crash leaves one of them.
func (s *Store) SetRef(ctx context.Context, name, value string) error {
	const op = "set ref"
	if err := s.BeginRef(ctx, name, &value); err != nil {
		return s.Fail(op, err)
	}
	if err := s.makeRefDir(); err != nil {
		return s.Fail(op, err)
	}
	refs, err := s.readRefs()
	if err != nil {
		return s.Fail(op, err)
	}
	_, has := refs[name]
	if err := store.RoomForRef(len(refs), has, name); err != nil {
		return s.Fail(op, err)
	}
	// The temporary name is not a valid ref name, so Refs never reads it.
	tmp := filepath.Join(s.refDir(), "."+name+"."+newID()+".tmp")
	if err := writeFileSync(tmp, []byte(value), os.O_CREATE|os.O_EXCL); err != nil {
		_ = os.Remove(tmp)
		return s.Fail(op, err)
	}
	if err := os.Rename(tmp, s.refPath(name)); err != nil {
		_ = os.Remove(tmp)
		return s.Fail(op, err)
	}
	if err := syncDir(s.refDir()); err != nil {
		return s.Fail(op, err)
	}
	return nil
}

// makeRefDir creates refs/ (durably) if it does not exist yet: stores made
// before refs existed, or by the first SetRef, gain it.
func (s *Store) makeRefDir() error {
	err := os.Mkdir(s.refDir(), 0o700)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(s.dir)
}

// DeleteRef removes refs/<name> and fsyncs refs/.
func (s *Store) DeleteRef(ctx context.Context, name string) error {
	const op = "delete ref"
	if err := s.BeginRef(ctx, name, nil); err != nil {
		return s.Fail(op, err)
	}
	if err := removeFiles(s.refDir(), "ref "+name, s.refPath(name)); err != nil {
		return s.Fail(op, err)
	}
	return nil
}
