package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/grsync/grsync/internal/catalog"
)

// Excluder decides which paths a sync leaves out. Patterns follow rsync's
// simple rules: a pattern without "/" matches a file or folder name at any
// depth ("*.tmp", ".cache"); a pattern with "/" matches the path relative to
// the source root ("build/*.o"); a leading "/" only anchors it; a trailing
// "/" matches folders only. "*" and "?" stop at "/", "**" crosses folder
// levels, "[abc]" is a character class.
type Excluder struct {
	patterns []excludePattern
}

type excludePattern struct {
	raw      string // as given, for the log
	re       *regexp.Regexp
	anchored bool // match the relative path, not just the name
	dirOnly  bool
}

// NewExcluder compiles patterns, reporting the first malformed one.
func NewExcluder(patterns []string) (*Excluder, error) {
	e := &Excluder{}
	for _, raw := range patterns {
		p := strings.TrimSpace(raw)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		ep := excludePattern{raw: p}
		if strings.HasSuffix(p, "/") {
			ep.dirOnly = true
			p = strings.TrimRight(p, "/")
		}
		if strings.Contains(p, "/") {
			ep.anchored = true
			p = strings.TrimPrefix(p, "/")
		}
		re, err := globRegexp(p)
		if err != nil {
			return nil, fmt.Errorf("bad exclude pattern %q: %w", raw, err)
		}
		ep.re = re
		e.patterns = append(e.patterns, ep)
	}
	return e, nil
}

