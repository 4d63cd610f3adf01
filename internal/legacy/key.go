package legacy

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// FernetKeySize is the length of a raw Fernet key in bytes.
const FernetKeySize = 32

// FernetKey is a Fernet key split into its two halves: the first 16 bytes of
// the raw key sign tokens (HMAC-SHA256), the last 16 bytes encrypt them
// (AES-128-CBC).
//
// Its String method never prints the key material, so a key that ends up in
// a log line or an error message does not leak.
type FernetKey struct {
	Signing    [16]byte
	Encryption [16]byte
}

// FernetKeyFromRaw splits a raw 32-byte key into its signing and encryption
// halves. Any other length is an error.
func FernetKeyFromRaw(raw []byte) (FernetKey, error) {
	var k FernetKey
	if len(raw) != FernetKeySize {
		return k, fmt.Errorf("fernet key is %d bytes, want %d", len(raw), FernetKeySize)
	}
	copy(k.Signing[:], raw[:16])
	copy(k.Encryption[:], raw[16:])
	return k, nil
}

// ParseFernetKey reads a key in the form the Python tools stored it: the
// url-safe base64 text of 32 bytes (44 characters with padding), as written
// by Python's Fernet.generate_key. Surrounding whitespace (a trailing newline
// added by an editor) is ignored; padding may be omitted.
func ParseFernetKey(text []byte) (FernetKey, error) {
	s := bytes.TrimSpace(text)
	s = bytes.TrimRight(s, "=")
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(s)))
	n, err := base64.RawURLEncoding.Strict().Decode(raw, s)
	if err != nil {
		return FernetKey{}, fmt.Errorf("fernet key is not url-safe base64: %w", err)
	}
	k, err := FernetKeyFromRaw(raw[:n])
	clear(raw)
	return k, err
}

// String describes the key without revealing it.
func (k FernetKey) String() string { return "legacy.FernetKey(redacted)" }

// GoString describes the key without revealing it, also under %#v.
func (k FernetKey) GoString() string { return k.String() }
