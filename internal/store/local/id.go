package local

import (
	"crypto/rand"
	"encoding/base64"
)

// maxIDLen bounds ids so that "<id>.json" and "<id>.part" stay well within
// the 255-byte file name limit of common file systems.
const maxIDLen = 200

// newID returns 43 characters of url-safe base64 from 32 random bytes,
// never starting with "-": an archive's file name is given to other tools
// (age -d ARCHIVE, zstd, cp), which would take it for an option.
func newID() string {
	for {
		var b [32]byte
		_, _ = rand.Read(b[:]) // never fails since Go 1.24
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}

// validID reports whether id is safe as a file name here: 1 to maxIDLen
// characters from [A-Za-z0-9_-]. Glacier archive ids qualify.
func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
