package legacy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestIsLegacyCompression(t *testing.T) {
	for _, c := range []string{"", "plain", "zstd", "plain+zstd", "encrypted", "encrypted+zstd"} {
		if !IsLegacyCompression(c) {
			t.Errorf("IsLegacyCompression(%q) = false, want true", c)
		}
	}
	for _, c := range []string{"Plain", "ZSTD", " plain", "plain ", "zstd+encrypted", "gzip", "none", "age+zstd", "encrypted+"} {
		if IsLegacyCompression(c) {
			t.Errorf("IsLegacyCompression(%q) = true, want false", c)
		}
	}
}

func TestDecodeUnknownCompression(t *testing.T) {
	k := testKey(t)
	for _, c := range []string{"gzip", "Plain", "zstd+encrypted", " plain", "age"} {
		_, err := Decode(c, fromBytes([]byte("data")), &k)
		if !errors.Is(err, ErrUnknownCompression) {
			t.Errorf("Decode(%q): %v, want ErrUnknownCompression", c, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+c+`"`) {
			t.Errorf("Decode(%q): error %q does not name the value", c, err)
		}
	}
}

func TestDecodePlain(t *testing.T) {
	for _, c := range []string{"", CompressionPlain} {
		got, err := decodeBytes(c, []byte("as stored\x00\xff"), nil)
		if err != nil || string(got) != "as stored\x00\xff" {
			t.Errorf("Decode(%q) = %q, %v", c, got, err)
		}
	}
}

// decodeBytes decodes an archive held in memory.
func decodeBytes(compression string, archive []byte, key *FernetKey) ([]byte, error) {
	r, err := Decode(compression, fromBytes(archive), key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return drain(r)
}

func TestDecodeZstdForms(t *testing.T) {
	k := testKey(t)
	p := testParams(t)
	for _, n := range []int{0, 1, 1000, 200000} {
		plain := plaintextOf(n)
		for c, archive := range map[string][]byte{
			CompressionZstd:          zstdCompress(t, plain),
			CompressionPlainZstd:     zstdCompress(t, plain),
			CompressionEncrypted:     encryptToken(t, p, plain),
			CompressionEncryptedZstd: zstdCompress(t, encryptToken(t, p, plain)),
		} {
			got, err := decodeBytes(c, archive, &k)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("%s, %d bytes: got %d bytes, %v", c, n, len(got), err)
			}
		}
	}
}

// TestDecodeZstdDamaged: an empty, truncated, or extended zstd stream is an
// error, never a clean io.EOF.
func TestDecodeZstdDamaged(t *testing.T) {
	archive := zstdCompress(t, plaintextOf(3000))
	cases := map[string][]byte{
		"empty":            nil,
		"garbage appended": append(bytes.Clone(archive), "garbage!"...),
		"not zstd":         []byte("hello, plain text"),
	}
	for n := 1; n < len(archive); n += 7 {
		if _, err := decodeBytes(CompressionZstd, archive[:n], nil); err == nil {
			t.Errorf("zstd truncated to %d of %d bytes: no error", n, len(archive))
		}
	}
	for name, b := range cases {
		if _, err := decodeBytes(CompressionPlainZstd, b, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestDecodeZstdWindowLimit: a frame that asks for a 1 GiB window is refused
// instead of making the decoder allocate it.
func TestDecodeZstdWindowLimit(t *testing.T) {
	frame := []byte{
		0x28, 0xb5, 0x2f, 0xfd, // magic
		0x00,             // frame header: no checksum, no content size
		(30 - 10) << 3,   // window descriptor: 2^30 bytes
		0x09, 0x00, 0x00, // last block, raw, 1 byte
		'x',
	}
	if _, err := decodeBytes(CompressionZstd, frame, nil); err == nil {
		t.Error("1 GiB window accepted")
	}
	frame[5] = (20 - 10) << 3 // 1 MiB: fine
	if got, err := decodeBytes(CompressionZstd, frame, nil); err != nil || string(got) != "x" {
		t.Errorf("1 MiB window: %q, %v", got, err)
	}
}

func TestDecodeEncryptedNeedsKey(t *testing.T) {
	tok := encryptToken(t, testParams(t), []byte("x"))
	for _, c := range []string{CompressionEncrypted, CompressionEncryptedZstd} {
		_, err := Decode(c, fromBytes(tok), nil)
		if !errors.Is(err, ErrKeyRequired) {
			t.Errorf("Decode(%q) without key: %v, want ErrKeyRequired", c, err)
		}
	}
}

func TestDecodeOpenErrors(t *testing.T) {
	k := testKey(t)
	boom := errors.New("vault unreachable")
	open := func() (io.ReadCloser, error) { return nil, boom }
	for _, c := range []string{"", CompressionPlain, CompressionZstd, CompressionPlainZstd, CompressionEncrypted, CompressionEncryptedZstd} {
		if _, err := Decode(c, open, &k); !errors.Is(err, boom) {
			t.Errorf("Decode(%q) with failing open: %v, want it wrapped", c, err)
		}
		if _, err := Decode(c, nil, &k); err == nil {
			t.Errorf("Decode(%q) with nil open: no error", c)
		}
	}
}

func TestDecodeZstdClose(t *testing.T) {
	closed := 0
	archive := zstdCompress(t, []byte("abc"))
	open := func() (io.ReadCloser, error) {
		return closeRecorder{Reader: bytes.NewReader(archive), closed: &closed}, nil
	}
	r, err := Decode(CompressionZstd, open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if closed != 1 {
		t.Errorf("source closed %d times, want 1", closed)
	}
	if _, err := r.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Errorf("Read after Close: %v, want an error", err)
	}
}
