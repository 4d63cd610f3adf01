package format

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// detRand is a deterministic random source for reproducible descriptions.
func detRand(seed byte) *rand.ChaCha8 {
	return rand.NewChaCha8([32]byte{seed})
}

func testMeta(path string) Meta {
	return Meta{
		Path:        path,
		Size:        123456789,
		ModTime:     time.Unix(1700000000, 123456789),
		Mode:        0o640 | fs.ModeSetgid,
		ContentHash: bytes.Repeat([]byte{0xab}, 32),
		Desc:        "weekly backup",
		Encoding:    "grsync1+zstd+age",
		Created:     time.Unix(1700000500, 1),
	}
}

func sameMeta(a, b Meta) bool {
	return a.Path == b.Path && a.Size == b.Size && a.ModTime.Equal(b.ModTime) && a.Mode == b.Mode &&
		bytes.Equal(a.ContentHash, b.ContentHash) && a.Desc == b.Desc && a.Encoding == b.Encoding && a.Created.Equal(b.Created)
}

func parseAll(t *testing.T, descs []string) []Piece {
	t.Helper()
	var ps []Piece
	for _, d := range descs {
		p, err := ParseDescription(d)
		if err != nil {
			t.Fatalf("ParseDescription(%q): %v", d, err)
		}
		ps = append(ps, p)
	}
	return ps
}

func checkDescriptions(t *testing.T, descs []string) {
	t.Helper()
	for _, d := range descs {
		if len(d) > 1024 {
			t.Errorf("description of %d characters", len(d))
		}
		for i := 0; i < len(d); i++ {
			if d[i] < 0x20 || d[i] > 0x7e {
				t.Fatalf("description has byte %#x at %d: %q", d[i], i, d)
			}
		}
	}
}

func TestDescriptionsRoundTrip(t *testing.T) {
	mk := testKey(t).MetadataKey()
	longRandom := string(randomBytes(5000, 12)) // not UTF-8, incompressible
	longRandom = "/" + strings.ReplaceAll(longRandom, "\x00", "x")
	paths := []string{
		"/a",
		"/home/ann/docs/report.txt",
		"/bad\xff\xfeutf8/na\x80me",
		"/ünïcødé/файл/文件 with spaces\nand newline",
		"/" + strings.Repeat("deep/", 1000) + "file", // 5006 bytes, compressible
		longRandom,
	}
	for _, key := range []*MetaKey{nil, &mk} {
		for i, p := range paths {
			m := testMeta(p)
			descs, err := EncodeDescriptions(m, key, detRand(byte(i)))
			if err != nil {
				t.Fatal(err)
			}
			checkDescriptions(t, descs)
			pieces := parseAll(t, descs)
			for j, pc := range pieces {
				if IsContinuation(pc) != (j > 0) || pc.Encrypted != (key != nil) || pc.Count != len(descs) {
					t.Errorf("piece %d: %+v", j, pc)
				}
			}
			// Any order, with a duplicate.
			shuffled := append([]Piece{}, pieces...)
			rand.New(detRand(9)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			shuffled = append(shuffled, pieces[len(pieces)-1])
			got, err := DecodeMeta(shuffled, key)
			if err != nil {
				t.Fatalf("path of %d bytes, key %v: %v", len(p), key != nil, err)
			}
			if !sameMeta(got, m) {
				t.Errorf("round trip: got %+v, want %+v", got, m)
			}
			if len(p) == 5001 && len(descs) < 2 {
				t.Errorf("5000 random bytes fit in %d description", len(descs))
			}
		}
	}
}

func TestTypicalPathNeedsOneDescription(t *testing.T) {
	mk := testKey(t).MetadataKey()
	r := rand.New(detRand(3))
	var sb strings.Builder
	for sb.Len() < 600 {
		sb.WriteByte('/')
		for range 1 + r.IntN(20) {
			sb.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789._-"[r.IntN(39)])
		}
	}
	m := testMeta(sb.String())
	descs, err := EncodeDescriptions(m, &mk, detRand(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(descs) != 1 {
		t.Errorf("a %d-byte path needs %d descriptions, want 1", len(m.Path), len(descs))
	}
	short, _ := EncodeDescriptions(testMeta("/home/ann/docs/report.txt"), &mk, detRand(1))
	if len(short) != 1 || len(short[0]) > 300 {
		t.Errorf("short path: %d descriptions, first %d characters", len(short), len(short[0]))
	}
}

func TestEncryptedDescriptionsHideEverything(t *testing.T) {
	mk := testKey(t).MetadataKey()
	m := testMeta("/home/ann/Secret Plans/merger-with-initech.xlsx")
	m.Desc = "quarterly-figures-for-the-board"
	for _, path := range []string{m.Path, "/" + strings.Repeat("private-folder/", 400) + "x"} {
		m.Path = path
		descs, err := EncodeDescriptions(m, &mk, detRand(2))
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(descs, "\n")
		if strings.Contains(all, "zstd") || strings.Contains(all, "+age") {
			t.Fatal("descriptions reveal the encoding")
		}
		for _, secret := range []string{m.Path, m.Desc} {
			if leak := leaks(all, secret); leak != "" {
				t.Fatalf("descriptions contain %q from %.40q", leak, secret)
			}
			if leaks("x"+secret+"y", secret) == "" {
				t.Fatal("leaks() cannot find a secret")
			}
		}
	}
}

// leaks returns a 6-byte piece of secret, or of its base64 at any
// alignment, found in s.
func leaks(s, secret string) string {
	for i := 0; i+6 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+6]) {
			return secret[i : i+6]
		}
	}
	for shift := range 3 {
		if shift >= len(secret) {
			break
		}
		enc := base64.RawURLEncoding.EncodeToString([]byte(secret)[shift:])
		if len(enc) > 10 && strings.Contains(s, enc[4:len(enc)-4]) {
			return enc[4 : len(enc)-4]
		}
	}
	return ""
}

