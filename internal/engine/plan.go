package engine

import (
	"fmt"
	"runtime/debug"

	"github.com/grsync/grsync/internal/catalog"
)

// The plan stage of a sync: every entry the walk finds is compared with
// the catalogue's latest state of its path, and gets an action. The
// states load (SQLite work) while the walk starts listing folders
// (file-system calls); entries found before they arrive wait in a list.

// action is what a sync does with an entry.
type action int

const (
	actUnchanged action = iota // same size and modification time (a file), same metadata (a folder, a symlink)
	actEntry                   // a folder or symlink, new or changed: record it
	actMeta                    // a file whose content is unchanged but whose mode or owner changed: record, no upload
	actContent                 // a file that is new or whose content changed: read and store it
)

// earlyMax bounds the entries that wait for the catalogue's states.
const earlyMax = 4096

// planner compares entries with the catalogue.
type planner struct {
	loaded chan loadedStates
	states map[string]catalog.State // nil until loaded
	early  []entry                  // entries found before the states arrived
	// restoreGC is the GOGC setting to return to (done), when the states
	// are many.
	restoreGC int
}

type loadedStates struct {
	states map[string]catalog.State
	err    error
}

// newPlanner starts loading the states of the paths under sources.
func newPlanner(cfg *Config, sources []string) *planner {
	pl := &planner{loaded: make(chan loadedStates, 1)}
	go func() {
		if cfg.Catalog == nil { // a dry run without a catalogue compares with nothing
			pl.loaded <- loadedStates{states: map[string]catalog.State{}}
			return
		}
		st, err := cfg.Catalog.LatestStates(cfg.Target.ID, sources)
		pl.loaded <- loadedStates{st, err}
	}()
	return pl
}

// await takes the states if they have arrived (or waits for them, when
// block is set).
func (pl *planner) await(block bool) error {
	if pl.states != nil {
		return nil
	}
	var l loadedStates
	if block {
		l = <-pl.loaded
	} else {
		select {
		case l = <-pl.loaded:
		default:
			return nil
		}
	}
	if l.err != nil {
		return fmt.Errorf("reading the catalogue: %w", l.err)
	}
	pl.states = l.states
	if len(pl.states) >= bigStates {
		// The states are most of the heap, and live until the run ends:
		// the default GOGC (100) lets the heap grow to twice them. At 50
		// a no-op re-sync of 1,000,000 files peaked at 422-424 MB
		// instead of 537-554 MB, in the same time (9.7-10.3 s).
		pl.restoreGC = debug.SetGCPercent(bigStatesGC)
	}
	return nil
}

// bigStates is the number of paths from which a sync collects garbage
// more often (bigStatesGC), for as long as it holds their states.
const (
	bigStates   = 250_000
	bigStatesGC = 50
)

// done gives the garbage collector back its setting.
func (pl *planner) done() {
	if pl.restoreGC != 0 {
		debug.SetGCPercent(pl.restoreGC)
		pl.restoreGC = 0
	}
}

// take is given the next entry of the walk and returns the entries that
// can be planned now: none while the states are loading, then every entry
// that waited, in order, and e.
func (pl *planner) take(e entry) ([]entry, error) {
	if err := pl.await(false); err != nil {
		return nil, err
	}
	if pl.states == nil && len(pl.early) >= earlyMax {
		// The walk is far ahead of the catalogue: wait, rather than hold
		// every entry of a big tree (a no-op re-sync of 1,000,000 files
		// held them all, ~1 GB).
		if err := pl.await(true); err != nil {
			return nil, err
		}
	}
	if pl.states == nil {
		pl.early = append(pl.early, e)
		return nil, nil
	}
	if len(pl.early) == 0 {
		return []entry{e}, nil
	}
	ready := append(pl.early, e)
	pl.early = nil
	return ready, nil
}

// flush waits for the states and returns the entries still waiting.
func (pl *planner) flush() ([]entry, error) {
	if err := pl.await(true); err != nil {
		return nil, err
	}
	ready := pl.early
	pl.early = nil
	return ready, nil
}

// plan returns what to do with e, and whether the catalogue knows its
// path; a known path is marked seen (deletedPaths). The states must have
// arrived (take and flush see to it).
func (pl *planner) plan(e entry) (action, bool) {
	st, known := pl.states[e.path]
	if known && !st.Seen {
		st.Seen = true
		pl.states[e.path] = st
	}
	if e.kind() != catalog.KindFile {
		if known && entryUnchanged(st, e) {
			return actUnchanged, known
		}
		return actEntry, known
	}
	if known && unchanged(st, e.info) {
		if !metaChanged(st, e.info) {
			return actUnchanged, known
		}
		return actMeta, known
	}
	return actContent, known
}
