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
