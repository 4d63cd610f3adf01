package format

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// mustFail decodes archive and requires an error (never a clean end).
func mustFail(t *testing.T, what string, archive []byte, o optionSet) error {
	t.Helper()
	_, _, err := decode(archive, o.identity(testKey(t)))
	if err == nil {
		t.Errorf("%s: %s decoded without error", o.name, what)
	}
	return err
}

func TestWrongKeyFailsInOpen(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		if !o.encrypt {
			continue
		}
		archive := encode(t, testInfo(1000), randomBytes(1000, 1), o.options(k))
		r, err := Open(bytes.NewReader(archive), otherKey(t).AgeIdentity())
		if err == nil {
			r.Close()
			t.Fatalf("%s: Open with the wrong key succeeded", o.name)
		}
		if !errors.Is(err, ErrWrongKey) {
			t.Errorf("%s: err = %v, want ErrWrongKey", o.name, err)
		}
	}
}

func TestKeyAndEncryptionMustAgree(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		archive := encode(t, testInfo(10), []byte("0123456789"), o.options(k))
		if o.encrypt {
			_, err := Open(bytes.NewReader(archive), nil)
			if !errors.Is(err, ErrKeyRequired) {
				t.Errorf("%s without key: err = %v, want ErrKeyRequired", o.name, err)
			}
		} else {
			_, err := Open(bytes.NewReader(archive), k.AgeIdentity())
			if !errors.Is(err, ErrNotEncrypted) {
				t.Errorf("%s with key: err = %v, want ErrNotEncrypted", o.name, err)
			}
		}
	}
}

func TestFlippedBitsAreDetected(t *testing.T) {
	k := testKey(t)
	const size = 200 << 10
	content := randomBytes(size, 3)
	for _, o := range optionSets {
		archive := encode(t, testInfo(size), content, o.options(k))
		positions := []int{0, 10, 100, 600, 1100, 1600, len(archive) / 3, len(archive) / 2, len(archive) - 600, len(archive) - 20, len(archive) - 1}
		for _, pos := range positions {
			if !o.compress && !o.encrypt && (pos >= 512 && pos < 1024 || pos >= 1536 && pos < 1536+size) {
				// A bare tar has no checksum over its pax records or the
				// content; the catalogue's content hash catches this at
				// restore (FORMAT.md section 5).
				continue
			}
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(archive)
				bad[pos] ^= bit
				mustFail(t, fmt.Sprintf("bit %#x flipped at %d of %d", bit, pos, len(archive)), bad, o)
			}
		}
	}
}

func TestTruncationIsDetected(t *testing.T) {
	k := testKey(t)
	const size = 100<<10 + 3
	content := randomBytes(size, 4)
	for _, o := range optionSets {
		archive := encode(t, testInfo(size), content, o.options(k))
		for _, cut := range []int{1, 2, 16, 17, 512, 1024, 1025, 1500, len(archive) / 2, len(archive) - 1} {
			err := mustFail(t, fmt.Sprintf("cut %d bytes", cut), archive[:len(archive)-cut], o)
			if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s cut %d: error is io.EOF", o.name, cut)
			}
		}
	}
}

func TestTruncationIsNotReportedAsEOFWhileReading(t *testing.T) {
	// A reader that stops early must not see io.EOF before the error.
	k := testKey(t)
	content := randomBytes(300<<10, 5)
	for _, o := range optionSets {
		archive := encode(t, testInfo(len(content)), content, o.options(k))
		r, err := Open(bytes.NewReader(archive[:len(archive)-10]), o.identity(k))
		if err != nil {
			// The layers run concurrently and read ahead: the truncation may
			// already be found while Open reads the header. Also fine.
			continue
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err == nil {
			t.Errorf("%s: io.Copy of a truncated archive ended cleanly", o.name)
		}
	}
}

func TestSwappedChunksAreDetected(t *testing.T) {
	k := testKey(t)
	const size = 512 << 10
	content := randomBytes(size, 6)
	for _, o := range optionSets {
		archive := encode(t, testInfo(size), content, o.options(k))
		start := 4096 // inside the content for every encoding
		if o.encrypt {
			// Swap whole age chunks: 64 KiB of ciphertext plus a 16-byte tag.
			hdrEnd := bytes.Index(archive, []byte("\n--- "))
			hdrEnd += bytes.IndexByte(archive[hdrEnd+1:], '\n') + 2
			start = hdrEnd + 16 + (64<<10 + 16)
		}
		const n = 64<<10 + 16
		bad := bytes.Clone(archive)
		copy(bad[start:start+n], archive[start+n:start+2*n])
		copy(bad[start+n:start+2*n], archive[start:start+n])
		if !o.compress && !o.encrypt {
			// Undetectable in a bare tar, as documented; the content differs.
			_, data, err := decode(bad, nil)
			if err != nil || bytes.Equal(data, content) {
				t.Errorf("bare tar swap: err %v, equal %v", err, bytes.Equal(data, content))
			}
			continue
		}
		mustFail(t, "swapped 64 KiB chunks", bad, o)
	}
}

func TestTrailingDataIsDetected(t *testing.T) {
	k := testKey(t)
	content := randomBytes(70<<10, 7)
	for _, o := range optionSets {
		archive := encode(t, testInfo(len(content)), content, o.options(k))
		for _, tail := range [][]byte{{0}, {1}, make([]byte, 512), make([]byte, 10240), []byte("garbage"), randomBytes(100, 8), zstdMagic[:]} {
			mustFail(t, fmt.Sprintf("%d trailing bytes", len(tail)), append(bytes.Clone(archive), tail...), o)
		}
	}
}

func TestSizeMismatch(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		// Too few bytes: Close fails and the output does not decode.
		var buf bytes.Buffer
		w, err := NewWriter(&buf, testInfo(300<<10), o.options(k))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(randomBytes(299<<10, 9)); err != nil {
			t.Fatal(err)
		}
		err = w.Close()
		if !errors.Is(err, ErrSizeMismatch) || !strings.Contains(err.Error(), "307200") {
			t.Errorf("%s short: Close = %v", o.name, err)
		}
		if err2 := w.Close(); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: second Close = %v, want %v", o.name, err2, err)
		}
		mustFail(t, "output of a short write", buf.Bytes(), o)

		// Too many bytes: Write fails at once, and so does Close.
		buf.Reset()
		w, err = NewWriter(&buf, testInfo(10), o.options(k))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("12345")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("123456")); !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("%s long: Write = %v", o.name, err)
		}
		if err := w.Close(); !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("%s long: Close = %v", o.name, err)
		}
		mustFail(t, "output of a long write", buf.Bytes(), o)
		if _, err := w.Write([]byte("x")); err == nil {
			t.Errorf("%s: Write after Close succeeded", o.name)
		}
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(b []byte) (int, error) {
	if f.after < len(b) {
		return 0, errors.New("disk full")
	}
	f.after -= len(b)
	return len(b), nil
}

