package engine

import (
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// OwnFiles names grsync's own files, which a sync leaves out of its sources
// whatever the user asks: backing up the catalogue while it is being
// written fails on its WAL file every run, and a local store inside a
// source would back itself up, growing with every run.
type OwnFiles struct {
	// Catalog is the catalogue's path. It, its -wal, -shm, -journal and
	// .lock files, the copies a migration keeps (<name>.pre-v*.bak) and the
	// snapshot copy (<name>.snapshot-tmp) are left out, recognised by name
	// in the catalogue's folder.
	Catalog string
	// Stores are local store folders, left out whole.
	Stores []string
}

// What was left out, as SyncResult.LeftOut counts it.
const (
	LeftCatalog = "catalogue"
	LeftStore   = "local store"
	LeftTemp    = "temporary"
)

// fileID is a file's identity: the same folder reached by two paths (a
// symlinked source, a bind mount) has one.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{uint64(st.Dev), st.Ino} }

// ownSet recognises OwnFiles during a walk, by identity rather than by
// path, so that no spelling of a path lets them in.
type ownSet struct {
	catDir   fileID
	hasCat   bool
	catNames map[string]bool // names beside the catalogue that are its own
	bakStart string          // <name>.pre-v: copies kept by migrations
	stores   map[fileID]bool
}

func newOwnSet(o OwnFiles) *ownSet {
	s := &ownSet{stores: map[fileID]bool{}}
	if o.Catalog != "" {
		if abs, err := filepath.Abs(o.Catalog); err == nil {
			var st unix.Stat_t
			if unix.Stat(filepath.Dir(abs), &st) == nil {
				base := filepath.Base(abs)
				s.catDir, s.hasCat = idOf(&st), true
				s.catNames = map[string]bool{base: true}
				for _, suffix := range []string{"-wal", "-shm", "-journal", ".lock"} {
					s.catNames[base+suffix] = true
				}
				// The snapshot copy (SnapshotCopyPath) and its journal.
				for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
					s.catNames[filepath.Base(SnapshotCopyPath(abs))+suffix] = true
				}
				s.bakStart = base + ".pre-v"
			}
		}
	}
	for _, d := range o.Stores {
		var st unix.Stat_t
		if unix.Stat(d, &st) == nil {
			s.stores[idOf(&st)] = true
		}
	}
	return s
}

// isTempName reports whether name is one of the temporary files grsync
// writes beside the files it restores: a restore's ".NAME.grsync-DIGITS"
// or a download's ".grsync-download-HEX.part". A killed run can leave them.
func isTempName(name string) bool {
	if _, ok := tempOf(name); ok {
		return true
	}
	return strings.HasPrefix(name, ".grsync-download-") && strings.HasSuffix(name, ".part")
}

// nameKind says whether the file name, in the folder with identity dir,
// is one of grsync's own, and which kind ("" if not).
func (s *ownSet) nameKind(dir fileID, name string) string {
	if s == nil {
		return ""
	}
	if isTempName(name) {
		return LeftTemp
	}
	if s.hasCat && dir == s.catDir && (s.catNames[name] || strings.HasPrefix(name, s.bakStart) && strings.HasSuffix(name, ".bak")) {
		return LeftCatalog
	}
	return ""
}

// isCatalogDir reports whether the folder with this identity holds the
// catalogue.
func (s *ownSet) isCatalogDir(id fileID) bool { return s != nil && s.hasCat && id == s.catDir }

// isStore reports whether the folder with this identity is a local store.
func (s *ownSet) isStore(id fileID) bool { return s != nil && s.stores[id] }

// hasStores reports whether any local store is to be left out.
func (s *ownSet) hasStores() bool { return s != nil && len(s.stores) > 0 }

// rootKind says whether a source named on the command line is one of
// grsync's own files or folders.
func (s *ownSet) rootKind(p string) string {
	if s == nil {
		return ""
	}
	var st unix.Stat_t
	if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && s.isStore(idOf(&st)) {
		return LeftStore
	}
	var dir unix.Stat_t
	if unix.Stat(filepath.Dir(p), &dir) != nil {
		return ""
	}
	return s.nameKind(idOf(&dir), filepath.Base(p))
}
