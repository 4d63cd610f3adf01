package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/grsync/grsync/internal/format"
)

func TestDedupSourcesKeepsEachFolderOnce(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"src/sub", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "src"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	p := func(s string) string { return filepath.Join(dir, s) }
	cases := []struct{ in, want []string }{
		{[]string{p("src"), p("src/sub"), p("src")}, []string{p("src")}},
		{[]string{p("src/sub"), p("other"), p("src")}, []string{p("other"), p("src")}},
		{[]string{p("link"), p("src/sub"), p("src")}, []string{p("link")}},
		{[]string{p("src"), p("other"), p("missing")}, []string{p("src"), p("other"), p("missing")}},
		{[]string{p("src2"), p("src")}, []string{p("src2"), p("src")}}, // a shared name prefix is not nesting
	}
	for _, c := range cases {
		got, notes := DedupSources(c.in)
		if !slices.Equal(got, c.want) {
			t.Errorf("DedupSources(%q) = %q, want %q", c.in, got, c.want)
		}
		if len(notes) != len(c.in)-len(got) {
			t.Errorf("DedupSources(%q): %d notes for %d dropped sources: %v", c.in, len(notes), len(c.in)-len(got), notes)
		}
	}
}

func TestOwnFilesRecognisedByNameAndIdentity(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "glacier.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(dir, "store")
	if err := os.Mkdir(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	o := newOwnSet(OwnFiles{Catalog: db, Stores: []string{storeDir}})
	st, other := statID(t, dir), statID(t, storeDir)
	for name, want := range map[string]string{
		"glacier.db": LeftCatalog, "glacier.db-wal": LeftCatalog, "glacier.db-shm": LeftCatalog,
		"glacier.db.lock": LeftCatalog, "glacier.db.pre-v7-20260101T000000.000000000Z.bak": LeftCatalog,
		"glacier.dbx": "", "glacier.db.bak": "", ".a.txt.grsync-42": LeftTemp,
		".grsync-download-0011223344556677.part": LeftTemp, "a.txt": "", ".a.txt.grsync-": "",
	} {
		if got := o.nameKind(st, name); got != want {
			t.Errorf("%s beside the catalogue: %q, want %q", name, got, want)
		}
	}
	if got := o.nameKind(other, "glacier.db"); got != "" {
		t.Errorf("a glacier.db in another folder is the user's: %q", got)
	}
	if !o.isStore(other) || o.rootKind(storeDir) != LeftStore || o.rootKind(db) != LeftCatalog {
		t.Error("the store and the catalogue named as sources are left out")
	}
}

func statID(t *testing.T, p string) fileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return idOf(&st)
}

// Content is stored once whether its copy is met while its pack is in
// flight, after that pack is committed in the same run (small packs: a
// pack a file or two), or in a later run; content of a size the target
// has never stored costs no catalogue lookup and is still stored.
func TestDedupAcrossPacksAndRuns(t *testing.T) {
	cfg, dir := setup(t, 0)
	cfg.PackSize = 1 // every member closes its pack
	src := filepath.Join(dir, "src")
	same := bytes.Repeat([]byte("same content "), 300)
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/first", same)
	for i := range 40 {
		write(fmt.Sprintf("b/other%02d", i), bytes.Repeat([]byte{byte(i)}, 100+i))
	}
	write("c/copy", same)
	write("d/copy", same)
	res, err := Sync(context.Background(), cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("sync: %v %+v", err, res.Failures)
	}
	if res.Uploaded != 41 || res.Deduplicated != 2 {
		t.Errorf("first run: %d stored, %d deduplicated; want 41 and 2", res.Uploaded, res.Deduplicated)
	}
	write("e/later", same)
	write("e/new", bytes.Repeat([]byte("n"), 4321)) // a size never stored
	res, err = Sync(context.Background(), cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("second sync: %v %+v", err, res.Failures)
	}
	if res.Uploaded != 1 || res.Deduplicated != 1 {
		t.Errorf("second run: %d stored, %d deduplicated; want 1 and 1", res.Uploaded, res.Deduplicated)
	}
}

// A pack of many tiny files is closed before its index passes the
// format's bound (lowered here to ten members' worth): without that, a
// tree of a few hundred thousand one-byte files overflowed the index and
// every file of the pack failed, in every run.
func TestPacksCloseBeforeTheirIndexIsFull(t *testing.T) {
	cfg, dir := setup(t, 0)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	name := func(i int) string { return filepath.Join(src, fmt.Sprintf("f%03d", i)) }
	cfg.packIndexMax = 10 * format.IndexLineMax(len(name(0)))
	for i := range 100 {
		if err := os.WriteFile(name(i), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Sync(context.Background(), cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("sync: %v %+v", err, res.Failures)
	}
	if res.Uploaded != 100 || res.Objects < 10 {
		t.Errorf("%d files stored in %d packs; want 100 files in at least 10 packs", res.Uploaded, res.Objects)
	}
	out := filepath.Join(dir, "out")
	opt := RestoreOptions{Output: out}
	plan, err := PlanRestore(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(context.Background(), cfg, opt, plan)
	if err != nil || r.Restored != 100 || len(r.Failures) > 0 {
		t.Fatalf("restore: %+v %v", r, err)
	}
	for i := range 100 {
		if b, err := os.ReadFile(filepath.Join(out, name(i))); err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Errorf("%s restored as %q, %v", name(i), b, err)
		}
	}
}
