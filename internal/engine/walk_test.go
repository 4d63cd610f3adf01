package engine

import (
	"strings"
	"testing"
)

func TestExcluder(t *testing.T) {
	cases := []struct {
		patterns []string
		rel      string
		dir      bool
		want     bool
	}{
		{[]string{"*.tmp"}, "a.tmp", false, true},
		{[]string{"*.tmp"}, "sub/deeper/a.tmp", false, true},
		{[]string{"*.tmp"}, "a.tmpx", false, false},
		{[]string{".cache"}, "x/.cache", true, true},
		{[]string{"build/*.o"}, "build/a.o", false, true},
		{[]string{"build/*.o"}, "sub/build/a.o", false, false},
		{[]string{"/build/*.o"}, "build/a.o", false, true},
		{[]string{"build/*.o"}, "build/x/a.o", false, false},
		{[]string{"build/**/*.o"}, "build/x/y/a.o", false, true},
		{[]string{"build/**/*.o"}, "build/a.o", false, true},
		{[]string{"**/node_modules"}, "a/b/node_modules", true, true},
		{[]string{"cache/"}, "cache", true, true},
		{[]string{"cache/"}, "cache", false, false},
		{[]string{"file?.txt"}, "file1.txt", false, true},
		{[]string{"file?.txt"}, "file10.txt", false, false},
		{[]string{"[ab].txt"}, "a.txt", false, true},
		{[]string{"[!ab].txt"}, "a.txt", false, false},
		{[]string{"[!ab].txt"}, "c.txt", false, true},
		{[]string{`\*.txt`}, "*.txt", false, true},
		{[]string{`\*.txt`}, "a.txt", false, false},
		{[]string{"a+b(c).txt"}, "a+b(c).txt", false, true},
		{[]string{"# comment", "", "  "}, "# comment", false, false},
	}
	for _, c := range cases {
		ex, err := NewExcluder(c.patterns)
		if err != nil {
			t.Fatalf("%v: %v", c.patterns, err)
		}
		if got := ex.Excluded(c.rel, c.dir); got != c.want {
			t.Errorf("%v on %q (dir=%v): got %v, want %v", c.patterns, c.rel, c.dir, got, c.want)
		}
	}
	// Match names the pattern that excludes a path, as it was given.
	ex, _ := NewExcluder([]string{"*.tmp", " cache/ ", "/build/*.o"})
	for rel, want := range map[string]string{"x/a.tmp": "*.tmp", "cache": "cache/", "build/a.o": "/build/*.o", "a.txt": ""} {
		if got, ok := ex.Match(rel, rel == "cache"); got != want || ok != (want != "") {
			t.Errorf("Match(%q) = %q, %v; want %q", rel, got, ok, want)
		}
	}
	if _, err := NewExcluder([]string{"[abc"}); err == nil || !strings.Contains(err.Error(), "[abc") {
		t.Errorf("an unterminated class must be refused naming the pattern, got %v", err)
	}
}

func FuzzExcluder(f *testing.F) {
	for _, s := range []string{"*.tmp", "build/**/*.o", "[!a-c]?", `\*`, "/x/", "**", "[", "\\"} {
		f.Add(s, "a/b/c.tmp")
	}
	f.Fuzz(func(t *testing.T, pattern, rel string) {
		ex, err := NewExcluder([]string{pattern})
		if err != nil {
			return
		}
		ex.Excluded(rel, false)
		ex.Excluded(rel, true)
		// A pattern without wildcards or "/" matches exactly its own name.
		if !strings.ContainsAny(pattern, `*?[\/#`) && strings.TrimSpace(pattern) == pattern && pattern != "" {
			if !ex.Excluded("dir/"+pattern, false) {
				t.Errorf("literal pattern %q should match its own name", pattern)
			}
		}
	})
}

func TestUnderAny(t *testing.T) {
	if !underAny("/a/b/c", []string{"/a/b"}) || underAny("/a/bc", []string{"/a/b"}) || !underAny("/a/b", []string{"/a/b/"}) {
		t.Error("underAny must compare whole path components")
	}
}
