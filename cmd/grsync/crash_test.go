package main

import (
	"database/sql"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/testutil/moto"
)

// crashKills is how many times the crash test kills grsync: 20 by default
// (CI), more with GRSYNC_CRASH_KILLS=N for a longer local run.
func crashKills() int {
	if n, err := strconv.Atoi(os.Getenv("GRSYNC_CRASH_KILLS")); err == nil && n > 0 {
		return n
	}
	return 20
}

// Kill -9 at seeded random moments during sync, each time followed by
// changes to the source and another (killed) run; then a complete run.
// After it: verify is clean, no upload is left open, no version is recorded
// twice or points at a missing archive, and everything restores identical.
func TestCrashKill9DuringSync(t *testing.T) {
	t.Parallel()
	crashSync(t, nil, []string{"--local-store", "st"}, nil)
}

// The same against the Glacier emulator: multipart uploads left open by a
// kill are aborted by the next sync; archives stored but never recorded are
// listed by verify (which never deletes) through the vault's inventory.
func TestCrashKill9DuringSyncToVault(t *testing.T) {
	t.Parallel()
	_, env := emulator(t, glacieremu.Config{MinPartSize: 1 << 20}, "v")
	crashSync(t, env, []string{"--vault", "v", "--region", "us-east-1", "--part-size", "1048576"},
		[]string{"--wait", "--poll", "50ms"})
}

// The same against moto's S3 (a third-party emulator): unfinished multipart
// uploads are aborted the same way; objects never recorded are listed.
func TestCrashKill9DuringSyncToMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	createBucket(t, s3Client(m), "crash-bucket")
	crashSync(t, m.Env(), []string{"--bucket", "crash-bucket", "--region", "us-east-1", "--storage-class", "STANDARD"}, nil)
}

// runOrKill starts cmd and kills it (SIGKILL) once it has run for after,
// unless it ends first; it reports how long it ran and whether it ended on
// its own.
func runOrKill(t *testing.T, cmd *exec.Cmd, after time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan time.Duration, 1)
	go func() { cmd.Wait(); exited <- time.Since(start) }()
	select {
	case d := <-exited:
		return d, true
	case <-time.After(after):
		cmd.Process.Signal(syscall.SIGKILL)
		return <-exited, false
	}
}

// crashRand returns the random source of a kill test: seeded from the
// clock, or from GRSYNC_CRASH_SEED to replay a run; the seed is logged.
func crashRand(t *testing.T, salt uint64) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("GRSYNC_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (rerun with GRSYNC_CRASH_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^salt))
}

func crashSync(t *testing.T, env, target, verifyFlags []string) {
	rng := crashRand(t, 0x9e3779b97f4a7c15)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	names := make([]string, 40)
	mtime := time.Unix(1700000000, 0)
	rewrite := func(i int) {
		mtime = mtime.Add(time.Second)
		size := rng.IntN(3 << 20)
		if rng.IntN(5) == 0 {
			size = rng.IntN(100)
		}
		writeFile(t, filepath.Join(src, names[i]), randomBytes(t, size), mtime)
	}
	for i := range names {
		names[i] = filepath.Join("d"+strconv.Itoa(i%4), "f"+strconv.Itoa(i)+".bin")
		rewrite(i)
	}
	key := newKey(t, dir)
	args := append(append([]string{}, target...), "--encryption-key-file", key, "--jobs", "3", "--quiet", src)

	kills := crashKills()
	for k := 0; k < kills; k++ {
		for j := 0; j < 4; j++ {
			rewrite(rng.IntN(len(names)))
		}
		if rng.IntN(6) == 0 { // also delete one, so tombstones are written
			os.Remove(filepath.Join(src, names[rng.IntN(len(names))]))
		}
		cmd := exec.Command(grsyncBin, args...)
		cmd.Dir, cmd.Env = dir, append(cleanEnv(), env...)
		runOrKill(t, cmd, time.Duration(rng.IntN(400))*time.Millisecond)
	}

	// A complete run, then the checks.
	mustRunEnv(t, dir, env, 0, args...)
	r := mustRunEnv(t, dir, env, 0, append([]string{"verify"}, verifyFlags...)...)
	t.Logf("after %d kills: %s", kills, strings.TrimSpace(r.stdout))
	if !strings.Contains(r.stdout, "0 missing, 0 unknown, 0 with another size") {
		t.Errorf("verify must be clean after the crashes:\n%s", r)
	}
	if r := mustRunEnv(t, dir, env, 0, "uploads", "list"); !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Errorf("uploads left open:\n%s", r)
	}
	if r := mustRunEnv(t, dir, env, 0, append([]string{"verify"}, verifyFlags...)...); !strings.Contains(r.stdout, "0 missing, 0 unknown") || strings.Contains(r.stdout, "removed") {
		t.Errorf("a second verify must find nothing more:\n%s", r)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "glacier.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dups int
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT path, mtime_ns, file_size, content_hash, count(*) n
		FROM sync_history WHERE deleted = 0 GROUP BY 1, 2, 3, 4 HAVING n > 1)`).Scan(&dups); err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Errorf("%d file versions are recorded more than once", dups)
	}
	restore := append([]string{"restore", "--encryption-key-file", key, "--output", "out"}, verifyFlags...)
	mustRunEnv(t, dir, env, 0, restore...)
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
}

// Kill -9 at seeded random moments during restore: a file under its final
// name is always complete and identical; the next restore finishes the job
// and leaves no temporary file behind.
func TestCrashKill9DuringRestore(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for i := 0; i < 30; i++ {
		writeFile(t, filepath.Join(src, "f"+strconv.Itoa(i)+".bin"), randomBytes(t, 1+rng.IntN(3<<20)), time.Unix(1700000000+int64(i), 0))
	}
	key := newKey(t, dir)
	mustRun(t, dir, 0, "--local-store", "st", "--encryption-key-file", key, "--quiet", src)
	out := filepath.Join(dir, "out")
	restored := filepath.Join(out, strings.TrimPrefix(src, "/"))
	kills := crashKills() / 2
	for k := 0; k < kills; k++ {
		cmd := exec.Command(grsyncBin, "restore", "--encryption-key-file", key, "--output", out, "--jobs", "2", "--quiet")
		cmd.Dir, cmd.Env = dir, cleanEnv()
		runOrKill(t, cmd, time.Duration(rng.IntN(150))*time.Millisecond)
		// Whatever exists under a final name is complete (the kill may
		// come before the folder is even created).
		if _, err := os.Stat(restored); err != nil {
			continue
		}
		for rel := range treeFiles(t, restored) {
			if strings.Contains(rel, ".grsync-") {
				continue
			}
			want, _ := os.ReadFile(filepath.Join(src, rel))
			got, _ := os.ReadFile(filepath.Join(restored, rel))
			if string(want) != string(got) {
				t.Fatalf("after kill %d, %s is under its final name but not complete", k, rel)
			}
		}
	}
	mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", out)
	sameTree(t, src, restored, checkMeta)
}
