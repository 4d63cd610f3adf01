// Package keys reads, writes and derives grsync keys.
//
// A grsync key is 32 random bytes, written as url-safe base64 with padding
// (44 characters): the Fernet key format of the Python tool that grsync
// replaces, so existing key files keep working. Every key grsync uses for its
// own formats is derived from those bytes with HKDF-SHA256; see
// docs/FORMAT.md, section 1.
package keys

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Size is the length of a key in bytes.
const Size = 32

// EncodedLen is the length of a key's text form, padding included.
const EncodedLen = 44

// GenerateHint tells the user how to make a good key; key errors end with it.
const GenerateHint = "generate one with `grsync keygen > my.key && chmod 600 my.key`"

// Key is a grsync key. The zero value is a valid (all-zero) key, which is
// only useful in tests.
type Key struct {
	b [Size]byte
}

// Parse reads a key from its text form: 44 characters of url-safe base64
// with padding, or the 43-character unpadded form. Surrounding white space is
// ignored. The error says what is wrong and how to make a good key.
func Parse(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Key{}, fmt.Errorf("key is empty; %s", GenerateHint)
	}
	body := strings.TrimRight(s, "=")
	padding := len(s) - len(body)
	if err := checkAlphabet(body); err != nil {
		return Key{}, fmt.Errorf("%w; %s", err, GenerateHint)
	}
	if n := len(body) * 6 / 8; n != Size {
		return Key{}, fmt.Errorf("key decodes to %d bytes, need %d (a key is %d characters, this one has %d); %s",
			n, Size, EncodedLen, utf8.RuneCountInString(s), GenerateHint)
	}
	if padding > 1 {
		return Key{}, fmt.Errorf("key ends with %d '=' characters, a key has at most one; %s", padding, GenerateHint)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		// Unreachable after the checks above; kept so that a change to them
		// cannot turn into a wrong key.
		return Key{}, fmt.Errorf("key is not valid base64: %w; %s", err, GenerateHint)
	}
	var k Key
	copy(k.b[:], raw)
	return k, nil
}

// checkAlphabet reports the first character of s that is not url-safe
// base64, with its 1-based position.
func checkAlphabet(s string) error {
	pos := 0
	for _, r := range s {
		pos++
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
		case r == '+' || r == '/':
			return fmt.Errorf("key contains %q at position %d, which is standard base64; grsync keys use url-safe base64 ('-' and '_' instead of '+' and '/')", r, pos)
		case r == '=':
			return fmt.Errorf("key contains '=' at position %d; '=' may only end a key", pos)
		default:
			return fmt.Errorf("key contains invalid character %q at position %d (allowed: A-Z a-z 0-9 - _)", r, pos)
		}
	}
	return nil
}

// Generate makes a new key from 32 bytes of r, which should be
// crypto/rand.Reader outside tests.
func Generate(r io.Reader) (Key, error) {
	var k Key
	if _, err := io.ReadFull(r, k.b[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: read random bytes: %w", err)
	}
	return k, nil
}

// String returns the key's 44-character text form, as stored in key files.
func (k Key) String() string {
	return base64.URLEncoding.EncodeToString(k.b[:])
}

// Raw returns a copy of the key's 32 bytes. Only the legacy Fernet format
// uses them directly; grsync's own formats use derived keys.
func (k Key) Raw() []byte {
	out := make([]byte, Size)
	copy(out, k.b[:])
	return out
}
