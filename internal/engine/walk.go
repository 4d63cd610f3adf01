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
	"unicode/utf8"
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
		ep := excludePattern{}
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
	if e == nil {
		return false
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
			return true
		}
	}
	return false
}

// entry is one regular file found by the walk.
type entry struct {
	path string // absolute, cleaned
	info fs.FileInfo
}

// walkEvent reports what the walk skipped or could not read.
type walkEvent struct {
	path   string
	reason string
	err    error // non-nil: a failure (counted, exit 1); nil: a deliberate skip
}

// walkResult summarises a finished walk.
type walkResult struct {
	// incomplete lists folders whose contents could not be fully listed:
	// files recorded under them must not be marked deleted.
	incomplete []string
}

// walk visits the regular files under each root (a file or a folder),
// without following symlinks, calling found for each and report for every
// skipped or failed path. It stops early when ctx is cancelled.
func walk(ctx context.Context, roots []string, ex *Excluder, found func(entry) error, report func(walkEvent)) (walkResult, error) {
	var res walkResult
	for _, root := range roots {
		info, err := os.Lstat(root)
		if err != nil {
			report(walkEvent{path: root, reason: "cannot read", err: err})
			res.incomplete = append(res.incomplete, root)
			continue
		}
		if !info.IsDir() {
			if err := visitFile(root, info, found, report); err != nil {
				return res, err
			}
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				report(walkEvent{path: p, reason: "cannot read", err: err})
				if d == nil || d.IsDir() {
					res.incomplete = append(res.incomplete, p)
				}
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if p != root && ex.Excluded(rel, d.IsDir()) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // deleted during the walk: it simply is not there
				}
				report(walkEvent{path: p, reason: "cannot read", err: err})
				return nil
			}
			return visitFile(p, fi, found, report)
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func visitFile(p string, fi fs.FileInfo, found func(entry) error, report func(walkEvent)) error {
	switch m := fi.Mode(); {
	case m.IsRegular():
		return found(entry{path: p, info: fi})
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
