package format

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"time"
)

// Packs (grsync format version 2, docs/FORMAT.md section 8) hold many
// members, files and chunks, in one store object:
//
//	member_0 || ... || member_{n-1} || index || trailer
//
// Each member is a complete age file (or zstd frame, or tar stream) that
// stock tools decode; all members of a pack share one age header, so one
// X25519 operation serves the whole pack. PackWriter writes packs,
// OpenMember reads one member, ReadPackIndex reads the index.

// PackID names a pack: 16 random bytes, drawn by the caller for each pack.
type PackID [16]byte

// String returns the id as 32 lower-case hex digits, as the format writes it.
func (id PackID) String() string { return hex.EncodeToString(id[:]) }

// ParsePackID parses 32 lower-case hex digits.
func ParsePackID(s string) (PackID, error) {
	var id PackID
	if len(s) != 2*len(id) || strings.ToLower(s) != s {
		return id, fmt.Errorf("pack id %q is not 32 lower-case hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("pack id %q is not 32 lower-case hex digits", s)
	}
	return id, nil
}

// MemberKind says what a pack member holds.
type MemberKind string

// The kinds of pack members (docs/FORMAT.md sections 8.4 and 8.5).
const (
	// KindFile: a whole file, with its path, mode and modification time.
	KindFile MemberKind = "file"
	// KindChunk: a piece of a file; which file, and where, is recorded
	// elsewhere (the catalogue).
	KindChunk MemberKind = "chunk"
	// KindIndex: the pack's index; only the index has this kind.
	KindIndex MemberKind = "index"
	// KindVoid: bytes of a member the writer abandoned because its file
	// could not be read to the end; listed in the index, never read.
	KindVoid MemberKind = "void"
)

// Format constants of packs.
const (
	// IndexNumber is the member number of the index, in its nonce and its
	// comment; no member has it.
	IndexNumber = math.MaxUint32
	// PackTrailerSize is the length of the trailer that ends every pack.
	PackTrailerSize = 8 + trailerPayloadLen
	// MaxIndexSize bounds the index document, so that reading an index
	// needs bounded memory; a PackWriter refuses members beyond it.
	MaxIndexSize = 64 << 20

	// packVersion is the version in the comment and the index.
	packVersion = 2
	// packNonceLabel prefixes the message of the nonce HMAC (8.3).
	packNonceLabel = "grsync/v2 pack nonce"
	// packStateContext is the associated data of sealed pack states.
	packStateContext = "grsync2 pack state"
	// paxComment is the standard pax keyword members use for their binding.
	paxComment = "comment"
	// chunkName and indexName are the tar names of chunks and the index.
	chunkName = "chunk"
	indexName = "index.json"
	// maxHashLen bounds the content hash of a member.
	maxHashLen = 64
)

// PackEncoding returns the encoding string the catalogue records for a
// file stored in a pack with these layers: "grsync2", "grsync2+zstd",
// "grsync2+age" or "grsync2+zstd+age".
func PackEncoding(compress, encrypt bool) string { return encodingIn("grsync2", compress, encrypt) }

// FileMeta describes a file added to a pack.
type FileMeta struct {
	// FileInfo is the path, size, mode and modification time, with the
	// rules of NewWriter.
	FileInfo
	// Hash is the caller's hash of the content (keys.Key.ContentHash when
	// encrypting), recorded in the index; up to 64 bytes, may be empty.
	Hash []byte
}

// ChunkMeta describes a chunk added to a pack.
type ChunkMeta struct {
	// Hash is the caller's hash of the chunk, recorded in the index; up to
	// 64 bytes, may be empty.
	Hash []byte
}

// MemberRef is what a reader expects of a member: it refuses a member of
// another pack, with another number or of another kind.
type MemberRef struct {
	Pack   PackID
	Number uint32
	Kind   MemberKind
}

// IndexEntry describes one member of a pack, as the index records it.
type IndexEntry struct {
	// Number is the member's position in the pack, from 0.
	Number uint32
	// Offset and Length are where the member is stored in the pack object.
	Offset, Length int64
	// Kind is KindFile, KindChunk or KindVoid.
	Kind MemberKind
	// Size is the content's length (files and chunks).
	Size int64
	// Hash is the caller's content hash (files and chunks), or empty.
	Hash []byte
	// Path, Mode and ModTime describe a file (KindFile only).
	Path    string
	Mode    fs.FileMode
	ModTime time.Time
}

// Ref returns what a reader of this member of pack expects.
func (e IndexEntry) Ref(pack PackID) MemberRef {
	return MemberRef{Pack: pack, Number: e.Number, Kind: e.Kind}
}

// PackIndex is a pack's index and where it is stored.
type PackIndex struct {
	Pack    PackID
	Created time.Time
	Members []IndexEntry
	// Offset and Length locate the index member in the pack object; Size
	// is the object's size (Offset + Length + PackTrailerSize).
	Offset, Length, Size int64
}

// PackState is what re-creates a pack byte for byte (docs/FORMAT.md
// section 8.9): with it, a PackWriter given the same members in the same
// order, in a program with the same PackWriterID, writes exactly the pack
// an earlier PackWriter wrote, so that an interrupted upload can be
// continued. The same rule as for StreamState holds: it MUST only be used
// to write the same members again, or the same nonces encrypt other
// plaintext.
type PackState struct {
	Pack    PackID
	Created time.Time
	// Encrypted says whether the pack has the age layer; the fields below
	// are set only when it has.
	Encrypted bool
	// Header is the pack header H: the age header, without nonce, that
	// starts every member.
	Header []byte
	// FileKey is the age file key. It is secret: it decrypts the pack.
	FileKey [ageFileKeySize]byte
	// Seed derives the members' payload nonces. It is secret.
	Seed [32]byte
}

func (st PackState) clone() PackState {
	st.Header = bytes.Clone(st.Header)
	return st
}

// check reports whether st can write a pack.
func (st PackState) check() error {
	if err := checkCreated(st.Created); err != nil {
		return fmt.Errorf("%w: %w", ErrStreamState, err)
	}
	if !st.Encrypted {
		if len(st.Header) != 0 || st.FileKey != ([ageFileKeySize]byte{}) || st.Seed != ([32]byte{}) {
			return fmt.Errorf("%w: an unencrypted pack state holds key material", ErrStreamState)
		}
		return nil
	}
	// checkStreamState wants a header followed by a nonce; any will do.
	h := append(bytes.Clone(st.Header), make([]byte, ageNonceSize)...)
	return checkStreamState(StreamState{Header: h, FileKey: st.FileKey})
}

// checkCreated accepts the times RFC 3339 can write, to the nanosecond.
func checkCreated(t time.Time) error {
	if y := t.UTC().Year(); t.IsZero() || y < 1 || y > 9999 {
		return fmt.Errorf("creation time %v is not set or out of range", t)
	}
	return nil
}

// packStateFlagEncrypted is bit 0 of the flags byte of a sealed pack state.
const packStateFlagEncrypted = 1

// packStateFixed is the length of a sealed pack state's plaintext before
// the key material: pack id, seconds, nanoseconds, flags.
const packStateFixed = 16 + 8 + 4 + 1

// SealPackState encrypts st for storage in the local catalogue under key
// (keys.Key.ResumeKey), like SealStreamState but with the associated data
// "grsync2 pack state" || 0x01 (docs/FORMAT.md section 8.9). A state that
// cannot write a pack is refused (ErrStreamState).
func SealPackState(st PackState, key [32]byte, rnd io.Reader) ([]byte, error) {
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("seal pack state: %w", err)
	}
	pt := make([]byte, 0, packStateFixed+ageFileKeySize+32+len(st.Header))
	pt = append(pt, st.Pack[:]...)
	pt = binary.BigEndian.AppendUint64(pt, uint64(st.Created.Unix()))
	pt = binary.BigEndian.AppendUint32(pt, uint32(st.Created.Nanosecond()))
	if st.Encrypted {
		pt = append(pt, packStateFlagEncrypted)
		pt = append(append(append(pt, st.FileKey[:]...), st.Seed[:]...), st.Header...)
	} else {
		pt = append(pt, 0)
	}
	blob, err := sealBlob(pt, packStateContext, key, rnd)
	if err != nil {
		return nil, fmt.Errorf("seal pack state: %w", err)
	}
	return blob, nil
}

