package legacy

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// FuzzFernet feeds arbitrary bytes to OpenFernet: it must never panic, and
// any token it accepts must be the canonical encoding of its own content
// (no malleability: re-encrypting the plaintext with the token's timestamp
// and IV gives back the same text). Independently, every plaintext must
// round-trip through the test encryptor.
func FuzzFernet(f *testing.F) {
	p := testParams(f)
	for _, n := range []int{0, 1, 16, 100} {
		f.Add(encryptToken(f, p, plaintextOf(n)), plaintextOf(n))
	}
	f.Add(append(encryptToken(f, p, []byte("x")), "\r\n"...), []byte("x"))
	f.Add([]byte("gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF"), []byte{})
	f.Add([]byte{}, []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, token, plain []byte) {
		got, err := decodeAll(fromBytes(token), p.key, 32)
		if err == nil {
			text := bytes.TrimRight(token, " \t\r\n")
			raw, derr := base64.URLEncoding.DecodeString(string(text))
			if derr != nil || len(raw) < fernetHeaderLen {
				t.Fatalf("accepted a token that is not base64 of a header: %v", derr)
			}
			again := tokenParams{key: p.key, ts: binary.BigEndian.Uint64(raw[1:9])}
			copy(again.iv[:], raw[9:25])
			if canon := encryptToken(t, again, got); !bytes.Equal(canon, text) {
				t.Fatalf("accepted a non-canonical token:\n%q\ncanonical:\n%q", text, canon)
			}
		} else if !errorsIsAny(err, ErrInvalidToken, ErrTokenChanged) {
			t.Fatalf("error %v wraps neither ErrInvalidToken nor ErrTokenChanged", err)
		}

		tok := encryptToken(t, p, plain)
		for _, chunk := range []int64{16, fernetChunk} {
			back, err := decodeAll(fromBytes(tok), p.key, chunk)
			if err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("round trip (chunk %d): %d bytes, %v; want %d bytes", chunk, len(back), err, len(plain))
			}
		}
	})
}

// FuzzDecode runs Decode over every compression value the fuzzer invents
// and arbitrary archive bytes: no panics, unknown values are named in the
// error, plain returns its input, and every reader ends in io.EOF or an
// error.
func FuzzDecode(f *testing.F) {
	p := testParams(f)
	for _, c := range []string{"", CompressionPlain, CompressionZstd, CompressionPlainZstd, CompressionEncrypted, CompressionEncryptedZstd, "gzip"} {
		f.Add(c, []byte("hello"))
	}
	f.Add(CompressionZstd, zstdCompress(f, []byte("hello hello hello")))
	f.Add(CompressionEncrypted, encryptToken(f, p, []byte("hello")))
	f.Add(CompressionEncryptedZstd, zstdCompress(f, encryptToken(f, p, []byte("hello"))))
	f.Fuzz(func(t *testing.T, compression string, archive []byte) {
		got, err := decodeBytes(compression, archive, &p.key)
		switch {
		case !IsLegacyCompression(compression):
			if !errors.Is(err, ErrUnknownCompression) || !strings.Contains(err.Error(), strconv.Quote(compression)) {
				t.Fatalf("Decode(%q): %v, want ErrUnknownCompression naming the value", compression, err)
			}
		case compression == "" || compression == CompressionPlain:
			if err != nil || !bytes.Equal(got, archive) {
				t.Fatalf("plain: %v, or output differs from input", err)
			}
		case err == nil && (compression == CompressionEncrypted || compression == CompressionEncryptedZstd):
			// Whatever the fuzzer found must be a token made with the key.
			if _, err := Decode(compression, fromBytes(archive), nil); !errors.Is(err, ErrKeyRequired) {
				t.Fatalf("without key: %v, want ErrKeyRequired", err)
			}
		}
		if err == io.EOF {
			t.Fatal("io.EOF leaked as an error")
		}
	})
}

// FuzzParseDescription: no panics, and any accepted description is exactly
// "grsync|" + path + "|" + size + "|" + a float repr of MTime + "|" + user
// description, with an absolute path.
func FuzzParseDescription(f *testing.F) {
	for _, s := range []string{
		"grsync|/home/alice/backup-src/docs/report.txt|5571|1710590400.123456|My description",
		"grsync|/home/alice/backup-src/it's a \"quoted\" name|pipe.txt|27|1710601200.123456|nightly",
		"grsync|/a|1|2.0|3|4.0|d",
		"grsync|/a|5|1e+16|None",
		"grsync|/a|5|-1.5e-07|",
		"grsync|a|1|2.0|None",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		all, err := DescriptionCandidates(s)
		d, perr := ParseDescription(s)
		if (err == nil) != (perr == nil) {
			t.Fatalf("DescriptionCandidates and ParseDescription disagree: %v vs %v", err, perr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadDescription) {
				t.Fatalf("error %v does not wrap ErrBadDescription", err)
			}
			return
		}
		if d != all[0] {
			t.Fatalf("ParseDescription = %+v, want the first candidate %+v", d, all[0])
		}
		for _, c := range all {
			if !strings.HasPrefix(c.Path, "/") {
				t.Fatalf("relative path %q", c.Path)
			}
			if c.Ambiguous != (len(all) > 1) {
				t.Fatalf("Ambiguous = %v with %d candidates", c.Ambiguous, len(all))
			}
			desc := "None"
			if c.HasUserDesc {
				desc = c.UserDesc
			} else if c.UserDesc != "" {
				t.Fatalf("UserDesc %q without HasUserDesc", c.UserDesc)
			}
			head := "grsync|" + c.Path + "|" + strconv.FormatInt(c.Size, 10) + "|"
			tail := "|" + desc
			if !strings.HasPrefix(s, head) || !strings.HasSuffix(s, tail) || len(head)+len(tail) >= len(s) {
				t.Fatalf("%+v does not rebuild %q", c, s)
			}
			mtime := s[len(head) : len(s)-len(tail)]
			if f, err := strconv.ParseFloat(mtime, 64); err != nil || f != c.MTime || strings.Contains(mtime, "|") {
				t.Fatalf("mtime field %q, parsed %v, want %v", mtime, f, c.MTime)
			}
		}
	})
}
