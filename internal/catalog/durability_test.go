package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRolledBackRecordLeavesNothing(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	boom := errors.New("interrupted")
	c.hooks.beforeCommit = func() error { return boom }
	_, err := c.Record(version(tg.ID, "/a", 1, time.Now()))
	wantErrIs(t, err, boom)
	err = c.MarkDeleted(tg.ID, []string{"/a"}, time.Time{})
	wantErrIs(t, err, boom)
	c.hooks.beforeCommit = nil
	var n int
	c.db.QueryRow("SELECT count(*) FROM sync_history").Scan(&n)
	equal(t, "rows after rolled-back writes", n, 0)
	mustRecord(t, c, version(tg.ID, "/a", 1, time.Now()))
}

func TestProcessKilledInsideRecordLeavesNoHalfRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grsync.db")
	code, out := runHelper(t, "crash-in-record", path)
	if code != 7 {
		t.Fatalf("helper exited %d, want 7 (killed before commit): %s", code, out)
	}
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	defer c.Close()
	tg, ok, err := c.Target("local:/backup")
	if err != nil || !ok {
		t.Fatalf("target committed before the crash is gone: %v %v", ok, err)
	}
	if _, ok, _ := c.Latest(tg.ID, "/crash/me"); ok {
		t.Fatal("the interrupted Record is in the catalogue")
	}
	var n int
	c.db.QueryRow("SELECT count(*) FROM sync_history").Scan(&n)
	equal(t, "rows", n, 0)
}

func TestProcessKilledInsideMigrationLeavesLegacyCatalog(t *testing.T) {
	path := copyFile(t, fixture, t.TempDir(), "glacier.db")
	before := legacyRows(t, rawDB(t, fixture, true))
	code, out := runHelper(t, "crash-in-migrate", path)
	if code != 7 {
		t.Fatalf("helper exited %d, want 7 (killed before commit): %s", code, out)
	}
	db := rawDB(t, path, false)
	var version int
	db.QueryRow("PRAGMA user_version").Scan(&version)
	equal(t, "user_version after interrupted migration", version, 0)
	var cols int
	db.QueryRow("SELECT count(*) FROM pragma_table_info('sync_history')").Scan(&cols)
	equal(t, "columns after interrupted migration", cols, 9)
	equal(t, "rows after interrupted migration", legacyRows(t, db), before)
	db.Close()

	// The next run migrates.
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok, _ := c.Target("glacier::my-vault"); !ok {
		t.Fatal("legacy target missing after the second migration attempt")
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Fatalf("lock file: %v", err)
	}
}

func TestFloatSecondsMatchesPython(t *testing.T) {
	// Pairs printed by CPython 3.11: os.utime(f, ns=(n, n)); repr(os.path.getmtime(f)).
	for ns, want := range map[int64]float64{
		1656247381085762037: 1656247381.085762,
		582057716445789000:  582057716.445789,
		1437666554764512283: 1437666554.7645123,
		1700000000250000000: 1700000000.25,
	} {
		if got := floatSeconds(ns); got != want {
			t.Errorf("floatSeconds(%d) = %v, want %v", ns, got, want)
		}
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	c := newCatalog(t)
	tg := mustTarget(t, c, "local:/backup")
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	errs := make(chan error, 8)
	for w := range 4 {
		go func() {
			for i := range 15 {
				if _, err := c.Record(version(tg.ID, fmt.Sprintf("/w%d/%d", w, i), 1, at)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
		go func() {
			for range 15 {
				if _, err := c.LatestStates(tg.ID, []string{fmt.Sprintf("/w%d", w)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	states, err := c.LatestStates(tg.ID, nil)
	if err != nil || len(states) != 60 {
		t.Fatalf("%d paths after concurrent writes (%v), want 60", len(states), err)
	}
}