func TestDecodeMetaErrors(t *testing.T) {
	mk := testKey(t).MetadataKey()
	other := otherKey(t).MetadataKey()
	long := testMeta("/" + string(randomBytes(3000, 13)))
	long.Path = strings.ReplaceAll(long.Path, "\x00", "y")
	descs, err := EncodeDescriptions(long, &mk, detRand(4))
	if err != nil {
		t.Fatal(err)
	}
	pieces := parseAll(t, descs)
	if len(pieces) < 4 {
		t.Fatalf("want at least 4 pieces, got %d", len(pieces))
	}

	_, err = DecodeMeta(pieces, &other)
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong key: %v", err)
	}
	_, err = DecodeMeta(pieces, nil)
	if !errors.Is(err, ErrKeyRequired) {
		t.Errorf("no key: %v", err)
	}
	missing := append(append([]Piece{}, pieces[:2]...), pieces[3:]...)
	_, err = DecodeMeta(missing, &mk)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "missing piece 2") {
		t.Errorf("missing piece: %v", err)
	}
	_, err = DecodeMeta(pieces[1:], &mk)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "missing piece 0") {
		t.Errorf("missing piece 0: %v", err)
	}
	if _, err := DecodeMeta(nil, &mk); !errors.Is(err, ErrIncomplete) {
		t.Errorf("no pieces: %v", err)
	}

	tampered := append([]Piece{}, pieces...)
	tampered[1].Data = bytes.Clone(tampered[1].Data)
	tampered[1].Data[5] ^= 1
	if _, err := DecodeMeta(tampered, &mk); err == nil {
		t.Error("tampered piece accepted")
	}
	conflict := append(append([]Piece{}, pieces...), tampered[1])
	if _, err := DecodeMeta(conflict, &mk); err == nil || !strings.Contains(err.Error(), "two different copies") {
		t.Errorf("conflicting duplicate: %v", err)
	}
	otherGroup, _ := EncodeDescriptions(testMeta("/x"), &mk, detRand(5))
	mixed := append(append([]Piece{}, pieces...), parseAll(t, otherGroup)...)
	if _, err := DecodeMeta(mixed, &mk); err == nil || !strings.Contains(err.Error(), "mixed") {
		t.Errorf("mixed groups: %v", err)
	}
	swapped := append([]Piece{}, pieces...)
	swapped[1].Data, swapped[2].Data = swapped[2].Data, swapped[1].Data
	if _, err := DecodeMeta(swapped, &mk); !errors.Is(err, ErrWrongKey) {
		t.Errorf("swapped pieces: %v", err)
	}

	plain, _ := EncodeDescriptions(testMeta("/x"), nil, detRand(6))
	if _, err := DecodeMeta(parseAll(t, plain), &mk); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("plain metadata with a key: %v", err)
	}
}