// globRegexp translates a glob into an anchored regular expression.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				i++
				if i+1 < len(glob) && glob[i+1] == '/' { // "**/" also matches no folder at all
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(glob[i+1:], ']')
			if j < 0 {
				return nil, errors.New("unterminated [")
			}
			class := glob[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		case '\\':
			if i+1 < len(glob) {
				i++
				b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
			}
		default:
			r, size := utf8.DecodeRuneInString(glob[i:])
			if r == utf8.RuneError && size == 1 {
				// regexp sees an invalid byte in a name as U+FFFD.
				b.WriteString(`\x{FFFD}`)
			} else {
				b.WriteString(regexp.QuoteMeta(glob[i : i+size]))
			}
			i += size - 1
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// ReadExcludeFile reads one pattern per line; blank lines and lines starting
// with "#" are ignored.
func ReadExcludeFile(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read exclude file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read exclude file %s: %w", name, err)
	}
	return out, nil
}

// Excluded reports whether rel (slash-separated, relative to the source
// root) is excluded. isDir says whether it names a folder.
func (e *Excluder) Excluded(rel string, isDir bool) bool {
	_, ok := e.Match(rel, isDir)
	return ok
}

// Match is Excluded, and says which pattern (as given) excludes rel.
func (e *Excluder) Match(rel string, isDir bool) (string, bool) {
	if e == nil {
		return "", false
	}
	base := path.Base(rel)
	for _, p := range e.patterns {
		if p.dirOnly && !isDir {
			continue
		}
		subject := base
		if p.anchored {
			subject = rel
		}
		if p.re.MatchString(subject) {
			return p.raw, true
		}
	}
	return "", false
}

// entry is one regular file, folder or symlink found by the walk.
type entry struct {
	path string // absolute, cleaned: where it is recorded
	// real, when set, is the path to open: the target of a symlink named
	// as a source (path is the symlink's).
	real string
	info fs.FileInfo
	link string // a symlink's target text, as readlink gives it
	// catDir: a folder that holds the catalogue, whose mtime every run
	// moves (its journal and lock come and go).
	catDir bool
}

// kind is what the entry is, as the catalogue records it.
func (e entry) kind() catalog.EntryKind {
	switch m := e.info.Mode(); {
	case m.IsDir():
		return catalog.KindDir
	case m&fs.ModeSymlink != 0:
		return catalog.KindSymlink
	}
	return catalog.KindFile
}

// openPath is the path to open to read the entry.
func (e entry) openPath() string {
	if e.real != "" {
		return e.real
	}
	return e.path
}

// walkEvent reports what the walk skipped or could not read.
type walkEvent struct {
	path    string
	reason  string
	err     error  // non-nil: a failure (counted, exit 1); nil: a deliberate skip
	leftOut string // set: one of grsync's own files, left out (Left* kinds)
	exclude string // set: left out by this --exclude pattern
}

// walkResult summarises a finished walk.
type walkResult struct {
	// incomplete lists folders whose contents could not be fully listed:
	// files recorded under them must not be marked deleted.
	incomplete []string
}

// walkParallelism is how many folders are listed at once.
const walkParallelism = 4

// walk visits each root (a file or a folder) and, below a folder, every
// folder, regular file and symlink, calling found for each, and report
// for every skipped or failed path, and for grsync's own files (own),
// which it leaves out. A root that is a symlink is followed (rsync and tar
// do so for a trailing slash, restic for a named source) and what it holds
// is reported under the root's own path; no other symlink is followed: a
// symlink below a root is found as a symlink, with its target text (a
// folder is found once it is opened, with what fstat says of it). Several
// folders are listed at once,
// and files are stat'ed relative to their folder (fstatat) rather than by
// full path; found and report are called from one goroutine at a time. It
// stops early when ctx is cancelled or found fails.
func walk(ctx context.Context, roots []string, ex *Excluder, own *ownSet, found func(entry) error, report func(walkEvent)) (walkResult, error) {
	w := &walker{ctx: ctx, ex: ex, own: own, found: found, report: report, sem: make(chan struct{}, walkParallelism)}
	w.ctx, w.cancel = context.WithCancel(ctx)
	defer w.cancel()
	for _, root := range roots {
		if k := own.rootKind(root); k != "" {
			w.event(walkEvent{path: root, leftOut: k}, "")
			continue
		}
		info, err := lstat(root)
		if err != nil {
			w.event(walkEvent{path: root, reason: "cannot read", err: err}, root)
			continue
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Stat(root)
			if err != nil {
				w.event(walkEvent{path: root, reason: "cannot follow the symlink", err: err}, root)
				continue
			}
			if !target.IsDir() {
				real, err := filepath.EvalSymlinks(root)
				if err != nil {
					w.event(walkEvent{path: root, reason: "cannot follow the symlink", err: err}, root)
					continue
				}
				w.fileAt(root, real, target)
				continue
			}
			info = target
		}
		if !info.IsDir() {
			w.file(root, info)
			continue
		}
		w.wg.Add(1)
		w.dir(root, root, "")
	}
	w.wg.Wait()
	if w.err != nil {
		return w.res, w.err
	}
	return w.res, ctx.Err()
}

type walker struct {
	ctx    context.Context
	cancel context.CancelFunc
	ex     *Excluder
	own    *ownSet
	found  func(entry) error
	report func(walkEvent)
	sem    chan struct{}
	wg     sync.WaitGroup

	mu  sync.Mutex // serialises found, report, res and err
	res walkResult
	err error
}

// event reports a skipped or failed path; incomplete names a folder whose
// contents could not all be listed.
func (w *walker) event(ev walkEvent, incomplete string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.report(ev)
	if incomplete != "" {
		w.res.incomplete = append(w.res.incomplete, incomplete)
	}
}

func (w *walker) file(p string, fi fs.FileInfo) { w.fileAt(p, "", fi) }

// fileAt visits the file recorded as p and read from real ("": p).
func (w *walker) fileAt(p, real string, fi fs.FileInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if err := visitFile(p, real, fi, w.found, w.report); err != nil {
		w.err = err
		w.cancel()
	}
}

// dir lists one folder, visits its files and walks its subfolders, in new
// goroutines while the parallelism allows, else in this one.
func (w *walker) dir(root, p, rel string) {
	defer w.wg.Done()
	if w.ctx.Err() != nil {
		return
	}
	flags := os.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW
	if rel == "" {
		flags &^= unix.O_NOFOLLOW // a root may be a symlink the user named
	}
	f, err := openFile(p, flags, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) { // deleted during the walk: simply gone
			w.event(walkEvent{path: p, reason: "cannot read", err: err}, p)
		}
		return
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // removed while being listed: gone
		w.event(walkEvent{path: p, reason: "cannot list", err: err}, p)
	}
	fd := int(f.Fd())
	var dirID fileID
	var dst unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstat(fd, &dst) }); err != nil {
		w.event(walkEvent{path: p, reason: "cannot read", err: &fs.PathError{Op: "fstat", Path: p, Err: err}}, p)
		return
	}
	dirID = idOf(&dst)
	w.visit(entry{path: p, info: statInfo{name: filepath.Base(p), st: dst}, catDir: w.own.isCatalogDir(dirID)})
	for _, d := range ents {
		if w.ctx.Err() != nil {
			return
		}
		name := d.Name()
		child := filepath.Join(p, name)
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		if !d.IsDir() {
			if k := w.own.nameKind(dirID, name); k != "" {
				w.event(walkEvent{path: child, leftOut: k}, "")
				continue
			}
		}
		if pat, ok := w.ex.Match(childRel, d.IsDir()); ok {
			w.event(walkEvent{path: child, exclude: pat}, "")
			continue
		}
		if d.IsDir() && w.own.hasStores() {
			var st unix.Stat_t
			if fstatat(fd, name, &st) == nil && w.own.isStore(idOf(&st)) {
				w.event(walkEvent{path: child, leftOut: LeftStore}, "")
				continue
			}
		}
		if d.IsDir() {
			w.wg.Add(1)
			select {
			case w.sem <- struct{}{}:
				go func() {
					defer func() { <-w.sem }()
					w.dir(root, child, childRel)
				}()
			default:
				w.dir(root, child, childRel)
			}
			continue
		}
		var st unix.Stat_t
		if err := fstatat(fd, name, &st); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				// Unknown, not gone: its catalogue record must not be
				// marked deleted (a folder readable but not searchable).
				w.event(walkEvent{path: child, reason: "cannot read", err: err}, child)
			}
			continue
		}
		info := statInfo{name: name, st: st}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			link, err := readlinkat(fd, name, st.Size)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					w.event(walkEvent{path: child, reason: "cannot read the symlink", err: err}, child)
				}
				continue
			}
			w.visit(entry{path: child, info: info, link: link})
			continue
		}
		w.file(child, info)
	}
}

