package main

import (
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	a := &app{}
	root := a.rootCommand()
	cases := []struct{ in, want string }{
		{"--vault v --region r --compress true src", "sync --vault v --region r --compress=true src"},
		{"--compress --encrypt yes src", "sync --compress --encrypt=yes src"},
		{"--compress maybe", "sync --compress=maybe"},
		{"restore --output o", "restore --output o"},
		{"--db x.db restore --output o", "restore --db x.db --output o"},
		{"--db restore src", "sync --db restore src"},
		{"--help", "--help"},
		{"sync --dry-run src", "sync --dry-run src"},
	}
	for _, c := range cases {
		args, err := normalizeArgs(root, strings.Fields(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		got := strings.Join(args, " ")
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzValueParsers(f *testing.F) {
	for _, s := range []string{"1048576", "4294967296", "0", "-1", "2024-03-16", "2024-03-16T12:00:00Z", "yes", "Standard", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parsePartSize(s); err == nil {
			if n < 1<<20 || n > 4<<30 || n&(n-1) != 0 {
				t.Errorf("accepted part size %d", n)
			}
		}
		parseAt(s)
		parseTier(s)
		parseLogLevel(s)
		if v, ok := str2bool(s); ok {
			if w, ok2 := str2bool(strings.ToUpper(s)); !ok2 || w != v {
				t.Errorf("str2bool must ignore case: %q", s)
			}
		}
	})
}
