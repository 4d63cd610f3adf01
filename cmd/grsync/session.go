package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
)

// session is an opened catalogue, target, store and key, ready for the engine.
type session struct {
	cat    *catalog.Catalog
	target catalog.Target
	store  store.Store // nil when the command reaches only the catalogue
	key    *keys.Key
	probe  engine.StoreProbe  // what the marker check may ask of the store
	marker engine.StoreMarker // the store's marker as openSessionFor read it
}

func (s *session) Close() {
	if s.store != nil {
		s.store.Close()
	}
	if s.cat != nil {
		s.cat.Close()
	}
}

// sessionMode says what a command reaches, and so what openSessionFor may
// create or change.
type sessionMode struct {
	// reach: open the store too. A command that does not reach it needs no
	// credentials, region or network (a local store may still be read for
	// its marker).
	reach bool
	// readOnly opens the catalogue read-only.
	readOnly bool
	// create: a missing local store folder may be made a store, and a
	// target the catalogue does not know is added.
	create bool
	// addTarget: a target the catalogue does not know is added, without
	// becoming the default (inventory records its job with it).
	addTarget bool
	// touch makes the target the catalogue's default: only commands that
	// write backups do.
	touch bool
}

var (
	readCatalog  = sessionMode{readOnly: true}                         // ls, restore --dry-run
	writeCatalog = sessionMode{}                                       // forget
	readStore    = sessionMode{reach: true}                            // restore, verify
	listStore    = sessionMode{reach: true, addTarget: true}           // inventory
	writeStore   = sessionMode{reach: true, create: true, touch: true} // sync, inventory --rebuild, uploads
)