// visit reports a folder or a symlink.
func (w *walker) visit(e entry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if err := w.found(e); err != nil {
		w.err = err
		w.cancel()
	}
}

// readlinkat reads the target of the symlink name in the folder open as
// fd; size is what lstat said of its length (0 on some file systems).
func readlinkat(fd int, name string, size int64) (string, error) {
	n := max(int(size)+1, 256)
	for {
		buf := make([]byte, n)
		var got int
		err := ignoringEINTR(func() error {
			var err error
			got, err = unix.Readlinkat(fd, name, buf)
			return err
		})
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
		}
		if got < n {
			return string(buf[:got]), nil
		}
		n *= 2 // truncated: the link changed, or lstat gave no length
	}
}

// fstatat stats name in the folder open as fd, without following a symlink.
func fstatat(fd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(fd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			if err != nil {
				return &fs.PathError{Op: "lstat", Path: name, Err: err}
			}
			return nil
		}
	}
}

// statInfo is an fs.FileInfo made from a stat result.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Sec, s.st.Mtim.Nsec) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return &s.st }
func (s statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func visitFile(p, real string, fi fs.FileInfo, found func(entry) error, report func(walkEvent)) error {
	switch m := fi.Mode(); {
	case m.IsRegular(), m.IsDir():
		return found(entry{path: p, real: real, info: fi})
	case m&fs.ModeSymlink != 0:
		report(walkEvent{path: p, reason: "symlink not followed"})
	case m&fs.ModeNamedPipe != 0:
		report(walkEvent{path: p, reason: "FIFO skipped"})
	case m&fs.ModeSocket != 0:
		report(walkEvent{path: p, reason: "socket skipped"})
	case m&fs.ModeDevice != 0:
		report(walkEvent{path: p, reason: "device skipped"})
	default:
		report(walkEvent{path: p, reason: "not a regular file, skipped"})
	}
	return nil
}

// underAny reports whether p is one of prefixes or lies beneath one of them,
// comparing whole path components.
func underAny(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if pre != "/" {
			pre = strings.TrimRight(pre, "/")
		}
		if p == pre || strings.HasPrefix(p, strings.TrimSuffix(pre, "/")+"/") {
			return true
		}
	}
	return false
}
