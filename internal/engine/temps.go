package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"
)

// tempSuffixMark separates a restore's temporary file name from its random
// digits: "." + name + ".grsync-" + digits.
const tempSuffixMark = ".grsync-"

// maxTempBase bounds the part of a file's name its temporary name repeats,
// so that the temporary name stays within the 255 bytes a name may have:
// 1 + 200 + 8 + 10 digits.
const maxTempBase = 200

// tempPrefix is the name prefix of the temporary files restore writes
// beside dest. A long name is shortened and given a hash of the whole name,
// so two long names that start alike never share a prefix.
func tempPrefix(dest string) string {
	base := filepath.Base(dest)
	if len(base) > maxTempBase {
		h := sha256.Sum256([]byte(base))
		cut := maxTempBase - 9 // room for "~" and 8 hex digits
		for cut > 0 && !utf8.RuneStart(base[cut]) {
			cut--
		}
		base = base[:cut] + "~" + hex.EncodeToString(h[:4])
	}
	return "." + base + tempSuffixMark
}

// tempSweeper removes the temporary files an interrupted restore left
// beside the files being restored (only one grsync uses a catalogue at a
// time, and these names are grsync's own). Each folder is listed once per
// restore however many files go into it: a folder of n files costs n, not
// n², and sweeping happens before this run creates temporary files there.
// Folders are reached as the restore reaches them (root), never through a
// symlink below --output.
type tempSweeper struct {
	root   destRoot
	mu     sync.Mutex
	dirs   map[string]map[string][]string // folder → temporary prefix → stale names
	listed int                            // folders listed, for tests
}

func newTempSweeper(root destRoot) *tempSweeper {
	return &tempSweeper{root: root, dirs: map[string]map[string][]string{}}
}

// sweep removes the stale temporary files of dest. d is dest's folder,
// open; when it is nil the folder is opened if it exists. It must be
// called before the run creates a temporary file for dest.
func (s *tempSweeper) sweep(d *destDir, dest string) {
	dir := filepath.Dir(dest)
	prefix := tempPrefix(dest)
	s.mu.Lock()
	defer s.mu.Unlock()
	stale, ok := s.dirs[dir]
	if ok && len(stale[prefix]) == 0 {
		return
	}
	if d == nil {
		dd, err := s.root.openDir(dir, false)
		if err != nil { // not there (yet), or not reachable: nothing to sweep
			if !ok {
				s.dirs[dir] = map[string][]string{}
				s.listed++
			}
			return
		}
		defer dd.close()
		d = dd
	}
	if !ok {
		stale = staleTemps(d)
		s.dirs[dir] = stale
		s.listed++
	}
	for _, n := range stale[prefix] {
		d.remove(n)
	}
	delete(stale, prefix)
}

// staleTemps lists the temporary files of restores in d, by prefix.
func staleTemps(d *destDir) map[string][]string {
	out := map[string][]string{}
	names, _ := d.names()
	for _, n := range names {
		if p, ok := tempOf(n); ok {
			out[p] = append(out[p], n)
		}
	}
	return out
}

// tempOf returns the prefix of name when it is a restore's temporary file
// name: "." + something + ".grsync-" + digits. A download's name
// (".grsync-download-….part") is not one.
func tempOf(name string) (string, bool) {
	i := strings.LastIndex(name, tempSuffixMark)
	if i <= 0 || name[0] != '.' {
		return "", false
	}
	digits := name[i+len(tempSuffixMark):]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	return name[:i+len(tempSuffixMark)], true
}
