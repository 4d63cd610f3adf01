package format

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Object descriptions of format version 2 (docs/FORMAT.md section 9): the
// description of every object grsync v2 stores (packs, catalogue
// snapshots, version records). A v2 object holds its own metadata inside
// (a pack's index), so its description only says what the object is: its
// kind, id, creation time and encoding, encrypted when the target is.
//
//	grsync2:<e|p>:<16 hex group>:<base64url data>
const (
	descPrefix2     = "grsync2:"
	objAssociated   = "grsync2 object"
	maxObjectRecord = 256
)

// Object kinds in v2 descriptions.
const (
	ObjectPack     = "pack"
	ObjectSnapshot = "snapshot"
	ObjectRecords  = "records"
)

// ObjectMeta is what a v2 object's description records.
type ObjectMeta struct {
	// Kind is ObjectPack, ObjectSnapshot or ObjectRecords.
	Kind string
	// ID is the object's own id (a pack's PackID).
	ID [16]byte
	// Created is when the object was made.
	Created time.Time
	// Encoding is the object's encoding string (e.g. "grsync2+zstd+age").
	Encoding string
	// Group is a random id (16 lower-case hex digits) the writer notes in
	// its catalogue before storing the object, so that an object a crash
	// left unrecorded can be recognised.
	Group string
}

// object record field tags
const (
	otagKind     = 1
	otagID       = 2
	otagCreated  = 3
	otagEncoding = 4
)

func checkObjectMeta(m ObjectMeta) error {
	switch m.Kind {
	case ObjectPack, ObjectSnapshot, ObjectRecords:
	default:
		return fmt.Errorf("object kind %q is not %q, %q or %q", m.Kind, ObjectPack, ObjectSnapshot, ObjectRecords)
	}
	if m.Encoding == "" || len(m.Encoding) > maxEncoding || !isPrintableASCII(m.Encoding) {
		return fmt.Errorf("object encoding %q is not 1 to %d printable ASCII characters", m.Encoding, maxEncoding)
	}
	if s := m.Created.Unix(); s > maxUnixSeconds || s < -maxUnixSeconds {
		return errors.New("object creation time out of range")
	}
	return nil
}

// EncodeObjectDescription writes m (its Group is drawn from rnd and
// returned in the result) as a v2 description; with a key, encrypted.
func EncodeObjectDescription(m ObjectMeta, key *MetaKey, rnd io.Reader) (string, ObjectMeta, error) {
	if err := checkObjectMeta(m); err != nil {
		return "", m, err
	}
	var group [groupHexLen / 2]byte
	if _, err := io.ReadFull(rnd, group[:]); err != nil {
		return "", m, fmt.Errorf("object group id: %w", err)
	}
	m.Group = hex.EncodeToString(group[:])
	rec := []byte{0}
	field := func(tag byte, v []byte) {
		rec = append(rec, tag)
		rec = binary.AppendUvarint(rec, uint64(len(v)))
		rec = append(rec, v...)
	}
	field(otagKind, []byte(m.Kind))
	field(otagID, m.ID[:])
	field(otagCreated, appendTime(nil, m.Created))
	field(otagEncoding, []byte(m.Encoding))
	blob, mode := rec, plainMode
	if key != nil {
		var nonce [chacha20poly1305.NonceSizeX]byte
		if _, err := io.ReadFull(rnd, nonce[:]); err != nil {
			return "", m, fmt.Errorf("object description nonce: %w", err)
		}
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return "", m, fmt.Errorf("object description cipher: %w", err)
		}
		blob = aead.Seal(nonce[:], nonce[:], rec, []byte(objAssociated))
		mode = encryptedMode
	}
	return descPrefix2 + mode + ":" + m.Group + ":" + b64.EncodeToString(blob), m, nil
}

// IsObjectDescription reports whether s is a v2 object description, and
// its group id, without decrypting it.
func IsObjectDescription(s string) (group string, ok bool) {
	rest, ok := strings.CutPrefix(s, descPrefix2)
	if !ok {
		return "", false
	}
	f := strings.SplitN(rest, ":", 3)
	if len(f) != 3 || (f[0] != encryptedMode && f[0] != plainMode) || !isLowerHex(f[1], groupHexLen) {
		return "", false
	}
	return f[1], true
}

