package engine

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
)

// Restore writes only where it should. Below --output, every folder on the
// way to a file is walked one name at a time from the output folder with
// openat and O_NOFOLLOW, and every file operation is made relative to the
// folder's descriptor: a symlink restore did not create (OUT/home pointing
// to /elsewhere) is never written through. It is an error for the files
// below it, or, with --overwrite, replaced by a folder. The output folder
// itself may be a symlink: the user named it. With --in-place the folders
// are the original ones, reached as the system resolves them.

// destRoot is where a restore writes.
type destRoot struct {
	// out is the --output folder (absolute, cleaned); "" restores in place.
	out string
	// overwrite replaces existing files and symlinks, and a symlink in
	// the way by a folder.
	overwrite bool
	// owner applies the recorded owner and group (restore as root, unless
	// --no-owner).
	owner bool
}

// destDir is an open folder a restore writes into.
type destDir struct {
	fd   int    // an O_PATH descriptor of the folder
	path string // its path, for messages
}

// errSymlinkInTheWay: a folder on the way to a restored file is a symlink.
var errSymlinkInTheWay = errors.New("is a symlink; restore does not write through a symlink it did not create (remove it, or add --overwrite to replace it with a folder)")

// openDir opens folder dir, creating the missing folders when create is
// set. Below the output folder no symlink is followed (see above).
func (r destRoot) openDir(dir string, create bool) (*destDir, error) {
	if r.out == "" || !underAny(dir, []string{r.out}) {
		if r.out != "" {
			return nil, fmt.Errorf("%s is not below the output folder %s", dir, r.out)
		}
		if create {
			if err := mkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
		fd, err := openDirChain(dir)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
		}
		return &destDir{fd: fd, path: dir}, nil
	}
	if create {
		if err := mkdirAll(r.out, 0o755); err != nil {
			return nil, err
		}
	}
	fd, err := openDirChain(r.out)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: r.out, Err: err}
	}
	d := &destDir{fd: fd, path: r.out}
	rel := strings.TrimPrefix(strings.TrimPrefix(dir, r.out), "/")
	for _, name := range strings.Split(rel, "/") {
		if name == "" {
			continue
		}
		if err := d.down(name, create, r.overwrite); err != nil {
			d.close()
			return nil, err
		}
	}
	return d, nil
}

// down replaces d by its subfolder name, never following a symlink.
func (d *destDir) down(name string, create, overwrite bool) error {
	p := filepath.Join(d.path, name)
	for attempt := 0; ; attempt++ {
		fd, err := openat(d.fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err == nil {
			unix.Close(d.fd)
			d.fd, d.path = fd, p
			return nil
		}
		if attempt > 0 {
			return &fs.PathError{Op: "open", Path: p, Err: err}
		}
		switch {
		case err == unix.ENOENT && create:
		case err == unix.ENOTDIR:
			var st unix.Stat_t
			if serr := ignoringEINTR(func() error { return unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); serr != nil {
				return &fs.PathError{Op: "lstat", Path: p, Err: serr}
			}
			if st.Mode&unix.S_IFMT != unix.S_IFLNK {
				return fmt.Errorf("%s is not a folder", p)
			}
			if !overwrite {
				return fmt.Errorf("%s %w", p, errSymlinkInTheWay)
			}
			if err := ignoringEINTR(func() error { return unix.Unlinkat(d.fd, name, 0) }); err != nil {
				return &fs.PathError{Op: "remove symlink", Path: p, Err: err}
			}
		default:
			return &fs.PathError{Op: "open", Path: p, Err: err}
		}
		err = ignoringEINTR(func() error { return unix.Mkdirat(d.fd, name, 0o755) })
		if err != nil && err != unix.EEXIST {
			return &fs.PathError{Op: "mkdir", Path: p, Err: err}
		}
	}
}

func (d *destDir) close() {
	if d != nil && d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// name returns the path of name in d, for messages.
func (d *destDir) name(name string) string { return filepath.Join(d.path, name) }

// open opens name in d without following a symlink.
func (d *destDir) open(name string, flags int, perm fs.FileMode) (*os.File, error) {
	fd, err := openat(d.fd, name, flags|unix.O_NOFOLLOW, uint32(perm.Perm()))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.name(name), Err: err}
	}
	return os.NewFile(uintptr(fd), d.name(name)), nil
}

// createTemp creates a new file prefix+digits in d, mode 0600, and returns
// it with its name.
func (d *destDir) createTemp(prefix string) (*os.File, string, error) {
	for range 10000 {
		name := prefix + randomDigits()
		f, err := d.open(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, name, nil
	}
	return nil, "", &fs.PathError{Op: "createtemp", Path: d.name(prefix + "*"), Err: unix.EEXIST}
}

// randomDigits is the random part of a temporary name, as os.CreateTemp
// makes it.
func randomDigits() string {
	var b [4]byte
	rand.Read(b[:])
	return strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[:])), 10)
}

// remove removes the file name from d.
func (d *destDir) remove(name string) error {
	if err := ignoringEINTR(func() error { return unix.Unlinkat(d.fd, name, 0) }); err != nil {
		return &fs.PathError{Op: "remove", Path: d.name(name), Err: err}
	}
	return nil
}

// exists reports whether name exists in d (a symlink counts).
func (d *destDir) exists(name string) bool {
	var st unix.Stat_t
	return ignoringEINTR(func() error { return unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }) == nil
}

