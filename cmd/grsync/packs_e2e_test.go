package main

import (
	"database/sql"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/testutil/moto"
)

// pieceKinds returns the kinds of the pieces (file, chunk, archive) of
// the latest version of path in the catalogue db, in order.
func pieceKinds(t *testing.T, db, path string) []string {
	t.Helper()
	c, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.Query(`SELECT b.kind FROM version_pieces p JOIN blobs b ON b.id = p.blob_id
		WHERE p.version_id = (SELECT max(id) FROM sync_history WHERE path = ?) ORDER BY p.seq`, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var kinds []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return kinds
}

// wholeOrChunks says how pieceKinds stored a file: "whole" (one piece of
// a file), "chunks" (every piece a chunk), or the kinds themselves.
func wholeOrChunks(kinds []string) string {
	switch {
	case slices.Equal(kinds, []string{"file"}):
		return "whole"
	case len(kinds) > 0 && !slices.ContainsFunc(kinds, func(k string) bool { return k != "chunk" }):
		return "chunks"
	}
	return strings.Join(kinds, ",")
}

// --pack-threshold decides which files are stored whole (one member) and
// which in content-defined chunks: by default (1M) a 1.5 MiB file is
// chunked; with 2M it is whole and a 12 MiB one chunked; with 2G both are
// whole (the 12 MiB one streamed into its pack). Each target restores
// identically.
func TestPackThresholdChoosesWholeOrChunks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	mt := time.Unix(1700000000, 0)
	writeFile(t, filepath.Join(src, "small.txt"), randomBytes(t, 10000), mt)
	writeFile(t, filepath.Join(src, "mid.bin"), randomBytes(t, 3<<19+5), mt)
	writeFile(t, filepath.Join(src, "big.img"), randomBytes(t, 12<<20+7), mt)
	key := newKey(t, dir)
	for _, c := range []struct {
		threshold string // "" for the default
		want      map[string]string
	}{
		{"", map[string]string{"small.txt": "whole", "mid.bin": "chunks", "big.img": "chunks"}},
		{"2M", map[string]string{"small.txt": "whole", "mid.bin": "whole", "big.img": "chunks"}},
		{"2G", map[string]string{"small.txt": "whole", "mid.bin": "whole", "big.img": "whole"}},
	} {
		name := "default"
		if c.threshold != "" {
			name = c.threshold
		}
		db := filepath.Join(dir, name+".db")
		args := []string{"--db", db, "--local-store", filepath.Join(dir, "store-"+name), "--encryption-key-file", key}
		sync := append(slices.Clone(args), src)
		if c.threshold != "" {
			sync = append([]string{"--pack-threshold", c.threshold}, sync...)
		}
		r := mustRun(t, dir, 0, sync...)
		if !strings.Contains(r.stdout, "uploaded      3 files") {
			t.Fatalf("--pack-threshold %s:\n%s", name, r)
		}
		for file, want := range c.want {
			if got := wholeOrChunks(pieceKinds(t, db, filepath.Join(src, file))); got != want {
				t.Errorf("--pack-threshold %s: %s is stored as %s, want %s", name, file, got, want)
			}
		}
		out := filepath.Join(dir, "out-"+name)
		mustRun(t, dir, 0, append([]string{"restore", "--output", out}, args...)...)
		sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
		mustRun(t, dir, 0, append([]string{"verify", "--read-data"}, args...)...)
	}
}

// Sizes out of range, or not sizes at all, are refused before anything is
// created: exit 2, the flag and what to give instead.
func TestInvalidPackSizesRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "f"), []byte("content"), time.Time{})
	for _, c := range []struct {
		flag, value, fix string
	}{
		{"--pack-size", "512k", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-size", "5G", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-size", "lots", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-size", "-1M", "use 0 (one object per file) or a size from 1M to 4G"},
		{"--pack-threshold", "10k", "use a size from 64k to 1024G"},
		{"--pack-threshold", "0", "use a size from 64k to 1024G"},
		{"--pack-threshold", "2048G", "use a size from 64k to 1024G"},
		{"--pack-threshold", "1.5M", "use a size from 64k to 1024G"},
	} {
		r := mustRun(t, dir, 2, c.flag, c.value, "--local-store", "store", src)
		wantStderr(t, r, "invalid "+c.flag+` "`+c.value+`"`, c.fix)
		mustNotExist(t, filepath.Join(dir, "store"), filepath.Join(dir, "glacier.db"))
	}
}