// ParseObjectDescription decodes a v2 object description. The key must be
// given exactly when the description is encrypted, as DecodeMeta requires;
// ErrNotGrsync means s is not a v2 object description.
func ParseObjectDescription(s string, key *MetaKey) (ObjectMeta, error) {
	group, ok := IsObjectDescription(s)
	if !ok || len(s) > maxDescription {
		return ObjectMeta{}, ErrNotGrsync
	}
	f := strings.SplitN(strings.TrimPrefix(s, descPrefix2), ":", 3)
	encrypted := f[0] == encryptedMode
	blob, err := b64.DecodeString(f[2])
	if err != nil || len(blob) == 0 || strings.ContainsAny(f[2], "\r\n") {
		return ObjectMeta{}, fmt.Errorf("%w: object description data is not canonical unpadded base64url", errDescription)
	}
	switch {
	case encrypted && key == nil:
		return ObjectMeta{}, fmt.Errorf("object group %s: %w", group, ErrKeyRequired)
	case !encrypted && key != nil:
		return ObjectMeta{}, fmt.Errorf("object group %s: %w", group, ErrNotEncrypted)
	case encrypted:
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return ObjectMeta{}, fmt.Errorf("object description cipher: %w", err)
		}
		if len(blob) < aead.NonceSize()+aead.Overhead() {
			return ObjectMeta{}, fmt.Errorf("%w: encrypted object description of group %s is too short", ErrCorrupt, group)
		}
		rec, err := aead.Open(nil, blob[:aead.NonceSize()], blob[aead.NonceSize():], []byte(objAssociated))
		if err != nil {
			return ObjectMeta{}, fmt.Errorf("object description of group %s does not decrypt (%w, or %w)", group, ErrWrongKey, ErrCorrupt)
		}
		blob = rec
	}
	m, err := parseObjectRecord(blob)
	if err != nil {
		return ObjectMeta{}, fmt.Errorf("object group %s: %w", group, err)
	}
	m.Group = group
	return m, nil
}

func parseObjectRecord(rec []byte) (ObjectMeta, error) {
	if len(rec) == 0 || len(rec) > maxObjectRecord {
		return ObjectMeta{}, fmt.Errorf("%w: object record of %d bytes", errRecord, len(rec))
	}
	if rec[0] != 0 {
		return ObjectMeta{}, fmt.Errorf("%w: object record flags %#02x include unknown bits", ErrUnsupportedVersion, rec[0])
	}
	body := rec[1:]
	var m ObjectMeta
	last := -1
	seen := map[byte]bool{}
	for len(body) > 0 {
		tag := body[0]
		n, k, err := uvarint(body[1:])
		if err != nil || n > uint64(len(body)-1-k) {
			return ObjectMeta{}, fmt.Errorf("%w: field %d: bad length", errRecord, tag)
		}
		v := body[1+k : 1+k+int(n)]
		body = body[1+k+int(n):]
		if int(tag) <= last {
			return ObjectMeta{}, fmt.Errorf("%w: field %d after field %d", errRecord, tag, last)
		}
		last = int(tag)
		seen[tag] = true
		switch tag {
		case otagKind:
			m.Kind = string(v)
		case otagID:
			if len(v) != len(m.ID) {
				return ObjectMeta{}, fmt.Errorf("%w: object id of %d bytes", errRecord, len(v))
			}
			copy(m.ID[:], v)
		case otagCreated:
			t, err := parseTime(v)
			if err != nil {
				return ObjectMeta{}, fmt.Errorf("%w: created: %v", errRecord, err)
			}
			m.Created = t
		case otagEncoding:
			m.Encoding = string(v)
		default:
			if tag < firstSkippableTag {
				return ObjectMeta{}, fmt.Errorf("%w: object record has critical field %d, unknown to this grsync", ErrUnsupportedVersion, tag)
			}
		}
	}
	for _, tag := range []byte{otagKind, otagID, otagCreated, otagEncoding} {
		if !seen[tag] {
			return ObjectMeta{}, fmt.Errorf("%w: required field %d missing", errRecord, tag)
		}
	}
	if err := checkObjectMeta(m); err != nil {
		return ObjectMeta{}, fmt.Errorf("%w: %w", errRecord, err)
	}
	return m, nil
}
