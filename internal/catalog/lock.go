package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// fileLock is an advisory, exclusive flock on a lock file next to the
// catalogue. flock locks belong to the open file description, so the kernel
// releases it when the process exits for any reason.
type fileLock struct {
	f *os.File
}

// lockFile takes the exclusive lock on lockPath for the catalogue at dbPath,
// creating the lock file if needed. It never waits.
func lockFile(lockPath, dbPath string) (*fileLock, error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
			return nil, fmt.Errorf("%w: cannot create lock file %s (%v); use a writable location, or a read-only command",
				ErrReadOnly, lockPath, err)
		}
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another grsync is using %s; wait for it to finish, or stop it", ErrLocked, dbPath)
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return &fileLock{f: f}, nil
}

// unlock releases the lock. The lock file stays: removing it would let two
// processes lock two different files of the same name.
func (l *fileLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("unlock catalogue: %w", err)
	}
	return nil
}