// OpenPackState reverses SealPackState. A wrong key, a damaged, truncated
// or extended blob, an unknown version or flag, or a header that does not
// verify with its file key are errors wrapping ErrStreamState.
func OpenPackState(blob []byte, key [32]byte) (PackState, error) {
	pt, err := openBlob(blob, packStateContext, key, packStateFixed, packStateFixed+ageFileKeySize+32+maxStreamHeader)
	if err != nil {
		return PackState{}, fmt.Errorf("open pack state: %w", err)
	}
	var st PackState
	copy(st.Pack[:], pt)
	sec := int64(binary.BigEndian.Uint64(pt[16:]))
	nsec := binary.BigEndian.Uint32(pt[24:])
	if nsec >= 1e9 {
		return PackState{}, fmt.Errorf("open pack state: %w: bad nanoseconds", ErrStreamState)
	}
	st.Created = time.Unix(sec, int64(nsec)).UTC()
	flags, rest := pt[28], pt[packStateFixed:]
	switch flags {
	case 0:
		if len(rest) != 0 {
			return PackState{}, fmt.Errorf("open pack state: %w: key material in an unencrypted state", ErrStreamState)
		}
	case packStateFlagEncrypted:
		if len(rest) < ageFileKeySize+32 {
			return PackState{}, fmt.Errorf("open pack state: %w: truncated", ErrStreamState)
		}
		st.Encrypted = true
		copy(st.FileKey[:], rest)
		copy(st.Seed[:], rest[ageFileKeySize:])
		st.Header = bytes.Clone(rest[ageFileKeySize+32:])
	default:
		return PackState{}, fmt.Errorf("open pack state: %w: unknown flags %#02x", ErrStreamState, flags)
	}
	if err := st.check(); err != nil {
		return PackState{}, fmt.Errorf("open pack state: %w", err)
	}
	return st, nil
}

