package legacy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// plaintextOf returns n bytes of varied, position-dependent content.
func plaintextOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestFernetRoundTrip(t *testing.T) {
	p := testParams(t)
	for _, chunk := range []int64{16, 48, 1024, fernetChunk} {
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 100, 1000, 4096} {
			want := plaintextOf(n)
			tok := encryptToken(t, p, want)
			got, err := decodeAll(fromBytes(tok), p.key, chunk)
			if err != nil {
				t.Fatalf("chunk %d, %d bytes: %v", chunk, n, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("chunk %d, %d bytes: plaintext differs", chunk, n)
			}
		}
	}
}

// TestFernetReaderContract runs the standard reader checks (small reads,
// ReadAt-free edge cases, repeated EOF) on a multi-chunk plaintext.
func TestFernetReaderContract(t *testing.T) {
	p := testParams(t)
	want := plaintextOf(5000)
	r, err := openFernet(fromBytes(encryptToken(t, p, want)), p.key, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := iotest.TestReader(r, want); err != nil {
		t.Fatal(err)
	}
}

// TestFernetAwkwardSource feeds the token one byte per read, and with the
// final data and io.EOF in the same read.
func TestFernetAwkwardSource(t *testing.T) {
	p := testParams(t)
	want := plaintextOf(3000)
	tok := encryptToken(t, p, want)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"one byte":   iotest.OneByteReader,
		"data+EOF":   iotest.DataErrReader,
		"half reads": iotest.HalfReader,
	} {
		open := func() (io.ReadCloser, error) { return io.NopCloser(wrap(bytes.NewReader(tok))), nil }
		got, err := decodeAll(open, p.key, 32)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
}

func TestFernetTrailingWhitespace(t *testing.T) {
	p := testParams(t)
	want := []byte("some file")
	tok := string(encryptToken(t, p, want))
	for _, suffix := range []string{"\n", "\r\n", " ", "\t \n\n", strings.Repeat("\n", 70000)} {
		got, err := decodeAll(fromBytes([]byte(tok+suffix)), p.key, fernetChunk)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("suffix %q: got %q, %v; want %q", suffix[:min(len(suffix), 8)], got, err, want)
		}
	}
	for _, bad := range []string{
		tok[:20] + "\n" + tok[20:],
		tok[:20] + " " + tok[20:],
		"\n" + tok,
		tok + "\n" + "A",
		tok + "\x00",
		tok + "\v",
	} {
		if _, err := OpenFernet(fromBytes([]byte(bad)), p.key); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token with inner or odd whitespace: %v, want ErrInvalidToken", err)
		}
	}
}

// mustRefuse checks that a tampered token is refused by OpenFernet itself,
// that is, before the caller could read any plaintext.
func mustRefuse(t *testing.T, what string, tok []byte, k FernetKey) {
	t.Helper()
	r, err := OpenFernet(fromBytes(tok), k)
	if err == nil {
		got, rerr := drain(r)
		t.Fatalf("%s: token accepted; read %d bytes, %v", what, len(got), rerr)
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("%s: error %v does not wrap ErrInvalidToken", what, err)
	}
}

func TestFernetEveryBitFlipRefused(t *testing.T) {
	p := testParams(t)
	for _, n := range []int{0, 5, 40} { // the three tokens end in "", "=" and "=="
		tok := encryptToken(t, p, plaintextOf(n))
		for i := range tok {
			for bit := range 8 {
				bad := bytes.Clone(tok)
				bad[i] ^= 1 << bit
				mustRefuse(t, fmt.Sprintf("%d-byte plaintext, byte %d bit %d flipped", n, i, bit), bad, p.key)
			}
		}
	}
}

func TestFernetTruncatedRefused(t *testing.T) {
	p := testParams(t)
	tok := encryptToken(t, p, plaintextOf(100))
	for n := range len(tok) {
		mustRefuse(t, fmt.Sprintf("truncated to %d of %d", n, len(tok)), tok[:n], p.key)
	}
}

func TestFernetAppendedRefused(t *testing.T) {
	p := testParams(t)
	tok := encryptToken(t, p, plaintextOf(100))
	other := encryptToken(t, p, []byte("x"))
	for _, suffix := range []string{"A", "AA", "AAAA", "====", "=", "%", "\x00", "\n=", string(other)} {
		mustRefuse(t, fmt.Sprintf("suffix %q", suffix), append(bytes.Clone(tok), suffix...), p.key)
	}
	// Extra valid base64 after a token that ends without padding.
	tok48 := encryptToken(t, p, plaintextOf(47)) // 25+48+32 = 105 bytes: no padding
	if bytes.HasSuffix(tok48, []byte("=")) {
		t.Fatal("test token unexpectedly padded")
	}
	mustRefuse(t, "unpadded token + AAAA", append(bytes.Clone(tok48), "AAAA"...), p.key)
}

