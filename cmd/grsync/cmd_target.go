package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/ui"
)

func (a *app) targetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target move OLD NEW",
		Short: "Tell the catalogue that a store moved (a local store now at another path)",
	}
	move := &cobra.Command{
		Use:   "move OLD NEW",
		Short: "Make the catalogue's target OLD use the store at NEW",
		Long: `Tell the catalogue that the store it knows at OLD is now at NEW, for instance an
external disk mounted at another path: every backup recorded for OLD then refers
to NEW, and sync, restore and ls use it. OLD and NEW are local store folders, or
target locations as grsync prints them (local:/DIR, s3:BUCKET/PREFIX,
glacier:REGION:VAULT). NEW must hold the store's marker with the store id the
catalogue recorded for OLD; when the catalogue recorded none yet, NEW must hold
every archive the catalogue records for OLD. Nothing is copied or uploaded.

A sync or restore given a moved local store with --local-store NEW follows it by
itself, saying so; this command is for doing it explicitly, and for a copy of
a store whose original still exists.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return a.runTargetMove(args[0], args[1]) },
	}
	cmd.AddCommand(move)
	return cmd
}

// locationArg reads a target argument: a location with its scheme, or a
// local store folder.
func locationArg(arg string) (string, error) {
	for _, scheme := range []string{"local:", "s3:", "glacier:"} {
		if strings.HasPrefix(arg, scheme) {
			if rest, ok := strings.CutPrefix(arg, "local:"); ok {
				return "local:" + filepath.Clean(rest), nil
			}
			return arg, nil
		}
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return "", asUsage(err, "check the path")
	}
	return "local:" + filepath.Clean(abs), nil
}

func (a *app) runTargetMove(oldArg, newArg string) error {
	oldLoc, err := locationArg(oldArg)
	if err != nil {
		return err
	}
	newLoc, err := locationArg(newArg)
	if err != nil {
		return err
	}
	if oldLoc == newLoc {
		return usagef("give the old location first, then the new one", "OLD and NEW are the same: %s", oldLoc)
	}
	if !fileExists(a.g.db) {
		return usagef("give the catalogue with --db FILE", "no catalogue at %s", a.g.db)
	}
	st, _, probe, err := a.openStore(newLoc, false, connection{}, lockSetting{})
	if err != nil {
		return err
	}
	defer st.Close()
	cat, err := a.openCatalog(false)
	if err != nil {
		return err
	}
	defer cat.Close()
	t, found, err := cat.Target(oldLoc)
	if err != nil {
		return err
	}
	if !found {
		return usagef("give the location the backups were made to (grsync ls shows it in the TARGET column)",
			"the catalogue %s has no target %s", a.g.db, oldLoc)
	}
	m, err := engine.ReadMarker(a.ctx, st)
	if err != nil {
		return err
	}
	const hint = "check NEW: it must be the store the backups of OLD were made to (or a complete copy of it)"
	switch {
	case !m.Supported:
		return usagef(hint, "%s cannot carry a store marker, so grsync cannot tell that it is the store the catalogue knows at %s", newLoc, oldLoc)
	case !m.Present:
		return usagef(hint, "%s has no store marker: it is not a store grsync can tell is the one the catalogue knows at %s", newLoc, oldLoc)
	case t.StoreID != "" && m.ID != t.StoreID:
		return usagef(hint, "%s is not the store the catalogue knows at %s: its store id is %s, the catalogue recorded %s", newLoc, oldLoc, m.ID, t.StoreID)
	case t.StoreID == "":
		if err := a.holdsArchives(st, probe, cat, t); err != nil {
			return err
		}
	}
	if a.g.key != "" || a.g.keyFile != "" || os.Getenv(keyEnv) != "" {
		key, err := a.loadKey()
		if err != nil {
			return err
		}
		s := &session{cat: cat, target: t, store: st, key: key, probe: probe, marker: m}
		if err := a.checkStore(s, engine.StoreUse{}); err != nil {
			return err
		}
	}
	moved, err := cat.MoveTarget(t.ID, newLoc)
	if errors.Is(err, catalog.ErrTargetExists) {
		return usagef("use another catalogue (--db) for one of the two", "the catalogue %s already has backups in %s", a.g.db, newLoc)
	}
	if err != nil {
		return err
	}
	if moved.StoreID == "" {
		if err := cat.SetStoreID(moved.ID, m.ID); err != nil {
			return err
		}
	}
	a.out.Summary(targetMoveSummary{Command: "target move", Target: newLoc, From: oldLoc, StoreID: m.ID})
	return nil
}

// targetMoveSummary is what target move did (JSON "summary").
type targetMoveSummary struct {
	Command string `json:"command"`
	Target  string `json:"target"` // where the catalogue's target is now
	From    string `json:"from"`   // where it was
	StoreID string `json:"store_id"`
}

func (targetMoveSummary) MessageType() string { return "summary" }

func (m targetMoveSummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "the catalogue's target %s is now %s (store id %s)\n", ui.Name(m.From), ui.Name(m.Target), m.StoreID)
}

// holdsArchives checks that st holds every archive the catalogue records
// for t: how a store is recognised when the catalogue has no store id.
func (a *app) holdsArchives(st store.Store, probe engine.StoreProbe, cat *catalog.Catalog, t catalog.Target) error {
	want, err := cat.ArchiveIDs(t.ID)
	if err != nil {
		return err
	}
	if !probe.ListsAtOnce {
		return usagef("run a sync to the store at its old location first, so that the catalogue records its id",
			"the catalogue recorded no store id for %s, and %s cannot be listed at once to compare its archives", t.Location, st.Location())
	}
	ctx := a.ctx
	r, err := st.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	if err != nil {
		return err
	}
	_, err = st.Inventory(ctx, r, func(ar store.Archive) error {
		delete(want, ar.ID)
		return nil
	})
	if err != nil {
		return err
	}
	if len(want) > 0 {
		return usagef("check NEW: it must be the store the backups of OLD were made to (or a complete copy of it)",
			"%s lacks %d of the archives the catalogue records for %s", st.Location(), len(want), t.Location)
	}
	return nil
}

// followStore finds the target of a store the catalogue does not know at
// loc but knows by its store id (the marker's): a local store moved to
// another path. A moved local store (nothing with that id is left at the
// old path) is followed: the catalogue's target moves to loc, saying so,
// or, with a read-only catalogue, is used at loc for this run. A copy (the
// original still exists, or a store that is not local) is refused by
// commands that write backups, since backing up to both would split the
// backup, and read by the others.
func (a *app) followStore(s *session, loc string, mode sessionMode) (catalog.Target, bool, error) {
	m := s.marker
	if !m.Present {
		return catalog.Target{}, false, nil
	}
	ts, err := s.cat.TargetsByStoreID(m.ID)
	if err != nil || len(ts) == 0 {
		return catalog.Target{}, false, err
	}
	t := ts[0]
	for _, c := range ts[1:] {
		if c.LastUsed.After(t.LastUsed) {
			t = c
		}
	}
	newDir, isLocal := strings.CutPrefix(loc, "local:")
	oldDir, oldLocal := strings.CutPrefix(t.Location, "local:")
	if isLocal && oldLocal && sameDir(oldDir, newDir) {
		return t, true, nil // the same folder under another name (a symlink)
	}
	if isLocal && oldLocal && !holdsStore(a.ctx, oldDir, m.ID) {
		if s.cat.ReadOnly() {
			a.notef("the local store the catalogue knows at %s is now at %s (the same store id); using it for this run (a sync records the move, or: grsync target move %s %s)",
				oldDir, newDir, oldDir, newDir)
			t.Location = loc
			return t, true, nil
		}
		moved, err := s.cat.MoveTarget(t.ID, loc)
		if errors.Is(err, catalog.ErrTargetExists) {
			return t, false, usagef("use another catalogue (--db) for one of the two",
				"%s is the store the catalogue knows at %s, but the catalogue also has other backups in %s", newDir, oldDir, newDir)
		}
		if err != nil {
			return t, false, err
		}
		a.notef("the local store moved from %s to %s (the same store id): the catalogue now uses %s", oldDir, newDir, newDir)
		return moved, true, nil
	}
	if mode.create || mode.touch {
		return t, false, usagef(fmt.Sprintf("back up to %s, or make %s the catalogue's store from now on with: grsync target move %s %s", t.Location, loc, t.Location, loc),
			"%s holds the same store (store id %s) as %s, which the catalogue %s knows: it is a copy, and backing up to both would split the backup",
			loc, m.ID, t.Location, a.g.db)
	}
	a.notef("reading %s, a copy of the store the catalogue knows at %s (the same store id)", loc, t.Location)
	t.Location = loc
	return t, true, nil
}

// holdsStore reports whether the local store folder dir exists and holds
// the store with id.
func holdsStore(ctx context.Context, dir, id string) bool {
	st, err := local.Open(dir, local.Options{})
	if err != nil {
		return false
	}
	defer st.Close()
	m, err := engine.ReadMarker(ctx, st)
	return err == nil && m.Present && m.ID == id
}

// sameDir reports whether two paths name the same existing folder.
func sameDir(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// notef prints a notice to stderr, whatever the log level: something the
// user must know about what grsync did.
func (a *app) notef(format string, args ...any) {
	fmt.Fprintf(a.stderr, "grsync: "+format+"\n", args...)
}
