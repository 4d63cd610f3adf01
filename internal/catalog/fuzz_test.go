package catalog

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// FuzzPrefix checks that prefix selection, in Go and in SQL, matches a path
// exactly when it is the prefix or below it by whole path components.
func FuzzPrefix(f *testing.F) {
	for _, s := range [][2]string{
		{"/a/b", "/a/bc"}, {"/a/b/", "/a/b/x"}, {"/", "/x"}, {"/a%", "/a%b"}, {"/a_", "/ab"},
		{"/\xff", "/\xff/x"}, {"/a/b", "/a/b0"}, {"/a/b", "/a/b."}, {"rel", "rel/x"}, {"//", "/"},
		{"/a\n", "/a\n/b"}, {"/a/b", "/a/b\x01"}, {"a", "/a"}, {"/a//b", "/a//b/c"},
	} {
		f.Add(s[0], s[1])
	}
	c, err := Open(f.TempDir()+"/fuzz.db", OpenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	if _, err := c.db.Exec("PRAGMA synchronous = OFF"); err != nil {
		f.Fatal(err)
	}
	tg, err := c.EnsureTarget("local:/fuzz")
	if err != nil {
		f.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, prefix, path string) {
		cp, err := cleanPrefix(prefix)
		if prefix == "" || strings.IndexByte(prefix, 0) >= 0 {
			if err == nil {
				t.Fatalf("cleanPrefix(%q) accepted", prefix)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		// The reference: the prefix without trailing slashes, then a whole
		// component match.
		ref := func(p string) bool {
			trimmed := strings.TrimRight(prefix, "/")
			if trimmed == "" {
				return strings.HasPrefix(p, "/")
			}
			return p == trimmed || (len(p) > len(trimmed) && p[:len(trimmed)] == trimmed && p[len(trimmed)] == '/')
		}
		lo, hi := prefixRange(cp)
		inRange := path == cp || (path >= lo && path < hi)
		if inRange != ref(path) {
			t.Fatalf("prefix %q, path %q: range says %v, reference says %v", prefix, path, inRange, ref(path))
		}

		// The same through SQL, with neighbours of the prefix that must not match.
		cands := map[string]bool{}
		for _, p := range []string{path, cp, cp + "/x", cp + "x", cp + "0", cp + ".", cp + "\x7f", path + "/y",
			strings.TrimSuffix(cp, "/"), "/"} {
			if p != "" && strings.IndexByte(p, 0) < 0 {
				cands[p] = true
			}
		}
		err = c.update("fuzz rows", func(tx *sql.Tx) error {
			if _, err := tx.Exec("DELETE FROM sync_history"); err != nil {
				return err
			}
			for p := range cands {
				if _, err := insertVersion(tx, Version{TargetID: tg.ID, Path: p, ArchiveID: "x", Timestamp: at}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for p := range cands {
			if ref(p) {
				want = append(want, p)
			}
		}
		sort.Strings(want)
		vs, err := c.Select(tg.ID, []string{prefix}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		got := paths(vs)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("prefix %q: Select gave %q, want %q", prefix, got, want)
		}
		states, err := c.LatestStates(tg.ID, []string{prefix, prefix + "/sub"})
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != len(want) {
			t.Fatalf("prefix %q: LatestStates gave %d paths, want %q", prefix, len(states), want)
		}
		for p := range states {
			if !ref(p) {
				t.Fatalf("prefix %q: LatestStates selected non-descendant %q", prefix, p)
			}
		}
	})
}

// FuzzOpen feeds damaged catalogue files to Open: it must return a
// catalogue that answers queries, or an error, and never panic or hang; a
// read-only open must leave the file byte for byte as it was.
func FuzzOpen(f *testing.F) {
	legacy, err := os.ReadFile(fixture)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(legacy, false)
	f.Add(legacy, true)
	f.Add(legacy[:4096], true)
	f.Add([]byte{}, false)
	f.Add([]byte(sqliteMagic+"garbage"), true)
	f.Fuzz(func(t *testing.T, data []byte, readOnly bool) {
		path := filepath.Join(t.TempDir(), "glacier.db")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(path, OpenOptions{ReadOnly: readOnly})
		if err == nil {
			if ts, err := c.Targets(); err == nil {
				for _, tg := range ts {
					c.Select(tg.ID, nil, time.Time{})
					c.Summaries(tg.ID, []string{"/home"})
					c.LatestStates(tg.ID, nil)
				}
			}
			c.Close()
		}
		if readOnly {
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, data) {
				t.Fatalf("read-only open changed the file (%v)", err)
			}
		}
	})
}
