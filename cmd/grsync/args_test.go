package main

import (
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	t.Parallel()
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
		{"--version", "--version"},
		{"-v --local-store st src", "sync -v --local-store st src"},
		{"-P nightly /home/alice", "sync -P nightly /home/alice"},
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

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"512k": 512 << 10, "10M": 10 << 20, "10MiB": 10 << 20, "10MB/s": 10 << 20, "1.5G": 3 << 29,
		"2048": 2 << 20, "off": 0, "": 0, "0": 0,
	} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"fast", "-1M", "0.5", "10X", "NaN", "1e300G"} {
		if got, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) = %d, want an error", in, got)
		}
	}
}

// A mistyped command is a usage error suggesting the command, unless a
// file of that name exists.
func TestNormalizeArgsSuggests(t *testing.T) {
	t.Parallel()
	a := &app{}
	root := a.rootCommand()
	for _, in := range []string{"restor", "--db x restor", "lss", "verfy"} {
		if _, err := normalizeArgs(root, strings.Fields(in)); err == nil || !strings.Contains((err.(*usageError)).hint, "did you mean") {
			t.Errorf("%q: want a suggestion, got %v", in, err)
		}
	}
	for _, in := range []string{"/home/alice", "docs", "logs", "--vault v --region r /path"} {
		if _, err := normalizeArgs(root, strings.Fields(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"move", "move", 0}, {"", "list", 4}, {"lst", "list", 1}, {"mvoe", "move", 1},
		{"restor", "restore", 1}, {"docs", "lock", 2}, {"ab", "ba", 1}, {"abc", "ca", 3}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := editDistance(c.b, c.a); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
}

// A word that is not one of a group command's commands is a usage error,
// with a suggestion when it reads as a mistyped one.
func TestUnknownSubcommandSuggests(t *testing.T) {
	t.Parallel()
	root := (&app{}).rootCommand()
	for _, c := range []struct{ args, hint string }{
		{"uploads lst", "did you mean grsync uploads list?"},
		{"uploads abrot", "did you mean grsync uploads abort?"},
		{"target mvoe a b", "did you mean grsync target move?"},
		{"key exprt", "did you mean grsync key export-age?"},
		{"key export", "did you mean grsync key export-age?"},
		{"lock extnd", "did you mean grsync lock extend?"},
		{"catalogue psh", "did you mean grsync catalogue push?"},
		{"uploads xyzzy", "grsync uploads has the commands abort, list"},
	} {
		w := strings.Fields(c.args)
		g, _, err := root.Find(w)
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		err = g.Args(g, w[1:])
		ue, ok := err.(*usageError)
		if !ok || !strings.Contains(ue.err.Error(), "unknown command") || !strings.Contains(ue.hint, c.hint) {
			t.Errorf("%q: want unknown command with hint %q, got %#v", c.args, c.hint, err)
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
		if r, err := parseRate(s); err == nil && r != 0 && (r < 1024 || r > 1<<50) {
			t.Errorf("accepted --bwlimit %q as %d bytes per second", s, r)
		}
		if v, ok := str2bool(s); ok {
			if w, ok2 := str2bool(strings.ToUpper(s)); !ok2 || w != v {
				t.Errorf("str2bool must ignore case: %q", s)
			}
		}
	})
}