// inventory --rebuild reads the indexes of packs that no version records
// object names: here the records of the second run are missing from the
// store and those of the third are damaged. The files of those runs come
// from their packs' indexes (with their sizes, modes and mtimes), the
// first run's from its records, and the rebuilt catalogue restores every
// file as it was last, also a file changed in both runs. After a fourth
// run, whose records are intact, a rebuild learns that file's versions
// of runs 2 and 3 after the newer one of run 4: the latest is still run
// 4's, and --at gives each run's.
func TestRebuildFromPackIndexes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	st := filepath.Join(dir, "store")
	key := newKey(t, dir)
	target := []string{"--local-store", st, "--encryption-key-file", key}
	runs := []func(){
		func() {
			writeFile(t, filepath.Join(src, "a.txt"), []byte("a, run 1"), time.Unix(1700000000, 0))
			writeFile(t, filepath.Join(src, "sub", "b.bin"), randomBytes(t, 30000), time.Unix(1700000001, 0))
		},
		func() {
			writeFile(t, filepath.Join(src, "a.txt"), []byte("a, run 2, longer"), time.Unix(1700000100, 0))
			writeFile(t, filepath.Join(src, "sub", "c.bin"), randomBytes(t, 50000), time.Unix(1700000101, 0))
			os.Chmod(filepath.Join(src, "sub", "c.bin"), 0o600)
		},
		func() {
			writeFile(t, filepath.Join(src, "a.txt"), []byte("a, run 3"), time.Unix(1700000200, 123456789))
			writeFile(t, filepath.Join(src, "d.txt"), []byte("d"), time.Unix(1700000201, 0))
		},
	}
	sync := func(d int) {
		t.Helper()
		env := []string{"GRSYNC_FAKE_NOW=" + pruneDay(float64(d)).Format(time.RFC3339)}
		mustRunEnv(t, dir, env, 0, append(slices.Clone(target), src)...)
		copyTree(t, src, filepath.Join(dir, "snap", strconv.Itoa(d)))
	}
	for d, run := range runs {
		run()
		sync(d)
	}
	_, objs := catalogObjects(t, filepath.Join(dir, "glacier.db"))
	var records []string
	for _, o := range objs {
		if o.Kind == "records" {
			records = append(records, o.ArchiveID)
		}
	}
	if len(records) != 3 {
		t.Fatalf("%d version records objects, want one per run", len(records))
	}
	for _, f := range []string{records[1], records[1] + ".json"} {
		if err := os.Remove(filepath.Join(st, "archives", f)); err != nil {
			t.Fatal(err)
		}
	}
	damaged := filepath.Join(st, "archives", records[2])
	data, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(damaged, data, 0o600); err != nil {
		t.Fatal(err)
	}

	fresh := filepath.Join(dir, "fresh.db")
	r := grsync(t, dir, nil, append([]string{"inventory", "--rebuild", "--db", fresh}, target...)...)
	// Run 1: a.txt and b.bin from its records; runs 2 and 3: a.txt twice,
	// c.bin and d.txt from their packs' indexes.
	if !strings.Contains(r.stdout, "6 file versions added (2 from version records, 4 from pack indexes, 0 from the Python tool)") {
		t.Fatalf("rebuild with records missing and damaged:\n%s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, records[2]) {
		t.Errorf("the damaged records object %s is not named:\n%s", records[2], r)
	}
	out := filepath.Join(dir, "out")
	mustRun(t, dir, 0, "restore", "--db", fresh, "--encryption-key-file", key, "--output", out)
	sameTree(t, src, filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)

	writeFile(t, filepath.Join(src, "a.txt"), []byte("a, run 4, the last"), time.Unix(1700000300, 0))
	sync(3)
	fresh = filepath.Join(dir, "fresh2.db")
	r = grsync(t, dir, nil, append([]string{"inventory", "--rebuild", "--db", fresh}, target...)...)
	if !strings.Contains(r.stdout, "7 file versions added (3 from version records, 4 from pack indexes, 0 from the Python tool)") {
		t.Fatalf("rebuild after a fourth run:\n%s", r)
	}
	for _, c := range []struct {
		at   float64
		snap int
	}{{3.5, 3}, {2.5, 2}, {1.5, 1}, {0.5, 0}} {
		out := filepath.Join(dir, "out-at-"+strconv.Itoa(c.snap))
		mustRun(t, dir, 0, "restore", "--db", fresh, "--encryption-key-file", key, "--output", out, "--at", pruneDay(c.at).Format(time.RFC3339))
		sameTree(t, filepath.Join(dir, "snap", strconv.Itoa(c.snap)), filepath.Join(out, strings.TrimPrefix(src, "/")), checkMeta)
	}
}

