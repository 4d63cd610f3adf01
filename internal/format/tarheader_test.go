package format

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"
)

// stdPAXMemberHeader is what archive/tar writes for a member's header.
func stdPAXMemberHeader(name string, size, mode int64, mtime time.Time, comment string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Format: tar.FormatPAX, Name: name, Size: size, Mode: mode,
		ModTime: mtime, PAXRecords: map[string]string{paxComment: comment}})
	return buf.Bytes(), err
}

// checkPAXMemberHeader fails t when the fast path answers with bytes
// other than archive/tar's, and returns whether it answered.
func checkPAXMemberHeader(t *testing.T, name string, size, mode int64, mtime time.Time, comment string) bool {
	t.Helper()
	got, ok := appendPAXMemberHeader([]byte("x"), name, size, mode, mtime, comment)
	if !ok {
		if string(got) != "x" {
			t.Fatalf("%q: the fast path declined but changed dst", name)
		}
		return false
	}
	want, err := stdPAXMemberHeader(name, size, mode, mtime, comment)
	if err != nil {
		t.Fatalf("%q (size %d, mode %o, %v): the fast path wrote a header archive/tar refuses: %v", name, size, mode, mtime, err)
	}
	if !bytes.Equal(got[1:], want) {
		t.Fatalf("%q (size %d, mode %o, %v): the fast path's header differs from archive/tar's:\n got %q\nwant %q",
			name, size, mode, mtime, got[1:], want)
	}
	return true
}

func TestPAXMemberHeaderIsArchiveTars(t *testing.T) {
	comment := memberComment(MemberRef{Pack: testPackID, Number: 123456, Kind: KindFile})
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, c := range []struct {
		name       string
		size, mode int64
		mtime      time.Time
		fast       bool
	}{
		{"home/user/notes.txt", 6144, 0o644, at.Add(123456789), true},
		{"a", 0, 0o600, at, true},
		{"chunk", 1 << 20, 0o600, time.Unix(0, 0), true},
		{"x/y", 3, 0o7777, at.Add(100 * time.Millisecond), true}, // the fraction's zeros trimmed
		{"x/y", 3, 0o755, at.Add(1), true},
		{"d/" + strings.Repeat("n", 98), 1, 0o644, at, true}, // 100 bytes: its PAX entry's name cut
		{strings.Repeat("n", 95) + "/f", 1, 0o644, at, true}, // cut at the slash
		{strings.Repeat("n", 101), 1, 0o644, at, false},
		{"caf\u00e9", 1, 0o644, at, false},
		{"nul\x00", 1, 0o644, at, false},
		{"big", 1 << 33, 0o644, at, false},
		{"big", 1<<33 - 1, 0o644, at, true},
		{"old", 1, 0o644, time.Unix(-1, 5), false},
		{"far", 1, 0o644, time.Unix(1<<33, 0), false},
	} {
		if got := checkPAXMemberHeader(t, c.name, c.size, c.mode, c.mtime, comment); got != c.fast {
			t.Errorf("%q: fast path %v, want %v", c.name, got, c.fast)
		}
	}
	// Every length of a comment record around 100 bytes, where its length
	// gains a digit.
	for n := 80; n < 120; n++ {
		if !checkPAXMemberHeader(t, "f", 1, 0o644, at.Add(7), strings.Repeat("c", n)) {
			t.Fatalf("comment of %d bytes: not on the fast path", n)
		}
	}
}

// Wherever the fast path answers, its bytes are archive/tar's.
func FuzzPAXMemberHeader(f *testing.F) {
	f.Add("home/user/notes.txt", int64(6144), int64(0o644), int64(1767225600), int64(123456789), "grsync/2 pack=00 member=1 kind=file")
	f.Add("a/b/c", int64(0), int64(0o4755), int64(0), int64(0), "c")
	f.Add(strings.Repeat("d/", 49)+"ff", int64(1<<33-1), int64(0o7777), int64(1<<33-1), int64(999999999), strings.Repeat("x", 95))
	f.Fuzz(func(t *testing.T, name string, size, mode, sec, nsec int64, comment string) {
		if nsec < 0 || nsec >= 1e9 || comment == "" {
			return
		}
		checkPAXMemberHeader(t, name, size, mode, time.Unix(sec, nsec), comment)
	})
}
