package format

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// exampleIndex is the index of docs/FORMAT.md section 8.6.
func exampleIndex() *PackIndex {
	return &PackIndex{Pack: testPackID, Created: testCreated, Members: []IndexEntry{
		{Number: 0, Offset: 0, Length: 392, Kind: KindFile, Size: 5, Hash: []byte{0x9f, 0x86, 0xd0, 0x81},
			Path: "/home/ann/a \"quoted\" name.txt", Mode: 0o644, ModTime: time.Unix(1700000000, 123456789)},
		{Number: 1, Offset: 392, Length: 351, Kind: KindChunk, Size: 9, Hash: []byte{0x60, 0x30, 0x3a, 0xe2}},
		{Number: 2, Offset: 743, Length: 388, Kind: KindFile, Size: 0, Path: "/tmp/\xfe\xff.bin", Mode: 0o600, ModTime: time.Unix(-1, 0)},
		{Number: 3, Offset: 1131, Length: 200, Kind: KindVoid},
	}}
}

// formatDocBlock returns the text of docs/FORMAT.md between begin and end.
func formatDocBlock(t *testing.T, begin, end string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(doc), begin)
	s, _, ok2 := strings.Cut(s, end)
	if !ok || !ok2 {
		t.Fatalf("FORMAT.md has no block between %q and %q", begin, end)
	}
	return s
}

// TestPackIndexExample checks the example of FORMAT.md section 8.6 against
// the encoder and the parser.
func TestPackIndexExample(t *testing.T) {
	idx := exampleIndex()
	doc := appendIndexJSON(nil, idx)
	block := formatDocBlock(t, "<!-- index example begin -->\n", "<!-- index example end -->")
	var want strings.Builder
	for _, line := range strings.SplitAfter(string(doc), "\n") {
		if line != "" {
			want.WriteString("    " + line)
		}
	}
	if block != want.String() {
		t.Errorf("FORMAT.md 8.6 example differs from the encoder; it should be:\n%s", want.String())
	}
	got, err := parseIndex(doc, testPackID, 1331)
	if err != nil {
		t.Fatal(err)
	}
	got.Offset, got.Length, got.Size = idx.Offset, idx.Length, idx.Size
	if !sameIndex(got, idx) {
		t.Errorf("parsed back: %+v", got)
	}
}

