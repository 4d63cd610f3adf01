package format

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// The index document (docs/FORMAT.md section 8.6) has exactly one valid
// encoding, which appendIndexJSON writes. The encoder is written here, not
// left to encoding/json, so that the bytes depend on this specification
// alone (never on a Go release); the parser uses encoding/json and then
// requires that re-encoding gives back the same bytes.

// indexTail ends the index document.
const indexTail = "]}\n"

// indexHead is the index document up to its first member.
func indexHead(st PackState) []byte {
	b := fmt.Appendf(nil, `{"format":%d,"pack":"%s","created":`, packVersion, st.Pack)
	b = appendJSONString(b, st.Created.UTC().Format(time.RFC3339Nano))
	return append(b, `,"members":[`+"\n"...)
}

// appendIndexJSON appends the index document of idx.
func appendIndexJSON(b []byte, idx *PackIndex) []byte {
	b = append(b, indexHead(PackState{Pack: idx.Pack, Created: idx.Created})...)
	for i, e := range idx.Members {
		b = appendMemberJSON(b, e)
		if i < len(idx.Members)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	return append(b, indexTail...)
}

// appendMemberJSON appends the object describing e, without newline.
func appendMemberJSON(b []byte, e IndexEntry) []byte {
	b = append(b, `{"number":`...)
	b = strconv.AppendUint(b, uint64(e.Number), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, e.Offset, 10)
	b = append(b, `,"length":`...)
	b = strconv.AppendInt(b, e.Length, 10)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, string(e.Kind))
	if e.Kind == KindFile || e.Kind == KindChunk {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, e.Size, 10)
		if len(e.Hash) > 0 {
			b = append(b, `,"hash":"`...)
			b = hex.AppendEncode(b, e.Hash)
			b = append(b, '"')
		}
	}
	if e.Kind == KindFile {
		b = append(b, `,"mode":`...)
		b = strconv.AppendInt(b, unixMode(e.Mode), 10)
		b = append(b, `,"mtime_sec":`...)
		b = strconv.AppendInt(b, e.ModTime.Unix(), 10)
		b = append(b, `,"mtime_nsec":`...)
		b = strconv.AppendInt(b, int64(e.ModTime.Nanosecond()), 10)
		if utf8.ValidString(e.Path) {
			b = append(b, `,"path":`...)
			b = appendJSONString(b, e.Path)
		} else {
			b = append(b, `,"path_b64":"`...)
			b = base64.StdEncoding.AppendEncode(b, []byte(e.Path))
			b = append(b, '"')
		}
	}
	return append(b, '}')
}

