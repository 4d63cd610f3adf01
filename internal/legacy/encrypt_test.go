package legacy

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"testing"
)

// This file holds a test-only Fernet encryptor, written from the spec, used
// to make tokens the tests can then tamper with.

// tokenParams are the inputs of a Fernet token besides the plaintext.
type tokenParams struct {
	key FernetKey
	ts  uint64
	iv  [16]byte
	// rawPadding: the plaintext is already block-aligned and used as is, so
	// tests can build tokens whose padding is wrong but whose MAC is right.
	rawPadding bool
}

// encryptToken returns the token text of plaintext.
func encryptToken(t testing.TB, p tokenParams, plaintext []byte) []byte {
	t.Helper()
	tok, err := io.ReadAll(newTokenStream(p, bytes.NewReader(plaintext)))
	if err != nil {
		t.Fatalf("encrypt test token: %v", err)
	}
	return tok
}

// tokenStream produces the token text of a plaintext read from src, piece by
// piece, so that tests can make tokens far larger than they want to hold.
type tokenStream struct {
	p     tokenParams
	src   io.Reader
	cbc   cipher.BlockMode
	mac   hash.Hash
	text  bytes.Buffer
	enc   io.WriteCloser // base64 into text
	plain []byte
	done  bool
	err   error
}

func newTokenStream(p tokenParams, src io.Reader) *tokenStream {
	block, err := aes.NewCipher(p.key.Encryption[:])
	if err != nil {
		return &tokenStream{err: err}
	}
	s := &tokenStream{
		p:     p,
		src:   src,
		cbc:   cipher.NewCBCEncrypter(block, p.iv[:]),
		mac:   hmac.New(sha256.New, p.key.Signing[:]),
		plain: make([]byte, 32<<10),
	}
	s.enc = base64.NewEncoder(base64.URLEncoding, &s.text)
	var hdr [25]byte
	hdr[0] = 0x80
	binary.BigEndian.PutUint64(hdr[1:9], p.ts)
	copy(hdr[9:], p.iv[:])
	s.emit(hdr[:])
	return s
}

func (s *tokenStream) emit(b []byte) {
	s.mac.Write(b)
	s.enc.Write(b) // writes into a bytes.Buffer cannot fail
}

func (s *tokenStream) Read(p []byte) (int, error) {
	for s.text.Len() == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		s.step()
	}
	return s.text.Read(p)
}

// step encrypts the next piece of plaintext, and finishes the token at the
// end of the plaintext.
func (s *tokenStream) step() {
	n, err := io.ReadFull(s.src, s.plain)
	last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !last {
		s.err = err
		return
	}
	b := s.plain[:n]
	if last && !s.p.rawPadding {
		pad := 16 - n%16
		b = append(b, bytes.Repeat([]byte{byte(pad)}, pad)...)
	}
	if len(b)%16 != 0 {
		s.err = errors.New("test token: raw plaintext is not block aligned")
		return
	}
	s.cbc.CryptBlocks(b, b)
	s.emit(b)
	if last {
		s.enc.Write(s.mac.Sum(nil))
		s.enc.Close()
		s.done = true
	}
}

func (s *tokenStream) Close() error { return nil }