// requestCounter forwards to an S3 endpoint and counts the requests that
// match a predicate.
type requestCounter struct {
	URL string
	n   atomic.Int32
}

func newRequestCounter(t *testing.T, target string, match func(*http.Request) bool) *requestCounter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &requestCounter{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, ErrorLog: log.New(io.Discard, "", 0)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			c.n.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// A restore from DEEP_ARCHIVE of many files that share packs requests one
// RestoreObject per pack, not per file, and reads each pack with one GET
// (counted between grsync and moto): 40 small files in one pack, a
// chunked file in another.
func TestMotoRestoreThawsEachPackOnce(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	createBucket(t, s3Client(m), "thaw")
	gets := newRequestCounter(t, m.URL, func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/grsync/")
	})
	restores := newRequestCounter(t, gets.URL, func(r *http.Request) bool {
		_, ok := r.URL.Query()["restore"]
		return r.Method == http.MethodPost && ok
	})
	env := append(m.Env(), "AWS_ENDPOINT_URL="+restores.URL)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for i := range 40 {
		writeFile(t, filepath.Join(src, "small", strconv.Itoa(i)+".txt"), randomBytes(t, 2000+i), time.Unix(1700000000, 0))
	}
	writeFile(t, filepath.Join(src, "big.bin"), randomBytes(t, 5<<20), time.Unix(1700000000, 0))
	key := newKey(t, dir)
	target := []string{"--bucket", "thaw", "--region", "us-east-1", "--storage-class", "DEEP_ARCHIVE", "--encryption-key-file", key}
	mustRunEnv(t, dir, env, 0, append(slices.Clone(target), src)...)
	_, objs := catalogObjects(t, filepath.Join(dir, "glacier.db"))
	packs := 0
	for _, o := range objs {
		if o.Kind == "pack" {
			packs++
		}
	}
	if packs != 2 {
		t.Fatalf("%d packs, want 2 (the small files', the chunks')", packs)
	}
	if n := restores.n.Load(); n != 0 {
		t.Fatalf("the sync sent %d restore requests", n)
	}
	getsBefore := gets.n.Load()
	r := mustRunEnv(t, dir, env, 0, append([]string{"restore", "--output", "out", "--tier", "Bulk", "--wait", "--poll", "200ms", "--json"}, target...)...)
	// The members of a pack are read in windows of neighbours: one ranged
	// GET per pack here, not one per file or chunk.
	if n := gets.n.Load() - getsBefore; n != int32(packs) {
		t.Errorf("%d GetObject requests of packs for 41 files in %d packs, want one per pack", n, packs)
	}
	plan := ofType(jsonLines(t, "restore --json", r.stdout), "restore_plan")
	if len(plan) != 1 || plan[0]["files"] != float64(41) || plan[0]["archives"] != float64(2) {
		t.Errorf("restore plan: %v, want 41 files from 2 objects", plan)
	}
	if n := restores.n.Load(); n != int32(packs) {
		t.Errorf("%d RestoreObject requests for 41 files in %d packs, want one per pack", n, packs)
	}
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
}