// appendJSONString appends s, valid UTF-8, as a JSON string: `"` and `\`
// escaped with a backslash, bytes below 0x20 as \u00xx, the rest as is.
func appendJSONString(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', digits[c>>4], digits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// jsonIndex and jsonMember are what encoding/json parses the document into.
type jsonIndex struct {
	Format  int          `json:"format"`
	Pack    string       `json:"pack"`
	Created string       `json:"created"`
	Members []jsonMember `json:"members"`
}

type jsonMember struct {
	Number    uint32 `json:"number"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
	Kind      string `json:"kind"`
	Size      int64  `json:"size"`
	Hash      string `json:"hash"`
	Mode      int64  `json:"mode"`
	MtimeSec  int64  `json:"mtime_sec"`
	MtimeNsec int64  `json:"mtime_nsec"`
	Path      string `json:"path"`
	PathB64   string `json:"path_b64"`
}

// errIndex marks a malformed index document.
var errIndex = fmt.Errorf("%w: malformed pack index", ErrCorrupt)

// parseIndex parses an index document strictly (8.6): it must be exactly
// the encoding of what it says, describe the pack want, and its members
// must fill the pack up to indexOffset.
func parseIndex(doc []byte, want PackID, indexOffset int64) (*PackIndex, error) {
	if len(doc) > MaxIndexSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", errIndex, len(doc), MaxIndexSize)
	}
	var version struct {
		Format json.RawMessage `json:"format"`
	}
	if err := json.Unmarshal(doc, &version); err != nil {
		return nil, fmt.Errorf("%w: %v", errIndex, err)
	}
	if len(version.Format) == 0 {
		return nil, fmt.Errorf("%w: no format number", errIndex)
	}
	if string(version.Format) != strconv.Itoa(packVersion) {
		return nil, fmt.Errorf("%w: pack index of format %s, this grsync reads %d", ErrUnsupportedVersion, version.Format, packVersion)
	}
	var ji jsonIndex
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ji); err != nil {
		return nil, fmt.Errorf("%w: %v", errIndex, err)
	}
	idx := &PackIndex{Members: make([]IndexEntry, 0, len(ji.Members))}
	var err error
	if idx.Pack, err = ParsePackID(ji.Pack); err != nil {
		return nil, fmt.Errorf("%w: %v", errIndex, err)
	}
	if idx.Pack != want {
		return nil, fmt.Errorf("%w: the index is of pack %s, not %s", ErrCorrupt, idx.Pack, want)
	}
	if idx.Created, err = time.Parse(time.RFC3339Nano, ji.Created); err != nil {
		return nil, fmt.Errorf("%w: created: %v", errIndex, err)
	}
	idx.Created = idx.Created.UTC()
	var next int64
	for i, jm := range ji.Members {
		e, err := jm.entry()
		if err != nil {
			return nil, fmt.Errorf("%w: member %d: %v", errIndex, i, err)
		}
		switch {
		case e.Number != uint32(i):
			return nil, fmt.Errorf("%w: member %d is numbered %d", errIndex, i, e.Number)
		case e.Offset != next:
			return nil, fmt.Errorf("%w: member %d is at offset %d, not %d where the previous one ends", errIndex, i, e.Offset, next)
		case e.Length <= 0 || e.Length > indexOffset-e.Offset:
			return nil, fmt.Errorf("%w: member %d of %d bytes at %d does not end before the index (at %d)", errIndex, i, e.Length, e.Offset, indexOffset)
		}
		next = e.Offset + e.Length
		idx.Members = append(idx.Members, e)
	}
	if next != indexOffset {
		return nil, fmt.Errorf("%w: the members end at %d, the index starts at %d", errIndex, next, indexOffset)
	}
	if !bytes.Equal(appendIndexJSON(make([]byte, 0, len(doc)), idx), doc) {
		return nil, fmt.Errorf("%w: not in the one encoding the format allows (8.6)", errIndex)
	}
	return idx, nil
}

// entry checks one member's fields; the fields a kind does not have are
// left out by the encoder, so the final comparison refuses them.
func (jm jsonMember) entry() (IndexEntry, error) {
	e := IndexEntry{Number: jm.Number, Offset: jm.Offset, Length: jm.Length, Kind: MemberKind(jm.Kind)}
	switch e.Kind {
	case KindFile, KindChunk, KindVoid:
	default:
		return e, fmt.Errorf("unknown kind %q", jm.Kind)
	}
	if e.Kind == KindVoid {
		return e, nil
	}
	if jm.Size < 0 {
		return e, fmt.Errorf("negative size %d", jm.Size)
	}
	e.Size = jm.Size
	if jm.Hash != "" {
		h, err := hex.DecodeString(jm.Hash)
		if err != nil || len(h) > maxHashLen {
			return e, fmt.Errorf("hash %q is not 1 to %d bytes of hex", jm.Hash, maxHashLen)
		}
		e.Hash = h
	}
	if e.Kind == KindChunk {
		return e, nil
	}
	switch {
	case jm.Mode&^modeMask != 0:
		return e, fmt.Errorf("mode %o has bits outside %o", jm.Mode, modeMask)
	case jm.MtimeNsec < 0 || jm.MtimeNsec >= 1e9 || jm.MtimeSec > maxUnixSeconds || jm.MtimeSec < -maxUnixSeconds:
		return e, errors.New("modification time out of range")
	}
	e.Mode = fileMode(jm.Mode)
	e.ModTime = time.Unix(jm.MtimeSec, jm.MtimeNsec)
	e.Path = jm.Path
	if jm.PathB64 != "" {
		p, err := base64.StdEncoding.Strict().DecodeString(jm.PathB64)
		if err != nil {
			return e, errors.New("path_b64 is not base64")
		}
		e.Path = string(p)
	}
	if err := checkPath(e.Path); err != nil {
		return e, err
	}
	return e, nil
}

// PackTrailer is what a pack's trailer says: where its index is.
type PackTrailer struct {
	IndexOffset, IndexLength int64
}

// Trailer layout (8.7): a zstd skippable frame whose payload is ASCII.
const (
	trailerMagic  = 0x184D2A50
	trailerFormat = "grsync-pack %d index-offset=%020d index-length=%020d\n"
	// trailerPayloadLen is len(fmt.Sprintf(trailerFormat, 2, 0, 0)).
	trailerPayloadLen = 82
	trailerPrefix     = "grsync-pack "
)

// appendTrailer appends the trailer of a pack whose index is at tr.
func appendTrailer(b []byte, tr PackTrailer) []byte {
	b = binary.LittleEndian.AppendUint32(b, trailerMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(trailerPayloadLen))
	return fmt.Appendf(b, trailerFormat, packVersion, tr.IndexOffset, tr.IndexLength)
}

// ParsePackTrailer parses the last PackTrailerSize bytes of a pack. A
// trailer of another version is ErrUnsupportedVersion; anything else that
// is not exactly a trailer is ErrNotGrsync.
func ParsePackTrailer(b []byte) (PackTrailer, error) {
	if len(b) != PackTrailerSize {
		return PackTrailer{}, fmt.Errorf("%w: a pack trailer is %d bytes, not %d", ErrNotGrsync, PackTrailerSize, len(b))
	}
	if binary.LittleEndian.Uint32(b) != trailerMagic || binary.LittleEndian.Uint32(b[4:]) != uint32(trailerPayloadLen) {
		return PackTrailer{}, fmt.Errorf("%w: the object does not end with a grsync pack trailer", ErrNotGrsync)
	}
	p := b[8:]
	if v, _, ok := bytes.Cut(p[len(trailerPrefix):], []byte(" ")); bytes.HasPrefix(p, []byte(trailerPrefix)) && ok && string(v) != strconv.Itoa(packVersion) {
		return PackTrailer{}, fmt.Errorf("%w: pack trailer of version %q, this grsync reads %d", ErrUnsupportedVersion, v, packVersion)
	}
	var tr PackTrailer
	bad := fmt.Errorf("%w: malformed pack trailer %q", ErrNotGrsync, p)
	const offAt = len("grsync-pack 2 index-offset=")
	const lenAt = offAt + 20 + len(" index-length=")
	for _, f := range []struct {
		at  int
		dst *int64
	}{{offAt, &tr.IndexOffset}, {lenAt, &tr.IndexLength}} {
		v, err := strconv.ParseInt(string(p[f.at:f.at+20]), 10, 64)
		if err != nil || v < 0 {
			return PackTrailer{}, bad
		}
		*f.dst = v
	}
	if !bytes.Equal(appendTrailer(nil, tr), b) {
		return PackTrailer{}, bad
	}
	return tr, nil
}
