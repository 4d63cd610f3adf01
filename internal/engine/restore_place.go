package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
)

// fetchAll restores the ready files, several at a time. Files that share
// their content (copies, hard links) are decoded once and copied.
func fetchAll(ctx context.Context, cfg *Config, rd *pieceReader, files []*restoreFile, root destRoot, dirs *dirCache, sw *tempSweeper, res *RestoreResult, mu *sync.Mutex) {
	sem := make(chan struct{}, cfg.jobs())
	var wg sync.WaitGroup
	groups := contentGroups(files)
	// In the order of their first piece in its object, so that the jobs
	// read neighbouring members, from the same windows (restore_window.go).
	sort.SliceStable(groups, func(i, j int) bool {
		a, b := groups[i][0].pieces, groups[j][0].pieces
		switch {
		case len(a) == 0 || len(b) == 0:
			return len(a) == 0 && len(b) != 0
		case a[0].Object.ArchiveID != b[0].Object.ArchiveID:
			return a[0].Object.ArchiveID < b[0].Object.ArchiveID
		}
		return a[0].Offset < b[0].Offset
	})
	// A local store reads a member with one pread: windows would only add
	// a copy (and measured more system time); they are for stores where
	// each read is a request. (The same test as the prices': costs.go.)
	if !strings.HasPrefix(cfg.Target.Location, "local:") {
		rd.win = planWindows(groups)
	}
	for _, g := range groups {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fetchGroup(ctx, cfg, rd, g, root, dirs, sw, res, mu)
		}()
	}
	wg.Wait()
}

// contentGroups groups files by contentGroup, in the order their first
// file comes.
func contentGroups(files []*restoreFile) [][]*restoreFile {
	at := map[string]int{}
	var groups [][]*restoreFile
	for _, f := range files {
		k := contentGroup(f)
		i, ok := at[k]
		if !ok {
			i = len(groups)
			at[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], f)
	}
	return groups
}

// contentGroup names what a file's content is made of, so that files with
// the same pieces are decoded once.
func contentGroup(f *restoreFile) string {
	var b strings.Builder
	for _, p := range f.pieces {
		fmt.Fprintf(&b, "%d,", p.ID)
	}
	if len(f.pieces) == 0 {
		if k := linkKey(*f.v); k != "" {
			b.WriteString("empty, linked:" + k) // hard links to one empty file
		} else {
			b.WriteString("empty:" + f.dest)
		}
	}
	return b.String()
}

// dirError is a destination folder that cannot be had: it fails only the
// files in it.
type dirError struct{ err error }

func (e *dirError) Error() string { return e.err.Error() }
func (e *dirError) Unwrap() error { return e.err }

