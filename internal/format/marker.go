package format

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// StoreMarker is a store's marker (docs/FORMAT.md section 10): the value of
// its "marker" ref. It names the store (a random id) and the key that owns
// it, as a proof that only the key can make, or says that the store's
// archives are not encrypted.
type StoreMarker struct {
	// ID is the store's identity: 32 lower-case hex digits, random.
	ID string
	// Proof is the key proof (keys.Key.MarkerProof of ID), or "" when the
	// store's archives are not encrypted ("key=none").
	Proof string
}

// ErrBadMarker: a value that should be a store marker is not one.
var ErrBadMarker = errors.New("damaged store marker")

const (
	markerMagic   = "grsync-store"
	markerVersion = "1"
	markerIDLen   = 32
	proofLen      = 22
)

// NewStoreID returns a new random store id: 16 bytes from the operating
// system's CSPRNG, in lower-case hex.
func NewStoreID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// Encrypted reports whether the marker says the store's archives are
// encrypted (it carries a key proof).
func (m StoreMarker) Encrypted() bool { return m.Proof != "" }

// Proves reports whether proof, computed by the caller from its key and
// m.ID, is the marker's proof (in constant time).
func (m StoreMarker) Proves(proof string) bool {
	return m.Proof != "" && subtle.ConstantTimeCompare([]byte(m.Proof), []byte(proof)) == 1
}

// String returns the marker's text, as a writer writes it.
func (m StoreMarker) String() string {
	key := m.Proof
	if key == "" {
		key = "none"
	}
	return markerMagic + " " + markerVersion + " id=" + m.ID + " key=" + key
}

// ParseStoreMarker reads a marker. A marker of another version is
// ErrUnsupportedVersion (written by a newer grsync); anything else that is
// not a valid marker is ErrBadMarker. Fields after key= are ignored, as
// version 1 allows.
func ParseStoreMarker(s string) (StoreMarker, error) {
	f := strings.Split(s, " ")
	if len(f) < 2 || f[0] != markerMagic {
		return StoreMarker{}, fmt.Errorf("%w: %q does not start with %q", ErrBadMarker, clipMarker(s), markerMagic+" ")
	}
	if f[1] != markerVersion {
		if validVersion(f[1]) {
			return StoreMarker{}, fmt.Errorf("%w: store marker version %s (this grsync reads version 1)", ErrUnsupportedVersion, f[1])
		}
		return StoreMarker{}, fmt.Errorf("%w: invalid version %q", ErrBadMarker, clipMarker(f[1]))
	}
	if len(f) < 4 {
		return StoreMarker{}, fmt.Errorf("%w: %q lacks id= or key=", ErrBadMarker, clipMarker(s))
	}
	var m StoreMarker
	id, ok := strings.CutPrefix(f[2], "id=")
	if !ok || !validStoreID(id) {
		return StoreMarker{}, fmt.Errorf("%w: %q is not id= and 32 lower-case hex digits", ErrBadMarker, clipMarker(f[2]))
	}
	m.ID = id
	key, ok := strings.CutPrefix(f[3], "key=")
	switch {
	case !ok:
		return StoreMarker{}, fmt.Errorf("%w: %q is not key=", ErrBadMarker, clipMarker(f[3]))
	case key == "none":
	case validProof(key):
		m.Proof = key
	default:
		return StoreMarker{}, fmt.Errorf("%w: key=%q is neither none nor a key proof of %d base64url characters", ErrBadMarker, clipMarker(key), proofLen)
	}
	for _, field := range f[4:] {
		if !validMarkerField(field) {
			return StoreMarker{}, fmt.Errorf("%w: invalid field %q", ErrBadMarker, clipMarker(field))
		}
	}
	return m, nil
}

// validVersion: a version number, 1 to 9 digits without a leading zero.
func validVersion(v string) bool {
	if len(v) == 0 || len(v) > 9 || v[0] == '0' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

func validStoreID(id string) bool {
	if len(id) != markerIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validProof: 22 base64url characters whose unused low bits are zero (the
// canonical encoding of 16 bytes).
func validProof(p string) bool {
	if len(p) != proofLen {
		return false
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(p); i++ {
		if strings.IndexByte(alphabet, p[i]) < 0 {
			return false
		}
	}
	return strings.IndexByte(alphabet, p[len(p)-1])&0x0f == 0
}

// validMarkerField: NAME=VALUE, NAME of a-z, 0-9 and - starting with a
// letter, VALUE of letters, digits and _ . / + - @ (no space, no =).
func validMarkerField(f string) bool {
	name, value, ok := strings.Cut(f, "=")
	if !ok || name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_./+-@", c) >= 0) {
			return false
		}
	}
	return true
}

func clipMarker(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
