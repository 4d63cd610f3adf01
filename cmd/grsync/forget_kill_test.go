package main

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// copyCatalogue copies the catalogue db (and its WAL files, if any) to dst.
func copyCatalogue(t *testing.T, db, dst string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(db))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(db)) {
			copyFile(t, filepath.Join(filepath.Dir(db), e.Name()), dst+strings.TrimPrefix(e.Name(), filepath.Base(db)), 0o600)
		}
	}
}

// forgottenRows counts the rows of the catalogue db marked forgotten.
func forgottenRows(t *testing.T, db string) int {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int
	if err := c.QueryRow(`SELECT count(*) FROM sync_history WHERE forgotten_at IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Kill -9 at seeded random moments during forget (of thousands of
// versions), each time on a fresh copy of the catalogue: every killed run
// leaves it exactly as before (nothing forgotten) or exactly as after a
// complete run (every version the rules drop forgotten), never between;
// and forget run again then finishes it.
func TestForgetKill9(t *testing.T) {
	t.Parallel()
	rng := crashRand(t, 0x9e3779b97f4a7c15)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for d := 0; d < 3; d++ {
		for i := 0; i < 1000; i++ {
			writeFile(t, filepath.Join(src, "d"+strconv.Itoa(i%10), "f"+strconv.Itoa(i)), []byte("day "+strconv.Itoa(d)+" file "+strconv.Itoa(i)), time.Unix(1700000000+int64(d), 0))
		}
		mustRun(t, dir, 0, "--local-store", "st", "--quiet", src)
	}
	db := filepath.Join(dir, "glacier.db")
	forget := func(copy string) *exec.Cmd {
		cmd := exec.Command(grsyncBin, "--db", copy, "forget", "--keep-last", "1")
		cmd.Dir, cmd.Env = dir, cleanEnv()
		return cmd
	}
	// A complete run: what "after" is, and how long a run takes.
	full := filepath.Join(dir, "full.db")
	copyCatalogue(t, db, full)
	start := time.Now()
	if out, err := forget(full).CombinedOutput(); err != nil {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	took := time.Since(start)
	after := forgottenRows(t, full)
	if after < 2000 {
		t.Fatalf("a complete forget forgot %d versions; want the 2,000 older file versions at least", after)
	}
	kills := crashKills()
	killed, before, done := 0, 0, 0
	for k := 0; killed < kills; k++ {
		if k == 3*kills {
			t.Fatalf("only %d of %d forgets were killed before they finished; want %d kills", killed, k, kills)
		}
		copy := filepath.Join(dir, "kill"+strconv.Itoa(k)+".db")
		copyCatalogue(t, db, copy)
		if d, finished := runOrKill(t, forget(copy), time.Duration((0.05+0.95*rng.Float64())*float64(took))); finished {
			took = d
			done++
			if n := forgottenRows(t, copy); n != after {
				t.Fatalf("forget %d finished with %d versions forgotten, want %d", k, n, after)
			}
			continue
		}
		killed++
		switch n := forgottenRows(t, copy); n {
		case 0:
			before++
		case after:
		default:
			t.Fatalf("forget %d killed: %d versions forgotten, neither none nor all %d", k, n, after)
		}
		mustRun(t, dir, 0, "--db", copy, "forget", "--keep-last", "1")
		if n := forgottenRows(t, copy); n != after {
			t.Fatalf("forget after kill %d: %d versions forgotten, want %d", k, n, after)
		}
	}
	t.Logf("%d forgets killed (%d left nothing forgotten, %d everything), %d finished first; a complete one took %v", killed, before, killed-before, done, took)
}