func TestEncodeDescriptionsErrors(t *testing.T) {
	for _, m := range []Meta{
		{Path: "relative", Encoding: "grsync1"},
		{Path: "/nul\x00", Encoding: "grsync1"},
		{Path: "/a", Size: -1, Encoding: "grsync1"},
		{Path: "/a"},
		{Path: "/a", Encoding: "bad\nencoding"},
		{Path: "/a", Encoding: "grsync1", ContentHash: make([]byte, 65)},
		{Path: "/a", Encoding: "grsync1", Mode: fs.ModeDir | 0o755},
		{Path: "/a", Encoding: "grsync1", Desc: string(randomBytes(800000, 14))},
	} {
		if _, err := EncodeDescriptions(m, nil, detRand(1)); err == nil {
			t.Errorf("EncodeDescriptions accepted %.80q", m.Path+" "+m.Encoding)
		}
	}
	if _, err := EncodeDescriptions(testMeta("/a"), nil, bytes.NewReader(nil)); err == nil {
		t.Error("EncodeDescriptions without randomness succeeded")
	}
}

func TestParseDescription(t *testing.T) {
	good := "grsync1:p:0123456789abcdef:0/1:AAEC"
	if p, err := ParseDescription(good); err != nil || p.Group != "0123456789abcdef" || p.Index != 0 || p.Count != 1 || p.Encrypted || !bytes.Equal(p.Data, []byte{0, 1, 2}) {
		t.Fatalf("ParseDescription(%q) = %+v, %v", good, p, err)
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrNotGrsync},
		{"grsync|/home/ann/file.txt|1700000000|abc", ErrNotGrsync},
		{"my holiday photos", ErrNotGrsync},
		{"grsync:p:0123456789abcdef:0/1:AAEC", ErrNotGrsync},
		{"grsync2:x:whatever", ErrUnsupportedVersion},
		{"grsync10:p:0123456789abcdef:0/1:AAEC", ErrUnsupportedVersion},
		{"grsync1:x:0123456789abcdef:0/1:AAEC", errDescription},
		{"grsync1:p:0123456789ABCDEF:0/1:AAEC", errDescription},
		{"grsync1:p:0123456789abcde:0/1:AAEC", errDescription},
		{"grsync1:p:0123456789abcdef:1/1:AAEC", errDescription},
		{"grsync1:p:0123456789abcdef:0/0:AAEC", errDescription},
		{"grsync1:p:0123456789abcdef:00/1:AAEC", errDescription},
		{"grsync1:p:0123456789abcdef:0/1000:AAEC", errDescription},
		{"grsync1:p:0123456789abcdef:-1/1:AAEC", errDescription},
		{"grsync1:p:0123456789abcdef:0/1:", errDescription},
		{"grsync1:p:0123456789abcdef:0/1:AAEC==", errDescription},
		{"grsync1:p:0123456789abcdef:0/1:AA+C", errDescription},
		{"grsync1:p:0123456789abcdef:0/1:AAE\nC", errDescription},
		{"grsync1:p:0123456789abcdef:0/1:AAECAx", errDescription}, // non-canonical last character
		{"grsync1:p:0123456789abcdef:0/1:A", errDescription},
		{"grsync1:p:0123456789abcdef:0/1", errDescription},
		{"grsync1:p:0123456789abcdef:0/1:" + strings.Repeat("A", 988), errDescription},
	} {
		_, err := ParseDescription(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseDescription(%.60q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestDescriptionLengthBound(t *testing.T) {
	if maxDescHeaderLen+b64.EncodedLen(maxPieceData) > maxDescription {
		t.Fatalf("header %d + data %d > %d", maxDescHeaderLen, b64.EncodedLen(maxPieceData), maxDescription)
	}
	// The longest possible description: 999 pieces, index 998.
	d := formatPiece(Piece{Group: "0123456789abcdef", Index: 998, Count: 999, Encrypted: true, Data: make([]byte, maxPieceData)})
	if len(d) > maxDescription {
		t.Errorf("longest description has %d characters", len(d))
	}
	if _, err := ParseDescription(d); err != nil {
		t.Error(err)
	}
}

// TestRecordVersioning checks the rules of FORMAT.md section 4 on
// hand-made plain records.
func TestRecordVersioning(t *testing.T) {
	rec, err := marshalRecord(testMeta("/a"))
	if err != nil {
		t.Fatal(err)
	}
	base := rec
	if rec[0] == flagDeflate {
		body, err := io.ReadAll(flate.NewReader(bytes.NewReader(rec[1:])))
		if err != nil {
			t.Fatal(err)
		}
		base = append([]byte{0}, body...)
	}
	if _, err := unmarshalRecord(base); err != nil {
		t.Fatalf("undeflated record: %v", err)
	}
	withField := func(tag byte) []byte {
		return append(bytes.Clone(base), tag, 3, 'x', 'y', 'z')
	}
	if _, err := unmarshalRecord(withField(64)); err != nil {
		t.Errorf("informational tag 64 not skipped: %v", err)
	}
	if _, err := unmarshalRecord(withField(200)); err != nil {
		t.Errorf("informational tag 200 not skipped: %v", err)
	}
	if _, err := unmarshalRecord(withField(9)); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("critical tag 9: %v", err)
	}
	flagged := bytes.Clone(base)
	flagged[0] = 0x02
	if _, err := unmarshalRecord(flagged); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := unmarshalRecord(append(bytes.Clone(base), tagPath, 2, '/', 'b')); err == nil {
		t.Error("out-of-order field accepted")
	}
	for i := 1; i < len(base); i++ {
		if _, err := unmarshalRecord(base[:i]); err == nil {
			t.Errorf("record cut at %d accepted", i)
		}
	}
}

// TestDescriptionGolden pins the exact descriptions for fixed input and
// randomness; a change means archives written before it may not decode.
// Run with -update to rewrite after an intended format change.
func TestDescriptionGolden(t *testing.T) {
	mk := testKey(t).MetadataKey()
	m := testMeta("/home/ann/docs/report.txt")
	var got []string
	for _, key := range []*MetaKey{nil, &mk} {
		descs, err := EncodeDescriptions(m, key, detRand(42))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, descs...)
	}
	const golden = "testdata/descriptions.golden"
	text := strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if string(want) != text {
		t.Errorf("descriptions changed:\ngot:\n%swant:\n%s", text, want)
	}
	// The golden descriptions decode with the key, whatever the code now
	// writes.
	lines := strings.Split(strings.TrimSpace(string(want)), "\n")
	for i, key := range []*MetaKey{nil, &mk} {
		dm, err := DecodeMeta(parseAll(t, lines[i:i+1]), key)
		if err != nil || !sameMeta(dm, m) {
			t.Errorf("golden line %d: %+v, %v", i, dm, err)
		}
	}
}

// TestRecordVector checks the worked example of docs/FORMAT.md section 3.3.
func TestRecordVector(t *testing.T) {
	m := Meta{Path: "/a.txt", Size: 5, ModTime: time.Unix(1700000000, 500000000), Mode: 0o644,
		Encoding: "grsync1", Created: time.Unix(1700000001, 0)}
	const wantRecord = "00" + "01062f612e747874" + "020105" + "030a80c49fd50c80cab5ee01" + "0402a403" +
		"0707677273796e6331" + "080682c49fd50c00"
	const wantDesc = "grsync1:p:0e42d4cae8864908:0/1:AAEGL2EudHh0AgEFAwqAxJ_VDIDKte4BBAKkAwcHZ3JzeW5jMQgGgsSf1QwA"
	rec, err := marshalRecord(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(rec); got != wantRecord {
		t.Errorf("record = %s, want %s", got, wantRecord)
	}
	descs, err := EncodeDescriptions(m, nil, detRand(7))
	if err != nil || len(descs) != 1 || descs[0] != wantDesc {
		t.Errorf("descriptions = %q, %v; want %q", descs, err, wantDesc)
	}
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), wantDesc) {
		t.Error("docs/FORMAT.md does not show the example description")
	}
}
