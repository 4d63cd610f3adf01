package store

import (
	"crypto/rand"
	"encoding/base64"
)

// NewID returns a new object id for the stores that name their objects
// (the local store, S3): 43 characters of url-safe base64 from 32 random
// bytes, never starting with "-". An id becomes a file name (a local
// store's archives, an S3 object downloaded under its key's last part),
// which the standard tools of the recovery recipes (age -d ARCHIVE, tail,
// zstd, cp) would take for an option.
func NewID() string {
	for {
		var b [32]byte
		_, _ = rand.Read(b[:]) // never fails since Go 1.24
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}
