package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/testutil/moto"
)

// bucketKeySet is the set of a bucket's keys.
func bucketKeySet(t *testing.T, c *s3.Client, bucket string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for k := range bucketState(t, c, bucket) {
		out[k] = true
	}
	return out
}

// The nightly machine syncs with append-only credentials (every delete
// answered AccessDenied, as S3 answers such a policy): its runs complete.
// forget then frees the pack that only a.txt's middle version used. A
// prune with those credentials deletes nothing, says so in one line with
// what to run, and exits 1; the same prune with full rights deletes
// exactly that pack (the bucket's keys before and after differ by it),
// and every kept version still restores.
func TestMotoAppendOnlySyncThenFullPrune(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "nightly")
	proxy, denied := appendOnlyProxy(t, m.URL)
	appendOnly := append(m.Env(), "AWS_ENDPOINT_URL="+proxy)
	full := m.Env()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	db := filepath.Join(dir, "glacier.db")
	target := []string{"--db", db, "--region", "us-east-1", "--bucket", "nightly", "--storage-class", "STANDARD", "--encryption-key-file", key}
	run := func(env []string, d float64, want int, args ...string) result {
		t.Helper()
		return mustRunEnv(t, dir, append(slices.Clone(env), "GRSYNC_FAKE_NOW="+pruneDay(d).Format(time.RFC3339)), want, append(args, target...)...)
	}
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a, night 0"), pruneDay(0))
	writeFile(t, filepath.Join(src, "b.txt"), []byte("b, never changes"), pruneDay(0))
	writeFile(t, filepath.Join(src, "big.bin"), randomBytes(t, 12<<20), pruneDay(0)) // a multipart pack
	run(appendOnly, 0, 0, src)
	if denied.Load() == 0 {
		t.Fatal("the sync tried no delete: the test does not exercise append-only credentials")
	}
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a, night 1, longer"), pruneDay(1))
	run(appendOnly, 1, 0, src)
	a1 := firstArchiveOf(t, db, filepath.Join(src, "a.txt"))
	middle := archiveOf(t, db, filepath.Join(src, "a.txt")) // the pack of night 1: a.txt alone
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a, night 2"), pruneDay(2))
	run(appendOnly, 2, 0, src)
	copyTree(t, src, filepath.Join(dir, "snap"))
	if a1 == middle {
		t.Fatal("a.txt's first and second versions share a pack")
	}

	mustRunEnv(t, dir, nil, 0, "forget", "--db", db, "--keep-last", "1", filepath.Join(src, "a.txt"))
	before := bucketKeySet(t, c, "nightly")
	deniedBefore := denied.Load()
	r := run(appendOnly, 3, 1, "prune")
	wantSummary(t, r, "1 object could not be deleted: these credentials may not delete (append-only); they stay condemned in "+db+
		": run grsync prune --db "+db+" with credentials that may")
	if denied.Load() == deniedBefore {
		t.Error("the append-only prune sent no delete")
	}
	// It may add (the catalogue snapshot that records the condemned
	// objects) but deletes nothing.
	mid := bucketKeySet(t, c, "nightly")
	for k := range before {
		if !mid[k] {
			t.Errorf("an append-only prune deleted %s", k)
		}
	}

	r = run(full, 3, 0, "prune")
	wantSummary(t, r, "deleted 1 object")
	after := bucketKeySet(t, c, "nightly")
	var gone []string
	for k := range mid {
		if !after[k] {
			gone = append(gone, k)
		}
	}
	if len(gone) != 1 || !strings.HasSuffix(gone[0], "/"+middle) {
		t.Errorf("the full prune deleted %v; want exactly the pack of a.txt's forgotten middle version, %s", gone, middle)
	}
	if !after["grsync/"+a1] {
		t.Errorf("the pack of a.txt's first version (b.txt's too) was deleted")
	}
	r = run(full, 4, 0, "restore", "--output", filepath.Join(dir, "out"))
	sameTree(t, filepath.Join(dir, "snap"), filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
	r = run(full, 4, 0, "verify")
	wantSummary(t, r, "0 missing, 0 unknown, 0 with another size")
}