// openSessionFor opens everything a command needs, finds the target
// (following a local store that moved, see followStore), and checks that
// the store is the one the catalogue knows and that the key is the one the
// catalogue recorded for it. The store's marker is read here; each
// command then checks it against what it is going to do (checkStore). A
// command that reaches the store makes the target remember the region and
// endpoint it was reached with.
func (a *app) openSessionFor(mode sessionMode) (*session, error) {
	// Everything that can be checked without touching a file comes first,
	// so a usage error leaves no catalogue or store behind.
	key, err := a.loadKey()
	if err != nil {
		return nil, err
	}
	loc, err := a.g.targetLocation()
	if err != nil {
		return nil, err
	}
	if loc == "" && !fileExists(a.g.db) {
		return nil, usagef("give --local-store DIR (a folder; no AWS account needed), --vault NAME --region R, or --bucket NAME --region R",
			"no target given, and no catalogue at %s to take it from", a.g.db)
	}
	s := &session{key: key}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	// A target named by flags is opened first (its settings checked, its
	// bucket or vault looked up), so that a mistake there leaves no
	// catalogue, and no target in it, behind. A local store folder that
	// does not exist yet is made only once the catalogue said it knows no
	// backups there (a disk that is not connected is not a new store).
	var conn connection
	var lock lockSetting // the Object Lock the store was opened with
	if loc != "" && mode.reach {
		if err := a.checkSettings(loc); err != nil {
			return nil, err
		}
		mem := a.remembered(loc)
		if lock, err = a.lockFor(loc, mem.lock, !mem.stored); err != nil {
			return nil, err
		}
		if dir, isLocal := strings.CutPrefix(loc, "local:"); !isLocal || dirExists(dir) {
			if s.store, conn, s.probe, err = a.openStore(loc, mode.create, mem.conn, lock); err != nil {
				return nil, err
			}
		}
	}
	if s.cat, err = a.openCatalog(mode.readOnly); err != nil {
		return nil, err
	}
	if loc == "" {
		if loc, err = a.resolveTarget(s.cat); err != nil {
			return nil, err
		}
	}
	t, found, err := s.cat.Target(loc)
	if err != nil {
		return nil, err
	}
	if mode.reach {
		// The lock the target records decides, once the catalogue is
		// open (the flags may only choose it on a target's first sync).
		stored := false
		if found {
			if stored, err = s.cat.HasStored(t.ID); err != nil {
				return nil, err
			}
		}
		want, err := a.lockFor(loc, targetLock(t), !stored)
		if err != nil {
			return nil, err
		}
		if s.store != nil && want != lock {
			return nil, fmt.Errorf("the catalogue %s changed while grsync started (%s now has %s); run the command again", a.g.db, loc, want)
		}
		lock = want
	}
	dir, isLocal := strings.CutPrefix(loc, "local:")
	switch {
	case mode.reach && s.store == nil && isLocal && !dirExists(dir):
		err = a.createLocal(s, loc, t, found, mode)
	case mode.reach && s.store == nil:
		s.store, conn, s.probe, err = a.openStore(loc, mode.create && !found, connection{t.Region, t.Endpoint}, lock)
	case !mode.reach && !found && isLocal && dirExists(dir):
		// A local store the catalogue does not know here may have moved:
		// its marker says, and reading it needs no credentials.
		if st, lerr := local.Open(dir, local.Options{}); lerr == nil {
			s.store, s.probe = st, probeOf(st)
		}
	}
	if err != nil {
		return nil, err
	}
	if s.store != nil {
		if s.marker, err = engine.ReadMarker(a.ctx, s.store); err != nil {
			return nil, err
		}
		if !s.marker.Supported && !a.warnedNoRefs {
			a.warnedNoRefs = true
			a.log.Warn(fmt.Sprintf("%s cannot carry a store marker on this service (it does not implement vault tags): grsync checks the key against the catalogue only", loc))
		}
	}
	if !found {
		if t, found, err = a.followStore(s, loc, mode); err != nil {
			return nil, err
		}
	}
	if !found {
		if !mode.create && !mode.addTarget {
			return nil, usagef("check the target flags, or leave them out to use the catalogue's own target",
				"the catalogue %s has no backups for %s", a.g.db, loc)
		}
		if t, err = s.cat.EnsureTarget(loc); err != nil {
			return nil, err
		}
	}
	s.target = t
	if err := checkIdentity(s); err != nil {
		return nil, err
	}
	if err := checkKey(t, s.key); err != nil {
		return nil, err
	}
	if mode.reach && !s.cat.ReadOnly() {
		if err := a.recordLock(s); err != nil {
			return nil, err
		}
	}
	if mode.reach && !s.cat.ReadOnly() && (conn.region != "" || conn.endpoint != "") && conn != (connection{t.Region, t.Endpoint}) {
		if err := s.cat.SetConnection(t.ID, conn.region, conn.endpoint); err != nil {
			return nil, err
		}
		s.target.Region, s.target.Endpoint = conn.region, conn.endpoint
	}
	if mode.touch {
		if err := s.cat.TouchTarget(t.ID); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// createLocal makes the missing local store folder of loc, unless the
// catalogue records backups there (the disk is probably not connected) or
// the command may not create stores.
func (a *app) createLocal(s *session, loc string, t catalog.Target, found bool, mode sessionMode) error {
	dir := strings.TrimPrefix(loc, "local:")
	if !mode.create {
		return usagef("check --local-store (is the disk connected?), or run a sync first", "local store %s does not exist", dir)
	}
	if found {
		counts, err := s.cat.EncodingCounts(t.ID)
		if err != nil {
			return err
		}
		if len(counts) > 0 {
			return usagef(fmt.Sprintf("connect the disk that holds it; if the store was moved, tell the catalogue with: grsync target move %s NEWPATH", dir),
				"local store %s does not exist, but the catalogue %s records backups in it; nothing was created or uploaded", dir, a.g.db)
		}
	}
	var err error
	s.store, _, s.probe, err = a.openStore(loc, true, connection{}, lockSetting{mode: a.g.lockMode, days: a.g.lockDays})
	return err
}

// checkIdentity refuses a store that is not the one the catalogue recorded
// for the target: another store id, or no marker where the catalogue
// recorded one (a new or emptied folder, another disk at the same path).
func checkIdentity(s *session) error {
	t, m := s.target, s.marker
	if s.store == nil || t.StoreID == "" || !m.Supported {
		return nil
	}
	const hint = "check the path, bucket or vault (is the right disk connected?); to start a new backup in this store, use another catalogue (--db)"
	if !m.Present {
		return usagef(hint, "%s is not the store the catalogue %s backed up to: it has no store marker, and the catalogue recorded store id %s for it",
			t.Location, s.cat.Path(), t.StoreID)
	}
	if m.ID != t.StoreID {
		return usagef(hint, "%s is not the store the catalogue %s backed up to: its store id is %s, the catalogue recorded %s",
			t.Location, s.cat.Path(), m.ID, t.StoreID)
	}
	return nil
}

// checkStore checks the store's marker against what the command is about
// to do (engine.CheckStore), before anything is uploaded or read, and
// records the store's id in the catalogue once the key fits. Without a
// store (a command that reads only the catalogue) there is nothing to
// check beyond the catalogue's own key check.
func (a *app) checkStore(s *session, use engine.StoreUse) error {
	if s.store == nil {
		return nil
	}
	use.Key, use.Probe = s.key, s.probe
	var t catalog.Target
	var cat *catalog.Catalog
	if use.Look {
		t, cat = s.target, s.cat
	}
	res, err := engine.CheckStore(a.ctx, s.store, cat, t, s.marker, use)
	if err != nil {
		return err
	}
	s.marker = res.Marker
	if res.Wrote != "" {
		kind := "unencrypted"
		if res.Marker.Encrypted() {
			kind = "this key's"
		}
		a.log.Info(fmt.Sprintf("marked %s as %s store (%s)", s.store.Location(), kind, res.Wrote), "store id", res.Marker.ID)
	}
	if res.Marker.Present && s.target.StoreID == "" && !s.cat.ReadOnly() {
		if err := s.cat.SetStoreID(s.target.ID, res.Marker.ID); err != nil {
			return err
		}
		s.target.StoreID = res.Marker.ID
	}
	return nil
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