// fetchGroup restores files with the same content: decoded once beside the
// first destination whose folder can be had, copied to the others.
func fetchGroup(ctx context.Context, cfg *Config, rd *pieceReader, files []*restoreFile, root destRoot, cache *dirCache, sw *tempSweeper, res *RestoreResult, mu *sync.Mutex) {
	obs := cfg.observer()
	fail := func(i int, err error) {
		mu.Lock()
		res.Failures = append(res.Failures, Failure{Path: files[i].dest, Err: err})
		mu.Unlock()
		obs.Done(files[i].dest, "failed", err)
	}
	for _, f := range files {
		obs.Start(f.dest, f.v.Size)
	}
	// Each destination folder is opened (and created) when needed, and
	// kept open for the files after these (see dirCache).
	dirs := map[string]*destDir{}
	dirErrs := map[string]error{}
	defer func() {
		for _, d := range dirs {
			cache.put(d)
		}
	}()
	dirFor := func(dest string) (*destDir, error) {
		p := filepath.Dir(dest)
		if d, ok := dirs[p]; ok {
			return d, nil
		}
		if err, ok := dirErrs[p]; ok {
			return nil, err
		}
		d, err := cache.get(p)
		if err != nil {
			err = &dirError{err}
			dirErrs[p] = err
			return nil, err
		}
		dirs[p] = d
		return d, nil
	}
	first, tmp := -1, ""
	var tmpDir *destDir
	for i := range files {
		d, name, err := restoreContent(ctx, cfg, rd, files[i], func() (*destDir, error) { return dirFor(files[i].dest) }, sw)
		if err == nil {
			first, tmpDir, tmp = i, d, name
			break
		}
		var de *dirError
		if errors.As(err, &de) {
			fail(i, err)
			continue
		}
		for j := i; j < len(files); j++ { // the content itself failed
			fail(j, err)
		}
		return
	}
	if first < 0 {
		return
	}
	tmpGone := false // renamed into place
	defer func() {
		if !tmpGone {
			tmpDir.remove(tmp)
		}
	}()
	// Files that were hard links to one another (the same inode when they
	// were backed up, and the same content and metadata) are linked to
	// the first of them placed: one inode again, not copies.
	follower := make([]bool, len(files))
	seen := map[string]bool{}
	for i := first; i < len(files); i++ {
		if k := linkKey(*files[i].v); k != "" {
			follower[i], seen[k] = seen[k], true
		}
	}
	last := first // the last destination that can be written takes tmp itself
	for i := first + 1; i < len(files); i++ {
		if _, err := dirFor(files[i].dest); err == nil && !follower[i] {
			last = i
		}
	}
	leaders := map[string]placedFile{}
	for i := first; i < len(files); i++ {
		f := files[i]
		d, err := dirFor(f.dest)
		linked := false
		if err == nil {
			k := linkKey(*f.v)
			if l, ok := leaders[k]; ok {
				if err = linkPlaced(l, d, f.dest, root.overwrite, sw); errors.Is(err, errNoHardLinks) {
					_, err = place(l.dir, l.name, d, f.dest, *f.v, true, root, sw) // a copy of it
				} else {
					linked = err == nil
				}
			} else {
				keep := i != last || d != tmpDir
				var gone bool
				gone, err = place(tmpDir, tmp, d, f.dest, *f.v, keep, root, sw)
				tmpGone = tmpGone || gone
				if err == nil && k != "" {
					leaders[k] = placedFile{dir: d, name: filepath.Base(f.dest)}
				}
			}
		}
		if err != nil {
			fail(i, err)
			continue
		}
		mu.Lock()
		res.Restored++
		res.Bytes += f.v.Size
		if linked {
			res.Linked++
		}
		mu.Unlock()
		obs.Done(f.dest, "restored", nil)
	}
}

// place gives the verified temporary file tmp (in folder tmpDir) its mode
// and mtime and puts it at dest, in folder d. keep says tmp is needed
// again (a copy is placed). Without overwrite, an existing dest is never
// replaced: the file is linked into place, which fails if the name exists.
func place(tmpDir *destDir, tmp string, d *destDir, dest string, v catalog.Version, keep bool, root destRoot, sw *tempSweeper) (tmpGone bool, err error) {
	name := filepath.Base(dest)
	src := tmp
	if keep {
		c, err := copyBeside(tmpDir, tmp, d, dest, sw)
		if err != nil {
			return false, err
		}
		src = c
		defer func() {
			if !tmpGone {
				d.remove(c)
			}
			tmpGone = false // c was gone, not tmp
		}()
	}
	mode := format.ModeFromUnix(v.Mode) // setuid, setgid and sticky too
	if v.Mode == 0 {
		mode = 0o644 // legacy records carry no mode
	}
	// The owner first: chown clears the setuid and setgid bits.
	if err := d.chown(src, v, root.owner); err != nil {
		return false, err
	}
	if err := d.setMeta(src, mode, versionMTime(v)); err != nil {
		return false, err
	}
	return putInPlace(d, src, name, dest, root.overwrite)
}