// TestPackIndexStrict: every deviation from the one encoding is refused.
func TestPackIndexStrict(t *testing.T) {
	doc := string(appendIndexJSON(nil, exampleIndex()))
	const end = 1331
	if _, err := parseIndex([]byte(doc), testPackID, end); err != nil {
		t.Fatal(err)
	}
	repl := func(old, new string) string {
		if !strings.Contains(doc, old) {
			t.Fatalf("%q not in the example", old)
		}
		return strings.Replace(doc, old, new, 1)
	}
	for _, c := range []struct {
		name, doc string
		want      error
	}{
		{"format 3", repl(`"format":2`, `"format":3`), ErrUnsupportedVersion},
		{"format as string", repl(`"format":2`, `"format":"2"`), ErrUnsupportedVersion},
		{"no format", repl(`"format":2,`, ``), errIndex},
		{"other pack", repl(`"pack":"00`, `"pack":"ff`), ErrCorrupt},
		{"upper-case pack", repl(`0a0b0c`, `0A0B0C`), errIndex},
		{"unknown key", repl(`"kind":"chunk"`, `"kind":"chunk","x":1`), errIndex},
		{"duplicate key", repl(`"kind":"chunk"`, `"kind":"chunk","kind":"chunk"`), errIndex},
		{"space", repl(`"number":1,`, `"number": 1,`), errIndex},
		{"no newline at end", strings.TrimSuffix(doc, "\n"), errIndex},
		{"trailing data", doc + "{}", errIndex},
		{"numbered out of order", repl(`"number":1,`, `"number":2,`), errIndex},
		{"gap", repl(`"offset":392`, `"offset":393`), errIndex},
		{"overlap", repl(`"offset":392`, `"offset":391`), errIndex},
		{"zero length", repl(`"length":200`, `"length":0`), errIndex},
		{"leading zero", repl(`"size":9`, `"size":09`), errIndex},
		{"float", repl(`"size":9`, `"size":9.0`), errIndex},
		{"negative size", repl(`"size":9`, `"size":-9`), errIndex},
		{"upper-case hash", repl(`9f86d081`, `9F86D081`), errIndex},
		{"odd hash", repl(`9f86d081`, `9f86d08`), errIndex},
		{"empty hash", repl(`"hash":"9f86d081"`, `"hash":""`), errIndex},
		{"mode on a chunk", repl(`"hash":"60303ae2"`, `"hash":"60303ae2","mode":0`), errIndex},
		{"size on a void", repl(`"kind":"void"`, `"kind":"void","size":0`), errIndex},
		{"unknown kind", repl(`"kind":"void"`, `"kind":"index"`), errIndex},
		{"mode bits", repl(`"mode":420`, `"mode":4096`), errIndex},
		{"nanoseconds", repl(`"mtime_nsec":123456789`, `"mtime_nsec":1000000000`), errIndex},
		{"relative path", repl(`"path":"/home`, `"path":"home`), errIndex},
		{"path_b64 of UTF-8", repl(`"path":"/home/ann/a \"quoted\" name.txt"`, `"path_b64":"L2E="`), errIndex},
		{"both paths", repl(`"path_b64"`, `"path":"/x","path_b64"`), errIndex},
		{"escaped slash", repl(`"path":"/home`, `"path":"\/home`), errIndex},
		{"unicode escape", repl(`"path":"/home`, `"path":"\u002fhome`), errIndex},
		{"created with offset", repl(`30.5Z`, `30.5+00:00`), errIndex},
		{"created with trailing zero", repl(`30.5Z`, `30.50Z`), errIndex},
		{"null members", strings.Replace(doc, doc[strings.Index(doc, "[\n"):], "null}\n", 1), errIndex},
		{"not JSON", "grsync", errIndex},
		{"empty", "", errIndex},
	} {
		_, err := parseIndex([]byte(c.doc), testPackID, end)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	for _, at := range []int64{end - 1, end + 1, 0} {
		if _, err := parseIndex([]byte(doc), testPackID, at); !errors.Is(err, errIndex) {
			t.Errorf("index at %d, members end at %d: err = %v", at, end, err)
		}
	}
}

// TestJSONStringEscapes: control characters are escaped, everything else
// valid UTF-8 is kept, and encoding/json reads it back.
func TestJSONStringEscapes(t *testing.T) {
	s := "a\"b\\c\x00\x1f\x7f é 😀 \u2028 </script>"
	got := string(appendJSONString(nil, s))
	want := `"a\"b\\c\u0000\u001f` + "\x7f é 😀 \u2028 </script>\""
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	idx := exampleIndex()
	idx.Members = idx.Members[:1]
	idx.Members[0].Path = "/a\"b\\c\x01\x1f\x7f é 😀 \u2028/x" // no NUL: paths cannot have one
	doc := appendIndexJSON(nil, idx)
	back, err := parseIndex(doc, testPackID, 392)
	if err != nil {
		t.Fatal(err)
	}
	if back.Members[0].Path != idx.Members[0].Path {
		t.Errorf("path %q read back as %q", idx.Members[0].Path, back.Members[0].Path)
	}
}

func TestPackTrailer(t *testing.T) {
	tr := PackTrailer{IndexOffset: 1234567890, IndexLength: 12345}
	b := appendTrailer(nil, tr)
	if len(b) != PackTrailerSize {
		t.Fatalf("trailer of %d bytes, PackTrailerSize is %d", len(b), PackTrailerSize)
	}
	want := "grsync-pack 2 index-offset=00000000001234567890 index-length=00000000000000012345\n"
	if string(b[8:]) != want || !bytes.Equal(b[:8], []byte{0x50, 0x2a, 0x4d, 0x18, 82, 0, 0, 0}) {
		t.Fatalf("trailer % x", b)
	}
	if got, err := ParsePackTrailer(b); err != nil || got != tr {
		t.Fatalf("parsed %+v, %v", got, err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"version 3", bytes.Replace(b, []byte("pack 2"), []byte("pack 3"), 1), ErrUnsupportedVersion},
		{"sign", bytes.Replace(b, []byte("=0000000000123"), []byte("=+000000000123"), 1), ErrNotGrsync},
		{"space", bytes.Replace(b, []byte("=0000000000123"), []byte("= 000000000123"), 1), ErrNotGrsync},
		{"magic", append([]byte{0x51}, b[1:]...), ErrNotGrsync},
		{"frame size", append(append([]byte{}, b[:4]...), append([]byte{83, 0, 0, 0}, b[8:]...)...), ErrNotGrsync},
		{"no newline", append(bytes.Clone(b[:len(b)-1]), ' '), ErrNotGrsync},
		{"short", b[1:], ErrNotGrsync},
		{"overflow", bytes.Replace(b, []byte("=00000000001234567890"), []byte("=99999999999999999999"), 1), ErrNotGrsync},
	} {
		if _, err := ParsePackTrailer(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}
