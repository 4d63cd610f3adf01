package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grsync/grsync/internal/catalog"
)

// Folders and symlinks come back after the files. Files are placed first
// (their folders are created on the way, mode 0755); then the symlinks
// are created, never followed, never replacing an existing name without
// --overwrite; then every folder gets its owner, mode and mtime, the
// deepest first, so that a read-only folder is made read-only after its
// files are written and no later change in a folder moves its mtime. A
// folder that still waits for files (a retrieval not ready yet) is left
// as it is until the run that restores them. Empty folders are created.
// Owners and groups are applied when restore runs as root (tar and rsync
// do the same; another user cannot give files away), unless --no-owner.

// restoreEntry is a folder or symlink to restore.
type restoreEntry struct {
	v    catalog.Version
	dest string
}

// addEntry adds a folder or symlink version to the plan. An existing
// symlink destination is kept unless overwrite; an existing folder is
// restored into (it gets the recorded mode, times and owner).
func (p *RestorePlan) addEntry(v catalog.Version, dest string, overwrite bool) {
	switch v.Kind {
	case catalog.KindDir:
		p.Folders++
	case catalog.KindSymlink:
		if !overwrite {
			if _, err := lstat(dest); err == nil {
				p.Existing = append(p.Existing, dest)
				return
			}
		}
		p.Symlinks++
	default:
		p.Unsafe = append(p.Unsafe, Failure{Path: v.Path, Err: fmt.Errorf("the catalogue records it as a %s, which restore does not know; not restored", v.Kind)})
		return
	}
	p.entries = append(p.entries, &restoreEntry{v: v, dest: dest})
}

// restoreEntries creates the plan's symlinks and empty folders and gives
// folders their metadata, once the files (those not pending) are placed.
func restoreEntries(cfg *Config, plan *RestorePlan, root destRoot, sw *tempSweeper, pending []*restoreFile, res *RestoreResult) {
	obs := cfg.observer()
	// A folder with a failed file below it has had its problem reported
	// (a symlink in the way, a folder that cannot be written): its own
	// failure, the same one, is not reported again.
	reported := map[string]bool{}
	for _, f := range res.Failures {
		for d := filepath.Dir(f.Path); !reported[d] && d != "/" && d != "."; d = filepath.Dir(d) {
			reported[d] = true
		}
	}
	fail := func(dest string, err error) {
		if reported[dest] {
			return
		}
		res.Failures = append(res.Failures, Failure{Path: dest, Err: err})
		obs.Done(dest, "failed", err)
	}
	var folders, links []*restoreEntry
	for _, e := range plan.entries {
		if e.v.Kind == catalog.KindDir {
			folders = append(folders, e)
		} else {
			links = append(links, e)
		}
	}
	broken := map[string]bool{}
	for _, e := range folders { // parents first: the plan is sorted by path
		d, err := root.openDir(e.dest, true)
		if err != nil {
			fail(e.dest, err)
			broken[e.dest] = true
			continue
		}
		d.close()
	}
	for _, e := range links {
		if err := placeLink(root, sw, e); err != nil {
			fail(e.dest, err)
			continue
		}
		res.Symlinks++
		obs.Done(e.dest, "restored", nil)
	}
	// Folders holding files still to come keep their metadata for later.
	waiting := map[string]bool{}
	for _, f := range pending {
		for d := filepath.Dir(f.dest); !waiting[d]; d = filepath.Dir(d) {
			waiting[d] = true
			if d == "/" || d == "." {
				break
			}
		}
	}
	sort.SliceStable(folders, func(i, j int) bool {
		return strings.Count(folders[i].dest, "/") > strings.Count(folders[j].dest, "/")
	})
	for _, e := range folders {
		if broken[e.dest] || waiting[e.dest] {
			continue
		}
		d, err := root.openDir(filepath.Dir(e.dest), false)
		if err == nil {
			err = d.setDirMeta(filepath.Base(e.dest), e.v, root.owner)
			d.close()
		}
		if err != nil {
			fail(e.dest, err)
			continue
		}
		res.Folders++
	}
}

// placeLink creates the symlink e: under a temporary name, given its owner
// and mtime, then put in place (see putInPlace). With overwrite an existing
// file or symlink is replaced, never a folder.
func placeLink(root destRoot, sw *tempSweeper, e *restoreEntry) error {
	d, err := root.openDir(filepath.Dir(e.dest), true)
	if err != nil {
		return err
	}
	defer d.close()
	sw.sweep(d, e.dest)
	var tmp string
	for range 100 {
		tmp = tempPrefix(e.dest) + randomDigits()
		if err = d.symlink(e.v.LinkTarget, tmp); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("creating the symlink: %w", err)
	}
	gone := false
	defer func() {
		if !gone {
			d.remove(tmp) // still there when it was linked into place, or failed
		}
	}()
	if err := d.chown(tmp, e.v, root.owner); err != nil {
		return err
	}
	if err := d.setTimes(tmp, versionMTime(e.v)); err != nil {
		return err
	}
	name := filepath.Base(e.dest)
	if root.overwrite && d.isDir(name) {
		return fmt.Errorf("%s is a folder; a symlink does not replace a folder (remove it first)", e.dest)
	}
	gone, err = putInPlace(d, tmp, name, e.dest, root.overwrite)
	return err
}
