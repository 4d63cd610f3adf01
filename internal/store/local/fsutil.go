package local

import (
	"errors"
	"fmt"
	"os"

	"github.com/grsync/grsync/internal/store"
)

// writeFileSync writes data to path opened with flag|O_WRONLY and fsyncs it.
func writeFileSync(path string, data []byte, flag int) error {
	f, err := os.OpenFile(path, flag|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// writeFileAtomic writes data to path through a temporary file in the same
// folder, fsynced and renamed into place: a reader sees the old content or
// the new, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, data, os.O_CREATE|os.O_TRUNC); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// removeFiles removes paths (all in dir), then syncs dir. If none of them
// existed, what is ErrNotFound.
func removeFiles(dir, what string, paths ...string) error {
	found := false
	for _, p := range paths {
		err := os.Remove(p)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	if !found {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return syncDir(dir)
}
