package format

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Description layout (docs/FORMAT.md section 3.1):
//
//	grsync1:<e|p>:<16 hex group>:<index>/<count>:<base64url data>
const (
	descPrefix       = "grsync1:"
	maxDescription   = 1024
	groupHexLen      = 16
	maxPieceData     = 738 // bytes; 984 base64 characters
	maxPieces        = 999
	metaAssociated   = "grsync1 metadata"
	encryptedMode    = "e"
	plainMode        = "p"
	maxDescHeaderLen = len(descPrefix) + 2 + groupHexLen + 1 + 3 + 1 + 3 + 1
)

var b64 = base64.RawURLEncoding.Strict()

// Piece is one parsed description: one piece of a metadata group.
type Piece struct {
	// Group is the random id shared by the pieces of one archive's
	// metadata: 16 lower-case hex digits.
	Group string
	// Index is the piece's position, 0 to Count-1; 0 is the archive's own
	// description, the others are continuations.
	Index int
	// Count is the number of pieces in the group.
	Count int
	// Encrypted tells whether Data is encrypted with the metadata key.
	Encrypted bool
	// Data is this piece's share of the metadata blob.
	Data []byte
}

// IsContinuation reports whether p belongs to a continuation archive, an
// empty archive that only carries part of another archive's metadata.
func IsContinuation(p Piece) bool { return p.Index > 0 }

// EncodeDescriptions encodes m as archive descriptions of at most 1024
// printable ASCII characters: [0] for the archive itself, [1:] for
// continuation archives, which must be stored before the archive. With a
// key, everything is encrypted. rnd supplies the group id and nonce
// (crypto/rand.Reader outside tests).
func EncodeDescriptions(m Meta, key *MetaKey, rnd io.Reader) ([]string, error) {
	rec, err := marshalRecord(m)
	if err != nil {
		return nil, err
	}
	var group [groupHexLen / 2]byte
	if _, err := io.ReadFull(rnd, group[:]); err != nil {
		return nil, fmt.Errorf("metadata group id: %w", err)
	}
	blob, mode := rec, plainMode
	if key != nil {
		var nonce [chacha20poly1305.NonceSizeX]byte
		if _, err := io.ReadFull(rnd, nonce[:]); err != nil {
			return nil, fmt.Errorf("metadata nonce: %w", err)
		}
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return nil, fmt.Errorf("metadata cipher: %w", err)
		}
		blob = aead.Seal(nonce[:], nonce[:], rec, []byte(metaAssociated))
		mode = encryptedMode
	}
	count := (len(blob) + maxPieceData - 1) / maxPieceData
	if count > maxPieces {
		return nil, fmt.Errorf("metadata of %q needs %d descriptions, at most %d are allowed; shorten the description", m.Path, count, maxPieces)
	}
	gid := hex.EncodeToString(group[:])
	out := make([]string, count)
	for i := range out {
		data := blob[i*maxPieceData : min((i+1)*maxPieceData, len(blob))]
		out[i] = formatPiece(Piece{Group: gid, Index: i, Count: count, Encrypted: mode == encryptedMode, Data: data})
	}
	return out, nil
}

func formatPiece(p Piece) string {
	mode := plainMode
	if p.Encrypted {
		mode = encryptedMode
	}
	return descPrefix + mode + ":" + p.Group + ":" + strconv.Itoa(p.Index) + "/" + strconv.Itoa(p.Count) + ":" + b64.EncodeToString(p.Data)
}

var errDescription = errors.New("malformed grsync description")

// ParseDescription parses one archive description. It returns ErrNotGrsync
// for descriptions grsync v1 did not write (the Python tool's "grsync|..."
// among them) and ErrUnsupportedVersion for later grsync versions.
func ParseDescription(s string) (Piece, error) {
	rest, ok := strings.CutPrefix(s, descPrefix)
	if !ok {
		if v, ok := futureVersion(s); ok {
			return Piece{}, fmt.Errorf("%w: description format grsync%s (this grsync reads grsync1)", ErrUnsupportedVersion, v)
		}
		return Piece{}, ErrNotGrsync
	}
	bad := func(what string) (Piece, error) {
		return Piece{}, fmt.Errorf("%w: %s", errDescription, what)
	}
	if len(s) > maxDescription {
		return bad(fmt.Sprintf("%d characters, more than %d", len(s), maxDescription))
	}
	f := strings.SplitN(rest, ":", 4)
	if len(f) != 4 {
		return bad("too few fields")
	}
	var p Piece
	switch f[0] {
	case encryptedMode:
		p.Encrypted = true
	case plainMode:
	default:
		return bad(fmt.Sprintf("mode %q is neither %q nor %q", f[0], encryptedMode, plainMode))
	}
	if !isLowerHex(f[1], groupHexLen) {
		return bad("group id is not 16 lower-case hex digits")
	}
	p.Group = f[1]
	idx, cnt, ok := strings.Cut(f[2], "/")
	if !ok {
		return bad("no index/count")
	}
	var err1, err2 error
	p.Index, err1 = parseSmallInt(idx)
	p.Count, err2 = parseSmallInt(cnt)
	if err1 != nil || err2 != nil || p.Count < 1 || p.Index >= p.Count {
		return bad(fmt.Sprintf("index/count %q is not i/n with 0 <= i < n <= %d", f[2], maxPieces))
	}
	data := f[3]
	if len(data) == 0 || len(data) > b64.EncodedLen(maxPieceData) || strings.ContainsAny(data, "\r\n") {
		return bad("data is empty, too long or has line breaks")
	}
	p.Data, err1 = b64.DecodeString(data)
	if err1 != nil {
		return bad("data is not canonical unpadded base64url")
	}
	return p, nil
}