// putInPlace gives the temporary file or symlink src in d the name name
// (dest, for messages), and reports whether src is gone (renamed, not
// linked). Without overwrite, an existing name is never replaced: src is
// renamed with RENAME_NOREPLACE, or, where the file system lacks it,
// linked into place; both fail if the name exists. The rename is one
// change to the folder where link and unlink are two: restoring many
// small files is bound by those (each takes the folder's lock).
func putInPlace(d *destDir, src, name, dest string, overwrite bool) (gone bool, err error) {
	exists := func() error { return fmt.Errorf("%s exists, not overwritten (use --overwrite to replace it)", dest) }
	if overwrite {
		if err := d.rename(src, name); err != nil {
			return false, fmt.Errorf("moving into place: %w", err)
		}
		return true, nil
	}
	err = d.renameNoReplace(src, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, exists()
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP):
		return false, fmt.Errorf("moving into place: %w", err)
	}
	// Linking never replaces an existing name, atomically.
	err = d.link(src, name)
	if errors.Is(err, fs.ErrExist) {
		return false, exists()
	}
	if err != nil {
		// A file system without hard links (FAT, some network mounts):
		// check, then rename.
		if d.exists(name) {
			return false, exists()
		}
		if err := d.rename(src, name); err != nil {
			return false, fmt.Errorf("moving into place: %w", err)
		}
		return true, nil
	}
	return false, nil
}

// versionMTime is the modification time a version records.
func versionMTime(v catalog.Version) time.Time {
	if v.MTimeNS == 0 {
		return floatTime(v.MTime) // rows of the Python tools
	}
	return time.Unix(0, v.MTimeNS)
}

// placedFile is a restored file, by folder and name.
type placedFile struct {
	dir  *destDir
	name string
}

// errNoHardLinks: the file system cannot link the files (another file
// system, or none of them can have hard links).
var errNoHardLinks = errors.New("cannot be a hard link here")

// linkPlaced makes dest (in folder d) a hard link to the placed file l.
// Without overwrite an existing dest is kept (an error); with it, dest is
// replaced atomically (linked beside it, then renamed).
func linkPlaced(l placedFile, d *destDir, dest string, overwrite bool, sw *tempSweeper) error {
	name := filepath.Base(dest)
	target := name
	if overwrite {
		sw.sweep(d, dest)
		target = tempPrefix(dest) + randomDigits()
	}
	if err := l.dir.linkTo(l.name, d, target); err != nil {
		switch {
		case errors.Is(err, fs.ErrExist) && !overwrite:
			return fmt.Errorf("%s exists, not overwritten (use --overwrite to replace it)", dest)
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EPERM), errors.Is(err, unix.EMLINK), errors.Is(err, unix.ENOTSUP):
			return fmt.Errorf("%s %w: %w", dest, errNoHardLinks, err)
		}
		return err
	}
	if overwrite {
		err := d.rename(target, name)
		d.remove(target) // still there when name was this inode already
		if err != nil {
			return fmt.Errorf("moving into place: %w", err)
		}
	}
	return nil
}

// linkKey says which restored files are to be one inode: those backed up
// as hard links to one another (Hardlink) that still agree on content and
// metadata. "" for a file that was not a hard link.
func linkKey(v catalog.Version) string {
	if v.Hardlink == "" {
		return ""
	}
	return fmt.Sprintf("%s|%s|%d|%o|%d|%d:%d:%v", v.Hardlink, v.ContentHash, v.Size, v.Mode, v.MTimeNS, v.UID, v.GID, v.OwnerKnown)
}

// copyBeside copies the temporary file src (in folder srcDir) to a new
// temporary file beside dest, in folder d, and returns its name.
func copyBeside(srcDir *destDir, src string, d *destDir, dest string, sw *tempSweeper) (string, error) {
	in, err := srcDir.open(src, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer in.Close()
	sw.sweep(d, dest)
	out, name, err := d.createTemp(tempPrefix(dest))
	if err != nil {
		return "", fmt.Errorf("creating temporary file: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		d.remove(name)
		return "", fmt.Errorf("copying: %w", err)
	}
	if err := out.Close(); err != nil {
		d.remove(name)
		return "", err
	}
	return name, nil
}

// floatTime converts a legacy float mtime (Python's os.path.getmtime) to a
// time, rounded to the microsecond: a float64 of today's Unix time cannot
// hold more precision than that, and Python printed six decimals.
func floatTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	us := int64(math.Round(frac * 1e6))
	return time.Unix(int64(sec), us*1000)
}
