package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
)

// pieceKinds returns the kinds of the pieces of path's latest version.
func pieceKinds(t *testing.T, cfg *Config, path string) []catalog.BlobKind {
	t.Helper()
	v, ok, err := cfg.Catalog.Latest(cfg.Target.ID, path)
	if err != nil || !ok {
		t.Fatalf("no version of %s: %v", path, err)
	}
	ps, err := cfg.Catalog.Pieces([]int64{v.ID})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []catalog.BlobKind
	for _, p := range ps[v.ID] {
		kinds = append(kinds, p.Kind)
	}
	return kinds
}

func restoreAll(t *testing.T, cfg *Config, out string) RestoreResult {
	t.Helper()
	opt := RestoreOptions{Output: out}
	plan, err := PlanRestore(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(context.Background(), cfg, opt, plan)
	if err != nil || len(r.Failures) > 0 {
		t.Fatalf("restore: %+v %v", r, err)
	}
	return r
}

// A pack threshold above the chunker's largest chunk stores the files
// between the two whole, streamed into their pack (never held in memory):
// one piece of kind file, content deduplicated by its hash like a small
// file's, and a file that changes between its hashing and its upload
// leaves nothing recorded of the read that raced the change (it is
// stored by the retry at the end of the run).
func TestLargeFilesStoredWholeUnderAHighThreshold(t *testing.T) {
	cfg, dir := setup(t, 0)
	cfg.PackThreshold = 64 << 20
	src := filepath.Join(dir, "src")
	big := make([]byte, 12<<20+321)
	rand.Read(big)
	changing := make([]byte, 10<<20+2) // a multiple of 6
	rand.Read(changing)
	files := map[string][]byte{"big.img": big, "copy.img": big, "changing.img": changing, "small.txt": []byte("small")}
	for name, b := range files {
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// changing.img is rewritten (same size, new content and mtime) after
	// its first hashing: the upload that follows reads other bytes.
	final := bytes.Repeat([]byte("final!"), len(changing)/6) // the same size: only its times tell
	cp := filepath.Join(src, "changing.img")
	rewrites := 0
	cfg.afterRead = func(p string) {
		if p == cp && rewrites == 0 {
			rewrites++
			os.WriteFile(cp, final, 0o644)
			os.Chtimes(cp, time.Now(), time.Now().Add(time.Hour))
		}
	}
	cfg.Jobs = 1 // one worker: big.img is stored before copy.img is looked up
	rec := &eventRecorder{}
	cfg.Observer = rec
	res, err := Sync(context.Background(), cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("sync: %v %+v", err, res.Failures)
	}
	if res.Uploaded != 3 || res.Deduplicated != 1 {
		t.Errorf("%d stored, %d deduplicated; want 3 (big.img, changing.img, small.txt) and 1 (copy.img)", res.Uploaded, res.Deduplicated)
	}
	if !rec.saw("trying again at the end") {
		t.Errorf("the file rewritten between its hashing and its upload must be tried again: %v", rec.notices)
	}
	for _, name := range []string{"big.img", "copy.img", "changing.img"} {
		if k := pieceKinds(t, cfg, filepath.Join(src, name)); len(k) != 1 || k[0] != catalog.BlobFile {
			t.Errorf("%s is stored as %v, want one whole-file piece", name, k)
		}
	}
	if res.UploadedBytes != int64(len(big)+len(final)+len("small")) {
		t.Errorf("%d bytes of new content, want %d: big.img once, changing.img as it ended, small.txt", res.UploadedBytes, len(big)+len(final)+5)
	}
	out := filepath.Join(dir, "out")
	if r := restoreAll(t, cfg, out); r.Restored != 4 {
		t.Fatalf("restored %d files, want 4", r.Restored)
	}
	files["changing.img"] = final
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(out, src, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s restored differs (%d bytes, want %d): %v", name, len(got), len(want), err)
		}
	}

	// Under the default threshold, a copy of that content is found by its
	// whole hash (the target holds whole content of its size): nothing is
	// chunked or stored.
	cfg.PackThreshold = 0
	if err := os.WriteFile(filepath.Join(src, "again.img"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Sync(context.Background(), cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) > 0 || res.Uploaded != 0 || res.Deduplicated != 1 {
		t.Fatalf("a copy under the default threshold: %v %+v", err, res)
	}
	if k := pieceKinds(t, cfg, filepath.Join(src, "again.img")); len(k) != 1 || k[0] != catalog.BlobFile {
		t.Errorf("the copy is stored as %v, want the whole piece already stored", k)
	}
}

// Content a grsync before packs stored as v1 archives (one archive per
// file, with its keyed content hash) is not stored again when a copy or a
// renamed file has it: a small file is found by its hash, a large one by
// its whole hash (computed because the target holds whole content of its
// size). Nothing is uploaded; the new versions point at the v1 archives
// and restore from them.
func TestDedupAgainstV1Archives(t *testing.T) {
	cfg, dir := setup(t, 0)
	src := filepath.Join(dir, "src")
	small := make([]byte, 200000)
	large := make([]byte, 3<<20+17)
	rand.Read(small)
	rand.Read(large)
	putV1Archive(t, cfg, filepath.Join(dir, "old", "small.bin"), small)
	putV1Archive(t, cfg, filepath.Join(dir, "old", "large.bin"), large)
	v1 := storeObjects(t, dir)
	for name, b := range map[string][]byte{"renamed-small.bin": small, "copy/large.bin": large} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Sync(context.Background(), cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("sync: %v %+v", err, res.Failures)
	}
	if res.Uploaded != 0 || res.Deduplicated != 2 || res.Objects != 0 || res.UploadedBytes != 0 {
		t.Errorf("copies of v1 content: %d uploaded (%d bytes, %d packs), %d deduplicated; want 0 and 2",
			res.Uploaded, res.UploadedBytes, res.Objects, res.Deduplicated)
	}
	// The run stored its version records and a catalogue snapshot, no pack.
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Kind == catalog.ObjectPack {
			t.Errorf("a pack was stored: %+v", o)
		}
	}
	if n := storeObjects(t, dir); n != v1+2 {
		t.Errorf("%d objects in the store, want the %d v1 archives + records + snapshot", n, v1)
	}
	for _, name := range []string{"renamed-small.bin", "copy/large.bin"} {
		if k := pieceKinds(t, cfg, filepath.Join(src, name)); len(k) != 1 || k[0] != catalog.BlobArchive {
			t.Errorf("%s points at %v, want its v1 archive", name, k)
		}
	}
	out := filepath.Join(dir, "out")
	restoreAll(t, cfg, out)
	for name, want := range map[string][]byte{"renamed-small.bin": small, "copy/large.bin": large} {
		if got, err := os.ReadFile(filepath.Join(out, src, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s restored from the v1 archive differs: %v", name, err)
		}
	}
}
