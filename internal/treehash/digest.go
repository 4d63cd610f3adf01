package treehash

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Digest is a tree hash (or any node of a tree): 32 bytes.
type Digest [Size]byte

// ErrBadHex is wrapped by ParseHex's errors.
var ErrBadHex = errors.New("tree hash must be 64 hexadecimal digits")

// String returns the digest as 64 lower-case hexadecimal digits, the form the
// Glacier API uses in headers and JSON.
func (d Digest) String() string {
	return hex.EncodeToString(d[:])
}

// ParseHex parses 64 hexadecimal digits (either case) into a Digest.
func ParseHex(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*Size {
		return d, fmt.Errorf("parse tree hash %q: %w", truncate(s), ErrBadHex)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return Digest{}, fmt.Errorf("parse tree hash %q: %w", truncate(s), ErrBadHex)
	}
	return d, nil
}

// truncate shortens s for use in an error message.
func truncate(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
