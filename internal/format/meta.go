package format

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
)

// Meta is what an archive's description records about it: enough to
// rebuild its catalogue entry without retrieving the archive.
type Meta struct {
	// Path is the file's absolute path, as raw bytes.
	Path string
	// Size is the content length in bytes.
	Size int64
	// ModTime is the file's modification time.
	ModTime time.Time
	// Mode holds the permission, setuid, setgid and sticky bits.
	Mode fs.FileMode
	// ContentHash is the hash of the content: HMAC-SHA256 under
	// keys.Key.ContentHash when encrypted, SHA-256 otherwise. Up to 64 bytes;
	// empty means none.
	ContentHash []byte
	// Desc is the user's free-text description (--desc); may be empty.
	Desc string
	// Encoding is the archive's encoding string, as returned by Encoding.
	Encoding string
	// Created is when the archive was made.
	Created time.Time
}

// MetaKey is the key that encrypts descriptions: keys.Key.MetadataKey.
type MetaKey = [32]byte

// Record field tags (docs/FORMAT.md section 3.3).
const (
	tagPath        = 1
	tagSize        = 2
	tagModTime     = 3
	tagMode        = 4
	tagContentHash = 5
	tagDesc        = 6
	tagEncoding    = 7
	tagCreated     = 8

	// firstSkippableTag: unknown tags from here on are informational and
	// skipped; unknown tags below are critical and refused.
	firstSkippableTag = 64
)

const (
	flagDeflate    = 0x01
	maxRecordBody  = 1 << 20
	maxContentHash = 64
	maxEncoding    = 64
	maxUnixSeconds = 1 << 62 // keeps time.Unix from overflowing
)

// marshalRecord encodes m as a metadata record: a flags byte and the fields,
// deflated when that is shorter.
func marshalRecord(m Meta) ([]byte, error) {
	if err := checkMeta(m); err != nil {
		return nil, err
	}
	var body []byte
	field := func(tag byte, value []byte) {
		body = append(body, tag)
		body = binary.AppendUvarint(body, uint64(len(value)))
		body = append(body, value...)
	}
	field(tagPath, []byte(m.Path))
	field(tagSize, binary.AppendUvarint(nil, uint64(m.Size)))
	field(tagModTime, appendTime(nil, m.ModTime))
	field(tagMode, binary.AppendUvarint(nil, uint64(unixMode(m.Mode))))
	if len(m.ContentHash) > 0 {
		field(tagContentHash, m.ContentHash)
	}
	if m.Desc != "" {
		field(tagDesc, []byte(m.Desc))
	}
	field(tagEncoding, []byte(m.Encoding))
	field(tagCreated, appendTime(nil, m.Created))
	if len(body) > maxRecordBody {
		return nil, fmt.Errorf("metadata of %q is %d bytes, more than %d", m.Path, len(body), maxRecordBody)
	}

	var z bytes.Buffer
	z.WriteByte(flagDeflate)
	fw, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("deflate metadata: %w", err)
	}
	fw.Write(body) // writes to a bytes.Buffer cannot fail
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("deflate metadata: %w", err)
	}
	if z.Len() < 1+len(body) {
		return z.Bytes(), nil
	}
	return append([]byte{0}, body...), nil
}