// futureVersion recognises "grsync<digits>:" prefixes of other versions.
func futureVersion(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "grsync")
	if !ok {
		return "", false
	}
	v, _, ok := strings.Cut(rest, ":")
	if !ok || v == "" || len(v) > 9 {
		return "", false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return v, true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseSmallInt parses 0..999 written without sign or leading zeros.
func parseSmallInt(s string) (int, error) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("bad number")
	}
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
		v = v*10 + int(c-'0')
	}
	return v, nil
}

// DecodeMeta reassembles and decodes the metadata of one group from its
// pieces, given in any order; duplicates must be identical. A missing piece
// is reported with ErrIncomplete. key must be given exactly when the pieces
// are encrypted: with a key, unencrypted pieces are refused
// (ErrNotEncrypted), since anyone with access to the store could have
// written them.
func DecodeMeta(pieces []Piece, key *MetaKey) (Meta, error) {
	if len(pieces) == 0 {
		return Meta{}, fmt.Errorf("%w: no pieces", ErrIncomplete)
	}
	first := pieces[0]
	if first.Count < 1 || first.Count > maxPieces {
		return Meta{}, fmt.Errorf("%w: piece count %d", errDescription, first.Count)
	}
	parts := make([][]byte, first.Count)
	for _, p := range pieces {
		switch {
		case p.Group != first.Group:
			return Meta{}, fmt.Errorf("%w: pieces of groups %s and %s mixed", errDescription, first.Group, p.Group)
		case p.Count != first.Count || p.Encrypted != first.Encrypted:
			return Meta{}, fmt.Errorf("%w: pieces of group %s disagree on count or encryption", errDescription, p.Group)
		case p.Index < 0 || p.Index >= p.Count:
			return Meta{}, fmt.Errorf("%w: piece %d of %d", errDescription, p.Index, p.Count)
		case len(p.Data) == 0 || len(p.Data) > maxPieceData:
			return Meta{}, fmt.Errorf("%w: piece %d of group %s has %d bytes", errDescription, p.Index, p.Group, len(p.Data))
		case parts[p.Index] != nil && !bytes.Equal(parts[p.Index], p.Data):
			return Meta{}, fmt.Errorf("%w: two different copies of piece %d of group %s", errDescription, p.Index, p.Group)
		}
		parts[p.Index] = p.Data
	}
	var missing []string
	for i, d := range parts {
		if d == nil {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	if len(missing) > 0 {
		return Meta{}, fmt.Errorf("%w: group %s has %d of %d pieces; missing piece %s (a continuation archive was lost or not listed)",
			ErrIncomplete, first.Group, first.Count-len(missing), first.Count, strings.Join(missing, ", "))
	}
	blob := bytes.Join(parts, nil)

	switch {
	case first.Encrypted && key == nil:
		return Meta{}, fmt.Errorf("metadata group %s: %w", first.Group, ErrKeyRequired)
	case !first.Encrypted && key != nil:
		return Meta{}, fmt.Errorf("metadata group %s: %w", first.Group, ErrNotEncrypted)
	case first.Encrypted:
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return Meta{}, fmt.Errorf("metadata cipher: %w", err)
		}
		if len(blob) < aead.NonceSize()+aead.Overhead() {
			return Meta{}, fmt.Errorf("%w: encrypted metadata of group %s is too short", ErrCorrupt, first.Group)
		}
		rec, err := aead.Open(nil, blob[:aead.NonceSize()], blob[aead.NonceSize():], []byte(metaAssociated))
		if err != nil {
			return Meta{}, fmt.Errorf("metadata group %s does not decrypt (%w, or %w)", first.Group, ErrWrongKey, ErrCorrupt)
		}
		blob = rec
	}
	m, err := unmarshalRecord(blob)
	if err != nil {
		return Meta{}, fmt.Errorf("metadata group %s: %w", first.Group, err)
	}
	return m, nil
}
