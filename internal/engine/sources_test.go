package engine

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
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
