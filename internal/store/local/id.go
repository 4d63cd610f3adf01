package local

import "github.com/grsync/grsync/internal/store"

// maxIDLen bounds ids so that "<id>.json" and "<id>.part" stay well within
// the 255-byte file name limit of common file systems.
const maxIDLen = 200

// newID returns a new id (store.NewID: never starting with "-").
func newID() string { return store.NewID() }

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