func TestFernetWrongKeyRefused(t *testing.T) {
	p := testParams(t)
	tok := encryptToken(t, p, []byte("secret"))
	other := p.key
	other.Signing[0] ^= 1
	mustRefuse(t, "wrong signing key", tok, other)
	other = p.key
	other.Encryption[0] ^= 1 // MAC holds; padding (almost surely) does not
	mustRefuse(t, "wrong encryption key", tok, other)
}

func TestFernetVersionRefused(t *testing.T) {
	p := testParams(t)
	raw, err := base64.URLEncoding.DecodeString(string(encryptToken(t, p, []byte("x"))))
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = 0x81
	_, err = OpenFernet(fromBytes([]byte(base64.URLEncoding.EncodeToString(raw))), p.key)
	if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "version") {
		t.Errorf("version 0x81: %v, want a version error", err)
	}
}

// TestFernetBadPaddingManyChunks: a token with a valid MAC but bad padding
// spanning many chunks is refused before the first chunk is released.
func TestFernetBadPaddingManyChunks(t *testing.T) {
	p := testParams(t)
	p.rawPadding = true
	for _, last := range []byte{0, 17, 0xff} {
		plain := plaintextOf(1024)
		plain[len(plain)-1] = last
		tok := encryptToken(t, p, plain)
		r, err := openFernet(fromBytes(tok), p.key, 32)
		if err == nil {
			got, _ := drain(r)
			t.Fatalf("padding byte %d: accepted, released %d bytes", last, len(got))
		}
		if !strings.Contains(err.Error(), "padding") {
			t.Errorf("padding byte %d: %v, want a padding error", last, err)
		}
	}
	plain := plaintextOf(1024)
	copy(plain[len(plain)-4:], []byte{3, 4, 4, 4}) // claims 4, one byte differs
	if _, err := openFernet(fromBytes(encryptToken(t, p, plain)), p.key, 32); err == nil {
		t.Error("inconsistent padding accepted")
	}
}

// TestFernetChangedBetweenPasses changes one decoded byte of the token
// between the verifying and the decrypting pass, at every position. The
// reader must fail with ErrTokenChanged, and what it released before must be
// authentic plaintext from chunks entirely before the change.
func TestFernetChangedBetweenPasses(t *testing.T) {
	const chunk = 64
	p := testParams(t)
	plain := plaintextOf(700) // 704 bytes of ciphertext: 11 chunks
	tok := encryptToken(t, p, plain)
	raw, err := base64.URLEncoding.DecodeString(string(tok))
	if err != nil {
		t.Fatal(err)
	}
	ctLen := len(raw) - fernetHeaderLen - fernetMACLen
	lastChunk := (ctLen+chunk-1)/chunk - 1
	for off := range raw {
		changed := bytes.Clone(raw)
		changed[off] ^= 0x04
		got, err := decodeAll(passes(tok, []byte(base64.URLEncoding.EncodeToString(changed))), p.key, chunk)
		if !errors.Is(err, ErrTokenChanged) {
			t.Fatalf("byte %d changed: %v, want ErrTokenChanged", off, err)
		}
		// Index of the chunk holding the change; the MAC belongs to the last.
		c := lastChunk
		if ct := off - fernetHeaderLen; off < fernetHeaderLen {
			c = 0
		} else if ct < ctLen {
			c = ct / chunk
		}
		if len(got) > c*chunk || !bytes.Equal(got, plain[:len(got)]) {
			t.Fatalf("byte %d (chunk %d) changed: released %d bytes (authentic: %v), want at most %d authentic bytes",
				off, c, len(got), bytes.Equal(got, plain[:min(len(got), len(plain))]), c*chunk)
		}
	}
}