func checkMeta(m Meta) error {
	switch {
	case !strings.HasPrefix(m.Path, "/"):
		return fmt.Errorf("metadata path %q is not absolute", m.Path)
	case strings.IndexByte(m.Path, 0) >= 0:
		return fmt.Errorf("metadata path %q contains a NUL byte", m.Path)
	case m.Size < 0:
		return fmt.Errorf("metadata of %q: negative size %d", m.Path, m.Size)
	case len(m.ContentHash) > maxContentHash:
		return fmt.Errorf("metadata of %q: content hash of %d bytes, at most %d", m.Path, len(m.ContentHash), maxContentHash)
	case m.Encoding == "" || len(m.Encoding) > maxEncoding || !isPrintableASCII(m.Encoding):
		return fmt.Errorf("metadata of %q: encoding %q is not 1-%d printable ASCII characters", m.Path, m.Encoding, maxEncoding)
	}
	if err := checkMode(m.Mode); err != nil {
		return fmt.Errorf("metadata of %q: %w", m.Path, err)
	}
	for _, t := range []time.Time{m.ModTime, m.Created} {
		if s := t.Unix(); s > maxUnixSeconds || s < -maxUnixSeconds {
			return fmt.Errorf("metadata of %q: time %v out of range", m.Path, t)
		}
	}
	return nil
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// appendTime appends Unix seconds as a varint and nanoseconds as a uvarint.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

var errRecord = errors.New("malformed metadata record")

// unmarshalRecord decodes a metadata record.
func unmarshalRecord(rec []byte) (Meta, error) {
	if len(rec) == 0 {
		return Meta{}, fmt.Errorf("%w: empty", errRecord)
	}
	flags, body := rec[0], rec[1:]
	if flags&^flagDeflate != 0 {
		return Meta{}, fmt.Errorf("%w: record flags %#02x include unknown bits", ErrUnsupportedVersion, flags)
	}
	if flags&flagDeflate != 0 {
		fr := flate.NewReader(bytes.NewReader(body))
		inflated, err := io.ReadAll(io.LimitReader(fr, maxRecordBody+1))
		if err != nil {
			return Meta{}, fmt.Errorf("%w: inflate: %w", errRecord, err)
		}
		if len(inflated) > maxRecordBody {
			return Meta{}, fmt.Errorf("%w: more than %d bytes", errRecord, maxRecordBody)
		}
		body = inflated
	}

	var m Meta
	seen := map[byte]bool{}
	last := -1
	for len(body) > 0 {
		tag := body[0]
		n, k, err := uvarint(body[1:])
		if err != nil || n > uint64(len(body)-1-k) {
			return Meta{}, fmt.Errorf("%w: field %d: bad length", errRecord, tag)
		}
		value := body[1+k : 1+k+int(n)]
		body = body[1+k+int(n):]
		if int(tag) <= last {
			return Meta{}, fmt.Errorf("%w: field %d after field %d", errRecord, tag, last)
		}
		last = int(tag)
		seen[tag] = true
		if err := m.setField(tag, value); err != nil {
			return Meta{}, err
		}
	}
	for _, tag := range []byte{tagPath, tagSize, tagModTime, tagMode, tagEncoding, tagCreated} {
		if !seen[tag] {
			return Meta{}, fmt.Errorf("%w: required field %d missing", errRecord, tag)
		}
	}
	if err := checkMeta(m); err != nil {
		return Meta{}, fmt.Errorf("%w: %w", errRecord, err)
	}
	return m, nil
}

// setField decodes one field's value into m.
func (m *Meta) setField(tag byte, value []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: field %d: %s", errRecord, tag, what) }
	switch tag {
	case tagPath:
		m.Path = string(value)
	case tagSize, tagMode:
		v, k, err := uvarint(value)
		if err != nil || k != len(value) {
			return bad("not a single varint")
		}
		if tag == tagSize {
			if v > 1<<63-1 {
				return bad("size out of range")
			}
			m.Size = int64(v)
		} else {
			if v&^modeMask != 0 {
				return bad("mode has bits outside 07777")
			}
			m.Mode = fileMode(int64(v))
		}
	case tagModTime, tagCreated:
		t, err := parseTime(value)
		if err != nil {
			return bad(err.Error())
		}
		if tag == tagModTime {
			m.ModTime = t
		} else {
			m.Created = t
		}
	case tagContentHash:
		if len(value) == 0 {
			return bad("empty content hash")
		}
		m.ContentHash = bytes.Clone(value)
	case tagDesc:
		m.Desc = string(value)
	case tagEncoding:
		m.Encoding = string(value)
	default:
		if tag < firstSkippableTag {
			return fmt.Errorf("%w: record has critical field %d, unknown to this grsync", ErrUnsupportedVersion, tag)
		}
	}
	return nil
}

func parseTime(b []byte) (time.Time, error) {
	sec, k := binary.Varint(b)
	if k <= 0 || binary.PutVarint(make([]byte, binary.MaxVarintLen64), sec) != k {
		return time.Time{}, errors.New("bad seconds")
	}
	nsec, k2, err := uvarint(b[k:])
	if err != nil || k+k2 != len(b) {
		return time.Time{}, errors.New("bad nanoseconds")
	}
	if nsec >= 1e9 || sec > maxUnixSeconds || sec < -maxUnixSeconds {
		return time.Time{}, errors.New("time out of range")
	}
	return time.Unix(sec, int64(nsec)), nil
}

// uvarint decodes a minimal-length unsigned varint.
func uvarint(b []byte) (uint64, int, error) {
	v, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, errors.New("bad varint")
	}
	if binary.PutUvarint(make([]byte, binary.MaxVarintLen64), v) != k {
		return 0, 0, errors.New("varint not minimal")
	}
	return v, k, nil
}