// setMeta gives the file name in d its mode (setuid, setgid and sticky
// too) and its modification time.
func (d *destDir) setMeta(name string, mode fs.FileMode, mtime time.Time) error {
	if err := ignoringEINTR(func() error { return unix.Fchmodat(d.fd, name, format.UnixMode(mode), 0) }); err != nil {
		return fmt.Errorf("setting mode: %w", &fs.PathError{Op: "chmod", Path: d.name(name), Err: err})
	}
	return d.setTimes(name, mtime)
}

// chown gives name in d (never following a symlink) the owner and group
// v records, when apply is set and v knows them.
func (d *destDir) chown(name string, v catalog.Version, apply bool) error {
	if !apply || !v.OwnerKnown {
		return nil
	}
	if err := ignoringEINTR(func() error {
		return unix.Fchownat(d.fd, name, int(v.UID), int(v.GID), unix.AT_SYMLINK_NOFOLLOW)
	}); err != nil {
		return fmt.Errorf("setting owner: %w", &fs.PathError{Op: "chown", Path: d.name(name), Err: err})
	}
	return nil
}

// symlink creates the symlink name in d with this target text; it never
// replaces name.
func (d *destDir) symlink(target, name string) error {
	if err := ignoringEINTR(func() error { return unix.Symlinkat(target, d.fd, name) }); err != nil {
		return &os.LinkError{Op: "symlink", Old: target, New: d.name(name), Err: err}
	}
	return nil
}

// setTimes gives name in d (a symlink itself, not what it points to) its
// modification time (and access time).
func (d *destDir) setTimes(name string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := ignoringEINTR(func() error {
		return unix.UtimesNanoAt(d.fd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}); err != nil {
		return fmt.Errorf("setting mtime: %w", &fs.PathError{Op: "chtimes", Path: d.name(name), Err: err})
	}
	return nil
}

// isDir reports whether name in d is a folder (not a symlink to one).
func (d *destDir) isDir(name string) bool {
	var st unix.Stat_t
	err := ignoringEINTR(func() error { return unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// setDirMeta gives the folder name in d the owner, mode and mtime v
// records. The folder is opened without following a symlink and changed
// through that descriptor; one that cannot be read (mode 0300 left by an
// earlier restore) is changed by name, after checking it is a folder.
func (d *destDir) setDirMeta(name string, v catalog.Version, owner bool) error {
	p := d.name(name)
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	switch {
	case err == nil:
		defer unix.Close(fd)
		if owner && v.OwnerKnown {
			if err := ignoringEINTR(func() error { return unix.Fchown(fd, int(v.UID), int(v.GID)) }); err != nil {
				return fmt.Errorf("setting owner: %w", &fs.PathError{Op: "chown", Path: p, Err: err})
			}
		}
		if v.Mode != 0 {
			if err := ignoringEINTR(func() error { return unix.Fchmod(fd, v.Mode&0o7777) }); err != nil {
				return fmt.Errorf("setting mode: %w", &fs.PathError{Op: "chmod", Path: p, Err: err})
			}
		}
	case err == unix.EACCES:
		var st unix.Stat_t
		if err := ignoringEINTR(func() error { return unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("%s is not a folder", p)
		}
		if err := d.chown(name, v, owner); err != nil {
			return err
		}
		if v.Mode != 0 {
			if err := ignoringEINTR(func() error { return unix.Fchmodat(d.fd, name, v.Mode&0o7777, 0) }); err != nil {
				return fmt.Errorf("setting mode: %w", &fs.PathError{Op: "chmod", Path: p, Err: err})
			}
		}
	case err == unix.ELOOP || err == unix.ENOTDIR:
		return fmt.Errorf("%s is not a folder (a symlink or a file is in its place)", p)
	default:
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return d.setTimes(name, versionMTime(v))
}

// linkTo links oldname in d to newname in folder to; it never replaces
// newname.
func (d *destDir) linkTo(oldname string, to *destDir, newname string) error {
	if err := ignoringEINTR(func() error { return unix.Linkat(d.fd, oldname, to.fd, newname, 0) }); err != nil {
		return &os.LinkError{Op: "link", Old: d.name(oldname), New: to.name(newname), Err: err}
	}
	return nil
}

// link links oldname to newname in d; it never replaces newname.
func (d *destDir) link(oldname, newname string) error {
	if err := ignoringEINTR(func() error { return unix.Linkat(d.fd, oldname, d.fd, newname, 0) }); err != nil {
		return &os.LinkError{Op: "link", Old: d.name(oldname), New: d.name(newname), Err: err}
	}
	return nil
}

// renameNoReplace renames oldname to newname in d, atomically, failing
// with fs.ErrExist if newname exists; EINVAL where the file system
// cannot (renameat2 RENAME_NOREPLACE: ext4, xfs, btrfs, tmpfs have it).
func (d *destDir) renameNoReplace(oldname, newname string) error {
	if err := ignoringEINTR(func() error {
		return unix.Renameat2(d.fd, oldname, d.fd, newname, unix.RENAME_NOREPLACE)
	}); err != nil {
		return &os.LinkError{Op: "rename", Old: d.name(oldname), New: d.name(newname), Err: err}
	}
	return nil
}

// rename renames oldname to newname in d, replacing newname.
func (d *destDir) rename(oldname, newname string) error {
	if err := ignoringEINTR(func() error { return unix.Renameat(d.fd, oldname, d.fd, newname) }); err != nil {
		return &os.LinkError{Op: "rename", Old: d.name(oldname), New: d.name(newname), Err: err}
	}
	return nil
}

// names lists the names in d.
func (d *destDir) names() ([]string, error) {
	f, err := d.open(".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