func TestFernetChangedLengthBetweenPasses(t *testing.T) {
	p := testParams(t)
	plain := plaintextOf(300)
	tok := encryptToken(t, p, plain)
	longer := encryptToken(t, p, plaintextOf(400))
	for name, second := range map[string][]byte{
		"truncated":        tok[:len(tok)-8],
		"cut mid-token":    tok[:len(tok)/2],
		"empty":            nil,
		"appended base64":  append(bytes.Clone(tok), "AAAA"...),
		"appended garbage": append(bytes.Clone(tok), "\n#"...),
		"another token":    encryptToken(t, p, plaintextOf(300)[1:]),
		"longer plaintext": longer,
	} {
		got, err := decodeAll(passes(tok, second), p.key, 32)
		if !errors.Is(err, ErrTokenChanged) {
			t.Errorf("%s: %v, want ErrTokenChanged", name, err)
		}
		if !bytes.Equal(got, plain[:min(len(got), len(plain))]) {
			t.Errorf("%s: released bytes that are not the verified plaintext", name)
		}
	}

	// An unpadded token, followed by more valid base64 in the second pass.
	plain = plaintextOf(47)
	tok = encryptToken(t, p, plain)
	for name, second := range map[string][]byte{
		"unpadded + AAAA": append(bytes.Clone(tok), "AAAA"...),
		"unpadded + ====": append(bytes.Clone(tok), "===="...),
	} {
		got, err := decodeAll(passes(tok, second), p.key, 32)
		if !errors.Is(err, ErrTokenChanged) {
			t.Errorf("%s: %v, want ErrTokenChanged", name, err)
		}
		if !bytes.Equal(got, plain[:min(len(got), len(plain))]) {
			t.Errorf("%s: released bytes that are not the verified plaintext", name)
		}
	}
}

// failingReader returns its data, then err instead of io.EOF.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestFernetSourceErrors(t *testing.T) {
	p := testParams(t)
	tok := encryptToken(t, p, plaintextOf(300))
	boom := errors.New("network down")

	// A read error in the first pass.
	open := func() (io.ReadCloser, error) {
		return io.NopCloser(&failingReader{data: tok[:100], err: boom}), nil
	}
	if _, err := OpenFernet(open, p.key); !errors.Is(err, boom) {
		t.Errorf("read error in pass 1: %v, want it wrapped", err)
	}

	// A read error in the second pass, after a good first pass.
	calls := 0
	open = func() (io.ReadCloser, error) {
		calls++
		if calls == 1 {
			return io.NopCloser(bytes.NewReader(tok)), nil
		}
		return io.NopCloser(&failingReader{data: tok[:200], err: boom}), nil
	}
	if _, err := decodeAll(open, p.key, 32); !errors.Is(err, boom) {
		t.Errorf("read error in pass 2: %v, want it wrapped", err)
	}

	// open itself failing, first or second time.
	for fail := 1; fail <= 2; fail++ {
		calls := 0
		open := func() (io.ReadCloser, error) {
			calls++
			if calls == fail {
				return nil, boom
			}
			return io.NopCloser(bytes.NewReader(tok)), nil
		}
		if _, err := OpenFernet(open, p.key); !errors.Is(err, boom) {
			t.Errorf("open fails on call %d: %v, want it wrapped", fail, err)
		}
	}
	if _, err := OpenFernet(nil, p.key); err == nil {
		t.Error("nil open accepted")
	}
}

// closeRecorder counts Close calls and can fail them.
type closeRecorder struct {
	io.Reader
	closed *int
	err    error
}

func (c closeRecorder) Close() error { *c.closed++; return c.err }

func TestFernetClose(t *testing.T) {
	p := testParams(t)
	tok := encryptToken(t, p, plaintextOf(300))
	closed := 0
	open := func() (io.ReadCloser, error) {
		return closeRecorder{Reader: bytes.NewReader(tok), closed: &closed}, nil
	}
	r, err := OpenFernet(open, p.key)
	if err != nil {
		t.Fatal(err)
	}
	if closed != 1 {
		t.Errorf("after OpenFernet, %d sources closed, want 1 (the verifying pass)", closed)
	}
	buf := make([]byte, 10)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if closed != 2 {
		t.Errorf("after Close, %d sources closed, want 2", closed)
	}
	if n, err := r.Read(buf); n != 0 || err == nil || err == io.EOF {
		t.Errorf("Read after Close = %d, %v; want an error", n, err)
	}

	// A failing Close of the verifying pass's source is reported.
	boom := errors.New("close failed")
	open = func() (io.ReadCloser, error) {
		return closeRecorder{Reader: bytes.NewReader(tok), closed: &closed, err: boom}, nil
	}
	if _, err := OpenFernet(open, p.key); !errors.Is(err, boom) {
		t.Errorf("close error: %v, want it wrapped", err)
	}
}

func TestOpenFernetChunkSize(t *testing.T) {
	p := testParams(t)
	for _, chunk := range []int64{0, -16, 8, 17} {
		if _, err := openFernet(fromBytes(encryptToken(t, p, nil)), p.key, chunk); err == nil {
			t.Errorf("chunk size %d accepted", chunk)
		}
	}
}