func TestDestinationErrorIsReported(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		w, err := NewWriter(&failingWriter{after: 5000}, testInfo(4<<20), o.options(k))
		if err != nil {
			t.Fatal(err)
		}
		content := randomBytes(4<<20, 10)
		var werr error
		for off := 0; off < len(content) && werr == nil; off += 64 << 10 {
			_, werr = w.Write(content[off : off+64<<10])
		}
		cerr := w.Close()
		if cerr == nil || !strings.Contains(cerr.Error(), "disk full") {
			t.Errorf("%s: Close = %v (Write %v), want disk full", o.name, cerr, werr)
		}
	}
}

func TestInvalidFileInfo(t *testing.T) {
	for _, fi := range []FileInfo{
		{Path: "/unset-mtime"},
		{Path: "relative/path"},
		{Path: ""},
		{Path: "/"},
		{Path: "/a/../b"},
		{Path: "/a//b"},
		{Path: "/a/"},
		{Path: "/a/./b"},
		{Path: "/nul\x00byte"},
		{Path: "/neg", Size: -1, ModTime: time.Unix(1, 0)},
		{Path: "/dir", Mode: 0o755 | fs.ModeDir, ModTime: time.Unix(1, 0)},
	} {
		if w, err := NewWriter(io.Discard, fi, Options{}); err == nil {
			w.Close()
			t.Errorf("NewWriter accepted %+v", fi)
		}
	}
}

// writeTar builds a tar stream by hand for reader tests.
func writeTar(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(make([]byte, h.Size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func grsyncHeader(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Unix(1, 0),
		Format: tar.FormatPAX, PAXRecords: map[string]string{"GRSYNC.version": "1"}}
}

func TestOpenRefusesForeignArchives(t *testing.T) {
	plain := &tar.Header{Typeflag: tar.TypeReg, Name: "a/b", Size: 3, Mode: 0o644}
	v2 := grsyncHeader("a/b", 3)
	v2.PAXRecords["GRSYNC.version"] = "2"
	dir := grsyncHeader("a/b/", 0)
	dir.Typeflag = tar.TypeDir
	dotdot := grsyncHeader("a/../../etc/passwd", 3)
	slash := grsyncHeader("/etc/passwd", 3)
	for _, tc := range []struct {
		name    string
		archive []byte
		want    error
	}{
		{"empty", nil, ErrNotGrsync},
		{"text", []byte("hello, world\n"), ErrNotGrsync},
		{"random", randomBytes(5000, 11), ErrNotGrsync},
		{"zeros", make([]byte, 10240), ErrNotGrsync},
		{"plain tar", writeTar(t, plain), ErrNotGrsync},
		{"version 2", writeTar(t, v2), ErrUnsupportedVersion},
		{"directory", writeTar(t, dir), ErrCorrupt},
		{"dot-dot path", writeTar(t, dotdot), ErrCorrupt},
		{"double slash", writeTar(t, slash), ErrCorrupt},
		{"armored age", []byte("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"), ErrNotGrsync},
	} {
		_, err := Open(bytes.NewReader(tc.archive), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSecondEntryIsRefused(t *testing.T) {
	archive := writeTar(t, grsyncHeader("a/b", 3), grsyncHeader("a/c", 3))
	r, err := Open(bytes.NewReader(archive), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v, want ErrCorrupt", err)
	}
}

func TestReaderAfterEndAndClose(t *testing.T) {
	archive := encode(t, testInfo(3), []byte("abc"), Options{Compress: true})
	r, err := Open(bytes.NewReader(archive), nil)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := io.ReadAll(r); err != nil || string(data) != "abc" {
		t.Fatalf("ReadAll = %q, %v", data, err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read after end = %d, %v; want 0, EOF", n, err)
	}
	r.Close()
	r2, err := Open(bytes.NewReader(archive), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if _, err := r2.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Errorf("Read after Close = %v, want an error", err)
	}
}
