package keys

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"filippo.io/age"
)

// HKDF info strings; see docs/FORMAT.md section 1.2. Changing any of them
// makes every existing archive unreadable.
const (
	infoAgeX25519   = "grsync/v1 age-x25519"
	infoMetadata    = "grsync/v1 metadata"
	infoContentHash = "grsync/v1 content-hash"
	infoFingerprint = "grsync/v1 fingerprint"
	infoResume      = "grsync/v1 resume-state"
	infoChunker     = "grsync/v1 chunker"
	infoMarker      = "grsync/v1 marker"
)

// markerLabel starts the message of a store marker's key proof.
const markerLabel = "grsync-store-marker"

// MarkerProofLen is the length of a store marker's key proof: 16 bytes of
// HMAC-SHA256 in unpadded base64url.
const MarkerProofLen = 22

// derive returns n bytes of HKDF-SHA256 of the key with an empty salt.
func (k Key) derive(info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.b[:], nil, info, n)
	if err != nil {
		// hkdf.Key fails only for n > 255*32 or in FIPS mode with short keys,
		// neither of which can happen with the constants used here.
		panic(fmt.Sprintf("keys: HKDF-SHA256 of %d bytes: %v", n, err))
	}
	return out
}

// Fingerprint returns a short identifier of the key that reveals nothing
// about it, for messages and the catalogue: "k1:" and 16 hex digits.
func (k Key) Fingerprint() string {
	return "k1:" + hex.EncodeToString(k.derive(infoFingerprint, 8))
}

// MetadataKey returns the XChaCha20-Poly1305 key that encrypts archive
// descriptions.
func (k Key) MetadataKey() [32]byte {
	var out [32]byte
	copy(out[:], k.derive(infoMetadata, 32))
	return out
}

// ResumeKey returns the XChaCha20-Poly1305 key that seals, in the local
// catalogue, the state that lets a later run continue an interrupted upload
// (docs/FORMAT.md section 2.6).
func (k Key) ResumeKey() [32]byte {
	var out [32]byte
	copy(out[:], k.derive(infoResume, 32))
	return out
}

// ChunkerKey returns the key that makes content-defined chunk boundaries
// depend on the user's key (docs/FORMAT.md section 1.4), so that the sizes of
// stored chunks do not identify known content to anyone without it.
func (k Key) ChunkerKey() [32]byte {
	var out [32]byte
	copy(out[:], k.derive(infoChunker, 32))
	return out
}

// MarkerKey returns the HMAC-SHA256 key of the store marker's key proof
// (docs/FORMAT.md section 10).
func (k Key) MarkerKey() [32]byte {
	var out [32]byte
	copy(out[:], k.derive(infoMarker, 32))
	return out
}

// MarkerProof returns the key proof a store marker carries for the store
// with id storeID: the first 16 bytes of HMAC-SHA256(MarkerKey,
// "grsync-store-marker" || storeID), in unpadded base64url (22
// characters). It shows that whoever wrote the marker held this key, and,
// since it depends on the store id, it is unrelated between stores: it does
// not tell that two stores share a key.
func (k Key) MarkerProof(storeID string) string {
	mk := k.MarkerKey()
	m := hmac.New(sha256.New, mk[:])
	m.Write([]byte(markerLabel))
	m.Write([]byte(storeID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// ContentHash returns a new HMAC-SHA256 keyed for content hashes: the hash of
// a file's content that the metadata carries when encryption is on.
func (k Key) ContentHash() hash.Hash {
	return hmac.New(sha256.New, k.derive(infoContentHash, 32))
}

// AgeIdentityString returns the key's age identity in the text form age
// uses ("AGE-SECRET-KEY-1..."), for `age -d -i FILE`.
func (k Key) AgeIdentityString() string {
	s, err := bech32Encode("age-secret-key-", k.derive(infoAgeX25519, 32))
	if err != nil {
		panic("keys: bech32 of a 32-byte scalar: " + err.Error()) // fixed-size input, cannot happen
	}
	return strings.ToUpper(s)
}

// AgeIdentity returns the key's age identity. Archives are encrypted to its
// Recipient.
func (k Key) AgeIdentity() *age.X25519Identity {
	id, err := age.ParseX25519Identity(k.AgeIdentityString())
	if err != nil {
		// The string is produced above from a 32-byte scalar; tests check
		// that age accepts every such string.
		panic("keys: age rejected a derived identity: " + err.Error())
	}
	return id
}
