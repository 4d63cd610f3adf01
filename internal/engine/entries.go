package engine

import (
	"fmt"
	"io/fs"
	"math"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
)

// What sync records besides content: a file's mode, owner, group and hard
// link identity with each version; a new version when only they changed
// (nothing uploaded: the version points at the content already stored);
// and folders and symlinks as versions of their own (kind 1 and 2, no
// content), so that empty folders, folder modes and times, and symlinks
// come back. An unchanged folder or symlink costs a map lookup.

// sameContent records, without reading it, a file whose content the
// catalogue already has: one matching an older version (the Python tools
// counted any matching row as backed up), or one whose mode or owner alone
// changed. It reports whether it handled the file.
func (s *syncer) sameContent(e entry, known bool) (bool, error) {
	if !known {
		return false, nil // the catalogue has no row of this path
	}
	fi := e.info
	ns := fi.ModTime().UnixNano()
	old, ok, err := s.cfg.Catalog.MatchVersion(s.cfg.Target.ID, e.path, fi.Size(), float64(ns)/1e9, ns)
	if err != nil {
		return false, fmt.Errorf("catalogue lookup: %w", err)
	}
	if !ok {
		return false, nil
	}
	ps, err := s.cfg.Catalog.Pieces([]int64{old.ID})
	if err != nil {
		return false, fmt.Errorf("catalogue lookup: %w", err)
	}
	if len(ps[old.ID]) == 0 && fi.Size() > 0 {
		return false, nil // nothing to point at: store it again
	}
	pieces := make([]*catalog.Blob, len(ps[old.ID]))
	for i := range ps[old.ID] {
		pieces[i] = &ps[old.ID][i].Blob
	}
	v := s.newVersion(e.path, fi, pieces)
	v.ContentHash = old.ContentHash
	metaOnly := old.Mode != 0 && old.Mode != format.UnixMode(fi.Mode())
	if uid, gid, ok := owner(fi); ok && old.OwnerKnown && (uid != old.UID || gid != old.GID) {
		metaOnly = true
	}
	s.recorder.add(v, nil, func(err error) {
		if err != nil {
			s.fail(e.path, err)
			return
		}
		status := "unchanged"
		s.count(func(r *SyncResult) {
			if metaOnly {
				r.MetaChanged++
				status = "metadata"
			} else {
				r.Unchanged++
			}
		})
		s.cfg.observer().Done(e.path, status, nil)
	})
	return true, nil
}

// newVersion is the version of the file at path as fi describes it, made
// of pieces.
func (s *syncer) newVersion(path string, fi fs.FileInfo, pieces []*catalog.Blob) *catalog.NewVersion {
	v := catalog.Version{
		TargetID: s.cfg.Target.ID, Path: path, Size: fi.Size(),
		MTime: float64(fi.ModTime().UnixNano()) / 1e9, MTimeNS: fi.ModTime().UnixNano(),
		Mode: format.UnixMode(fi.Mode()), Timestamp: s.cfg.now(), Description: s.cfg.Desc,
		Hardlink: hardlinkID(fi), RunID: s.run,
	}
	v.UID, v.GID, v.OwnerKnown = owner(fi)
	return &catalog.NewVersion{Version: v, Pieces: pieces}
}

// entryVersion is the version of a folder or a symlink: its mode, times
// and owner, and a symlink's target text (its size is the text's length).
func (s *syncer) entryVersion(e entry) *catalog.NewVersion {
	nv := s.newVersion(e.path, e.info, nil)
	v := &nv.Version
	v.Kind, v.Hardlink, v.Size = e.kind(), "", 0
	if v.Kind == catalog.KindSymlink {
		v.LinkTarget, v.Size = e.link, int64(len(e.link))
	}
	return nv
}

// recordEntry records a new or changed folder or symlink. It needs no
// upload, so it goes with the next batch of versions that need none.
func (s *syncer) recordEntry(e entry) {
	k := e.kind()
	s.recorder.add(s.entryVersion(e), nil, func(err error) {
		if err != nil {
			s.fail(e.path, err)
			return
		}
		s.count(func(r *SyncResult) { r.countEntry(k) })
		s.cfg.log().Debug(k.String()+" recorded", "path", e.path)
	})
	if s.recorder.due(s.cfg.now()) {
		if err := s.recorder.flush(s.cfg.now(), nil); err != nil {
			s.fatal(err)
		}
	}
}

// countEntry counts a folder or symlink recorded (or, in a dry run, to be).
func (r *SyncResult) countEntry(k catalog.EntryKind) {
	if k == catalog.KindDir {
		r.Folders++
	} else {
		r.Symlinks++
	}
}

// unchanged reports whether the catalogue's latest record matches the file
// in size and modification time. Legacy records carry only a float mtime
// (Python's os.path.getmtime), so they compare within a microsecond.
func unchanged(st catalog.State, fi fs.FileInfo) bool {
	if st.Deleted || st.Kind != catalog.KindFile || st.Size != fi.Size() {
		return false
	}
	ns := fi.ModTime().UnixNano()
	if st.MTimeNS != 0 {
		return st.MTimeNS == ns
	}
	return math.Abs(st.MTime-float64(ns)/1e9) < 1e-6
}

// metaChanged reports whether the file's mode or owner differ from the
// catalogue's latest record (when it knows them).
func metaChanged(st catalog.State, fi fs.FileInfo) bool {
	if st.Mode != 0 && st.Mode != format.UnixMode(fi.Mode()) {
		return true
	}
	uid, gid, ok := owner(fi)
	return ok && st.OwnerKnown && (uid != st.UID || gid != st.GID)
}

// entryUnchanged reports whether a folder or symlink is as the catalogue's
// latest record has it: same kind, modification time, mode, owner, and a
// symlink's target. A folder's mtime changes whenever a name in it does:
// that is a new folder version, which costs a catalogue row, no upload.
// The folder holding the catalogue is the exception: its journal and lock
// come and go with every run, so its mtime alone is no change.
func entryUnchanged(st catalog.State, e entry) bool {
	if st.Deleted || st.Kind != e.kind() || st.MTimeNS != e.info.ModTime().UnixNano() && !e.catDir {
		return false
	}
	if e.kind() == catalog.KindSymlink && st.LinkTarget != e.link {
		return false
	}
	return st.Mode == format.UnixMode(e.info.Mode()) && !metaChanged(st, e.info)
}

// statOf returns the stat result behind fi: the os package's (files it
// stats) or the walk's (unix.Stat_t, from fstatat).
func statOf(fi fs.FileInfo) (uid, gid uint32, dev, ino, nlink uint64, ok bool) {
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t:
		return st.Uid, st.Gid, st.Dev, st.Ino, uint64(st.Nlink), true
	case *unix.Stat_t:
		return st.Uid, st.Gid, st.Dev, st.Ino, uint64(st.Nlink), true
	}
	return 0, 0, 0, 0, 0, false
}

// owner returns the file's owner and group, if the system tells.
func owner(fi fs.FileInfo) (uid, gid int64, ok bool) {
	u, g, _, _, _, ok := statOf(fi)
	return int64(u), int64(g), ok
}

// hardlinkID identifies the inode of a file with several links, "" else.
func hardlinkID(fi fs.FileInfo) string {
	_, _, dev, ino, nlink, ok := statOf(fi)
	if !ok || nlink < 2 || fi.IsDir() {
		return ""
	}
	return fmt.Sprintf("%d:%d", dev, ino)
}
