package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"plain name.txt":              "plain name.txt",
		"写真.jpg":                      "写真.jpg",
		"evil\x1b[2Jname\nsecond.txt": `"evil\x1b[2Jname\nsecond.txt"`,
		"bad\xffname":                 `"bad\xffname"`,
		`quote"d`:                     `"quote\"d"`,
		"rtl\u202eexe.txt":            `"rtl\u202eexe.txt"`,
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	if got := Clean("open /a/evil\x1b[2J\nx: permission denied"); got != `open /a/evil\x1b[2J\nx: permission denied` {
		t.Errorf("Clean = %q", got)
	}
	if got := Clean("bad\xffname é"); got != `bad\xffname é` {
		t.Errorf("Clean = %q", got)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 files", 1: "1 file", 2: "2 files"} {
		if got := Count(n, "file"); got != want {
			t.Errorf("Count(%d) = %q", n, got)
		}
	}
}

func TestShorten(t *testing.T) {
	for _, c := range []struct {
		in   string
		w    int
		want string
	}{
		{"IMG_2024_0001.jpg", 20, "IMG_2024_0001.jpg"},
		{"IMG_2024_summer_0001.jpg", 12, "IMG_2…01.jpg"},
		{"写真アルバム夏休み.jpg", 9, "写真….jpg"},
		{"写真アルバム夏休み.jpg", 12, "写真…み.jpg"},
		{"abc", 1, "…"},
	} {
		got := Shorten(c.in, c.w)
		if got != c.want || Width(got) > c.w {
			t.Errorf("Shorten(%q, %d) = %q (%d columns), want %q", c.in, c.w, got, Width(got), c.want)
		}
	}
}

// The progress line fits every width, for every state, and keeps the
// counts first.
func TestRenderLineFits(t *testing.T) {
	states := []Status{
		{Verb: "backing up", FilesDone: 3, Files: 120, Scanning: true, BytesDone: 1 << 30, ETA: -1},
		{Verb: "restoring", FilesDone: 99999, Files: 100000, Failed: 12, BytesDone: 5 << 40, Bytes: 6 << 40, Rate: 12 << 20, ETA: 3 * time.Hour,
			InFlight: []string{"/a/" + strings.Repeat("very long name ", 20), "/b/写真アルバム夏休み.jpg", "/c/evil\x1b[2J\nname", "/d/x"}},
		{Verb: "backing up", Files: 0, Scanning: false, ETA: 0},
	}
	for _, s := range states {
		for w := 1; w <= 220; w++ {
			l := RenderLine(s, w)
			if Width(l) > w {
				t.Fatalf("width %d: %q is %d columns", w, l, Width(l))
			}
			for _, r := range l {
				if !unicode.IsPrint(r) {
					t.Fatalf("width %d: control character %U in %q", w, r, l)
				}
			}
			if w >= 30 && !strings.Contains(l, " files") {
				t.Fatalf("width %d: the counts are missing: %q", w, l)
			}
		}
	}
	if l := RenderLine(states[0], 200); !strings.Contains(l, "3/120+ files, scanning") || strings.Contains(l, "%") || strings.Contains(l, "ETA") {
		t.Errorf("while scanning, no percentage or ETA, and the total marked: %q", l)
	}
	if l := RenderLine(states[1], 200); !strings.Contains(l, " 83%") || !strings.Contains(l, "ETA 3h00m") || !strings.Contains(l, "12 failed") {
		t.Errorf("a known total shows percentage, ETA and failures: %q", l)
	}
}

// recorder is a StatusPrinter keeping what it was given.
type recorder struct {
	statuses []Status
}

func (r *recorder) Status(s Status, final bool)    { r.statuses = append(r.statuses, s) }
func (r *recorder) FileDone(string, string, error) {}
func (r *recorder) Notice(string, string)          {}
func (r *recorder) Close()                         {}

// Counting: bytes done never exceed the total nor go back; a count from a
// separate walk gives the total early; the engine's own end of walk wins.
func TestProgressCounts(t *testing.T) {
	rec := &recorder{}
	p := NewProgress(rec, "backing up", time.Hour)
	p.Found(1, 100)
	if s := p.Snapshot(); !s.Scanning || s.Files != 1 {
		t.Fatalf("while the walk goes on: %+v", s)
	}
	p.Counted(3, 300)
	if s := p.Snapshot(); s.Scanning || s.Files != 3 || s.Bytes != 300 {
		t.Fatalf("after a count: %+v", s)
	}
	p.Start("/a", 100)
	p.Progress(150) // more than the file: an estimate must not overshoot
	if s := p.Snapshot(); s.BytesDone != 100 {
		t.Fatalf("in flight: %+v", s)
	}
	p.Done("/a", "uploaded", nil)
	p.Found(1, 100)
	p.Scanned() // the engine found 2 files, not 3
	s := p.Snapshot()
	if s.Files != 2 || s.Bytes != 200 || s.FilesDone != 1 || s.BytesDone != 100 {
		t.Fatalf("after the walk: %+v", s)
	}
	p.Done("/never-started", "failed", errTest)
	if s := p.Snapshot(); s.FilesDone != 1 || s.Failed != 1 {
		t.Fatalf("a failure of a path never started counts as failed, not done: %+v", s)
	}
	p.Finish()
	p.Finish()
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "test" }

func TestJSONWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewJSONWriter(&b)
	w.Write("x", struct {
		A string `json:"a"`
	}{"<&>"})
	w.Write("empty", struct{}{})
	want := `{"message_type":"x","a":"<&>"}` + "\n" + `{"message_type":"empty"}` + "\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	p, _ := json.Marshal(NewPath("bad\xffname"))
	if string(p) != `{"path":"bad\ufffdname","path_bytes":"YmFk/25hbWU="}` {
		t.Errorf("a path that is not UTF-8: %s", p)
	}
}

func TestTerminalErasesLineBeforeWrites(t *testing.T) {
	var b bytes.Buffer
	term := NewTerminal(&b, func() int { return 40 })
	term.draw("1/2 files")
	term.Write([]byte("level=INFO msg=x\n"))
	term.Write([]byte("level=INFO msg=y\n"))
	term.Message("grsync: stopping")
	want := "\r1/2 files\x1b[K" + "\r\x1b[K" + "level=INFO msg=x\n" + "level=INFO msg=y\n" + "\r\x1b[Kgrsync: stopping\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	plain := NewTerminal(&b, nil)
	plain.draw("x")
	plain.Message("m")
	if b.String() != "m\n" {
		t.Errorf("not a terminal: %q", b.String())
	}
}

// FuzzEscape: Name and Clean never let a control character through, and a
// name that needed escaping is quoted.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"plain", "evil\x1b[2J\n", "bad\xff", `"q"`, "\u202e", "写真"} {
		f.Add(s, 30)
	}
	f.Fuzz(func(t *testing.T, s string, w int) {
		for _, out := range []string{Name(s), Clean(s), Shorten(Name(s), w%200), Truncate(Name(s), w%200)} {
			for _, r := range out {
				if !unicode.IsPrint(r) {
					t.Fatalf("%q → %q holds %U", s, out, r)
				}
			}
		}
		if n := Name(s); n != s && !strings.HasPrefix(n, `"`) {
			t.Fatalf("Name(%q) = %q changed it without quoting", s, n)
		}
		if Width(Shorten(s, w%200)) > max(w%200, 0) {
			t.Fatalf("Shorten(%q, %d) too wide", s, w%200)
		}
	})
}
