package engine

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/grsync/grsync/internal/format"
)

// Linux refuses a path of PATH_MAX (4096) bytes or more in any one system
// call (ENAMETOOLONG), yet folders can be nested deeper than that and their
// files must be backed up and restored like any other. The helpers below
// hand a short path to the os package unchanged; for a long one they open
// its folder through a chain of directory descriptors, each step shorter
// than PATH_MAX, and act on the last name relative to that folder (the *at
// system calls). Intermediate symlinks are followed exactly as a single
// call on the whole path would follow them.

// pathMax is the kernel's limit on one path argument, the NUL included.
const pathMax = unix.PathMax

func isLong(p string) bool { return len(p) >= pathMax }

// splitLast splits p into its folder and last name: "/a/b" → "/a", "b".
func splitLast(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	switch {
	case i < 0:
		return ".", p
	case i == 0:
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

func openat(dirfd int, name string, flags int, perm uint32) (int, error) {
	var fd int
	err := ignoringEINTR(func() error {
		var err error
		fd, err = unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, perm)
		return err
	})
	return fd, err
}

// openDirChain opens folder dir as an O_PATH descriptor, walking it in
// steps shorter than pathMax. The caller closes the descriptor.
func openDirChain(dir string) (int, error) {
	fd := unix.AT_FDCWD
	rest := dir
	for rest != "" {
		step := rest
		if len(step) >= pathMax {
			i := strings.LastIndexByte(rest[:pathMax-1], '/')
			if i <= 0 {
				if fd != unix.AT_FDCWD {
					unix.Close(fd)
				}
				return -1, unix.ENAMETOOLONG // one name longer than the limit
			}
			step = rest[:i]
		}
		rest = strings.TrimLeft(rest[len(step):], "/")
		next, err := openat(fd, step, unix.O_PATH|unix.O_DIRECTORY, 0)
		if fd != unix.AT_FDCWD {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// inParent runs fn with a descriptor of p's folder and p's last name.
func inParent(p string, fn func(dirfd int, name string) error) error {
	dir, name := splitLast(p)
	fd, err := openDirChain(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd, name)
}

// openFile is os.OpenFile for paths of any length.
func openFile(p string, flag int, perm fs.FileMode) (*os.File, error) {
	if !isLong(p) {
		return os.OpenFile(p, flag, perm)
	}
	var f *os.File
	err := inParent(p, func(dirfd int, name string) error {
		fd, err := openat(dirfd, name, flag, uint32(perm.Perm()))
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(fd), p)
		return nil
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return f, nil
}

// lstat is os.Lstat for paths of any length.
func lstat(p string) (fs.FileInfo, error) {
	if !isLong(p) {
		return os.Lstat(p)
	}
	var st unix.Stat_t
	_, base := splitLast(p)
	err := inParent(p, func(dirfd int, name string) error {
		return ignoringEINTR(func() error { return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	})
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return statInfo{name: base, st: st}, nil
}

// mkdirAll is os.MkdirAll for paths of any length.
func mkdirAll(p string, perm fs.FileMode) error {
	if !isLong(p) {
		return os.MkdirAll(p, perm)
	}
	i := strings.LastIndexByte(p[:pathMax-1], '/')
	if i <= 0 {
		return &fs.PathError{Op: "mkdir", Path: p, Err: unix.ENAMETOOLONG}
	}
	head := p[:i]
	if err := os.MkdirAll(head, perm); err != nil {
		return err
	}
	fd, err := openDirChain(head)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: p, Err: err}
	}
	for _, name := range strings.Split(p[i+1:], "/") {
		if name == "" {
			continue
		}
		err := ignoringEINTR(func() error { return unix.Mkdirat(fd, name, uint32(perm.Perm())) })
		if err != nil && err != unix.EEXIST {
			unix.Close(fd)
			return &fs.PathError{Op: "mkdir", Path: p, Err: err}
		}
		next, err := openat(fd, name, unix.O_PATH|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: p, Err: err}
		}
		fd = next
	}
	unix.Close(fd)
	return nil
}

// createTemp is os.CreateTemp(dir, prefix+"*") for folders of any length.
func createTemp(dir, prefix string) (*os.File, error) {
	if !isLong(dir + "/" + prefix + "4294967295") {
		return os.CreateTemp(dir, prefix+"*")
	}
	fail := func(err error) (*os.File, error) {
		return nil, &fs.PathError{Op: "createtemp", Path: dir + "/" + prefix + "*", Err: err}
	}
	dirfd, err := openDirChain(dir)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(dirfd)
	for range 10000 {
		var b [4]byte
		rand.Read(b[:])
		name := prefix + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[:])), 10)
		fd, err := openat(dirfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return fail(err)
		}
		return os.NewFile(uintptr(fd), dir+"/"+name), nil
	}
	return fail(unix.EEXIST)
}

// remove removes the file (not folder) p, of any length.
func remove(p string) error {
	if !isLong(p) {
		return os.Remove(p)
	}
	err := inParent(p, func(dirfd int, name string) error {
		return ignoringEINTR(func() error { return unix.Unlinkat(dirfd, name, 0) })
	})
	if err != nil {
		return &fs.PathError{Op: "remove", Path: p, Err: err}
	}
	return nil
}

// chmod is os.Chmod for paths of any length.
func chmod(p string, mode fs.FileMode) error {
	if !isLong(p) {
		return os.Chmod(p, mode)
	}
	err := inParent(p, func(dirfd int, name string) error {
		return ignoringEINTR(func() error { return unix.Fchmodat(dirfd, name, format.UnixMode(mode), 0) })
	})
	if err != nil {
		return &fs.PathError{Op: "chmod", Path: p, Err: err}
	}
	return nil
}

// chtimes sets the access and modification times of p, of any length.
func chtimes(p string, t time.Time) error {
	if !isLong(p) {
		return os.Chtimes(p, t, t)
	}
	ts := unix.NsecToTimespec(t.UnixNano())
	err := inParent(p, func(dirfd int, name string) error {
		return ignoringEINTR(func() error { return unix.UtimesNanoAt(dirfd, name, []unix.Timespec{ts, ts}, 0) })
	})
	if err != nil {
		return &fs.PathError{Op: "chtimes", Path: p, Err: err}
	}
	return nil
}

// twoPaths runs fn with descriptors of the folders of oldp and newp and
// their last names.
func twoPaths(oldp, newp string, fn func(olddir int, oldname string, newdir int, newname string) error) error {
	return inParent(oldp, func(od int, on string) error {
		return inParent(newp, func(nd int, nn string) error {
			return fn(od, on, nd, nn)
		})
	})
}

// link is os.Link for paths of any length: it never replaces newp.
func link(oldp, newp string) error {
	if !isLong(oldp) && !isLong(newp) {
		return os.Link(oldp, newp)
	}
	err := twoPaths(oldp, newp, func(od int, on string, nd int, nn string) error {
		return ignoringEINTR(func() error { return unix.Linkat(od, on, nd, nn, 0) })
	})
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldp, New: newp, Err: err}
	}
	return nil
}

// rename is os.Rename for paths of any length.
func rename(oldp, newp string) error {
	if !isLong(oldp) && !isLong(newp) {
		return os.Rename(oldp, newp)
	}
	err := twoPaths(oldp, newp, func(od int, on string, nd int, nn string) error {
		return ignoringEINTR(func() error { return unix.Renameat(od, on, nd, nn) })
	})
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldp, New: newp, Err: err}
	}
	return nil
}

// readDirNames lists the names in folder dir, of any length.
func readDirNames(dir string) ([]string, error) {
	f, err := openFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return names, fmt.Errorf("listing %s: %w", dir, err)
	}
	return names, nil
}