// nonceMaker derives the payload nonces of a pack's members (8.3).
type nonceMaker struct {
	mac hash.Hash
	msg [len(packNonceLabel) + 4]byte
	sum []byte
}

func newNonceMaker(seed [32]byte) *nonceMaker {
	n := &nonceMaker{mac: hmac.New(sha256.New, seed[:]), sum: make([]byte, 0, sha256.Size)}
	copy(n.msg[:], packNonceLabel)
	return n
}

// nonce returns N_i; the result is valid until the next call.
func (n *nonceMaker) nonce(i uint32) []byte {
	binary.BigEndian.PutUint32(n.msg[len(packNonceLabel):], i)
	n.mac.Reset()
	n.mac.Write(n.msg[:])
	n.sum = n.mac.Sum(n.sum[:0])
	return n.sum[:ageNonceSize]
}

// memberComment is the value of a member's pax comment record (8.4).
func memberComment(ref MemberRef) string {
	// As fmt.Sprintf("grsync/%d pack=%s member=%d kind=%s", …) would, in a
	// tenth of the time: it runs for every member.
	b := make([]byte, 0, 96)
	b = append(b, "grsync/"...)
	b = strconv.AppendInt(b, packVersion, 10)
	b = append(b, " pack="...)
	b = hex.AppendEncode(b, ref.Pack[:])
	b = append(b, " member="...)
	b = strconv.AppendUint(b, uint64(ref.Number), 10)
	b = append(b, " kind="...)
	b = append(b, ref.Kind...)
	return string(b)
}

// parseComment parses a member's comment record strictly: exactly the
// grammar memberComment writes.
func parseComment(c string) (MemberRef, error) {
	var ref MemberRef
	version, rest, ok := strings.Cut(c, " ")
	if !strings.HasPrefix(version, "grsync/") {
		return ref, fmt.Errorf("%w: the tar entry's comment %q is not grsync's", ErrNotGrsync, c)
	}
	if version != "grsync/"+strconv.Itoa(packVersion) {
		return ref, fmt.Errorf("%w: pack member of version %q, this grsync reads grsync/%d", ErrUnsupportedVersion, version, packVersion)
	}
	bad := fmt.Errorf("%w: malformed grsync comment %q", ErrCorrupt, c)
	fields := strings.Split(rest, " ")
	if !ok || len(fields) != 3 {
		return ref, bad
	}
	pack, ok1 := strings.CutPrefix(fields[0], "pack=")
	num, ok2 := strings.CutPrefix(fields[1], "member=")
	kind, ok3 := strings.CutPrefix(fields[2], "kind=")
	if !ok1 || !ok2 || !ok3 {
		return ref, bad
	}
	var err error
	if ref.Pack, err = ParsePackID(pack); err != nil {
		return ref, bad
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != num {
		return ref, bad
	}
	ref.Number = uint32(n)
	switch ref.Kind = MemberKind(kind); ref.Kind {
	case KindFile, KindChunk, KindIndex:
	default:
		return ref, bad
	}
	if (ref.Kind == KindIndex) != (ref.Number == IndexNumber) {
		return ref, bad
	}
	return ref, nil
}

var errPackClosed = errors.New("pack writer is closed")
