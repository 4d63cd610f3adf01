package format

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
)

// OpenMember starts decoding one member of a pack: src yields exactly the
// member's bytes (its range of the pack object), id is the identity (nil
// for an unencrypted pack; pass NewPackIdentity's wrapper to read many
// members of one pack with one X25519 operation), and want is what the
// caller expects the member to be. Like Open, it reads through the tar
// header before it returns and refuses a member of another pack, number or
// kind (ErrCorrupt: a member swapped or taken from another pack), data
// that is not a pack member (ErrNotGrsync), a wrong key (ErrWrongKey), and
// a key/encryption mismatch (ErrKeyRequired, ErrNotEncrypted).
//
// The Reader's Info has the file's path, size, mode and modification time
// for a file, only the size for a chunk; Encoding is "grsync2...". Read
// returns io.EOF only once everything is verified, as for archives. The
// member is decoded in the caller's goroutine. Close must be called.
func OpenMember(src io.Reader, id age.Identity, want MemberRef) (*Reader, error) {
	if err := want.check(); err != nil {
		return nil, fmt.Errorf("open pack member: %w", err)
	}
	r, err := openReader(src, id, readerConfig{
		version: "grsync2",
		sync:    true,
		check:   func(hdr *tar.Header) (FileInfo, error) { return checkMember(hdr, want) },
		name:    func(FileInfo) string { return want.String() },
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", want, err)
	}
	return r, nil
}

// String names the member in messages.
func (ref MemberRef) String() string {
	if ref.Kind == KindIndex {
		return fmt.Sprintf("the index of pack %s", ref.Pack)
	}
	return fmt.Sprintf("member %d (%s) of pack %s", ref.Number, ref.Kind, ref.Pack)
}

func (ref MemberRef) check() error {
	switch {
	case ref.Kind != KindFile && ref.Kind != KindChunk && ref.Kind != KindIndex:
		return fmt.Errorf("cannot read a member of kind %q", ref.Kind)
	case (ref.Kind == KindIndex) != (ref.Number == IndexNumber):
		return fmt.Errorf("member number %d does not go with kind %q", ref.Number, ref.Kind)
	}
	return nil
}

// checkMember validates the tar entry of a pack member (8.8).
func checkMember(hdr *tar.Header, want MemberRef) (FileInfo, error) {
	if _, ok := hdr.PAXRecords[paxVersionKey]; ok {
		return FileInfo{}, fmt.Errorf("%w: a grsync v1 archive, not a pack member", ErrNotGrsync)
	}
	c, ok := hdr.PAXRecords[paxComment]
	if !ok {
		return FileInfo{}, fmt.Errorf("%w: the tar entry has no %s record: not a grsync pack member", ErrNotGrsync, paxComment)
	}
	got, err := parseComment(c)
	if err != nil {
		return FileInfo{}, err
	}
	switch {
	case got.Pack != want.Pack:
		return FileInfo{}, fmt.Errorf("%w: this is a member of pack %s", ErrCorrupt, got.Pack)
	case got.Number != want.Number || got.Kind != want.Kind:
		return FileInfo{}, fmt.Errorf("%w: this is %s", ErrCorrupt, got)
	}
	if err := checkEntry(hdr); err != nil {
		return FileInfo{}, err
	}
	fi := FileInfo{Size: hdr.Size, Mode: fileMode(hdr.Mode), ModTime: hdr.ModTime}
	switch want.Kind {
	case KindFile:
		fi.Path = "/" + hdr.Name
		if err := checkPath(fi.Path); err != nil {
			return FileInfo{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return fi, nil
	case KindChunk:
		if hdr.Name != chunkName {
			return FileInfo{}, fmt.Errorf("%w: a chunk's tar entry is named %q, not %q", ErrCorrupt, hdr.Name, chunkName)
		}
		return FileInfo{Size: hdr.Size}, nil
	default:
		if hdr.Name != indexName {
			return FileInfo{}, fmt.Errorf("%w: the index's tar entry is named %q, not %q", ErrCorrupt, hdr.Name, indexName)
		}
		return fi, nil
	}
}

// NewPackIdentity wraps id so that the members of one pack, which all
// start with the same age header, cost one X25519 operation together: it
// remembers the file key of the last header it unwrapped, and gives it
// again for the very same recipient stanzas. age still verifies each
// member's header MAC with that key. Safe for concurrent use.
func NewPackIdentity(id age.Identity) age.Identity { return &packIdentity{id: id} }

type packIdentity struct {
	id      age.Identity
	mu      sync.Mutex
	stanzas []*age.Stanza // of the last successful Unwrap
	key     []byte
	// header is a member's age header that age.Decrypt verified with
	// fileKey: members starting with it skip age.Decrypt (agestream.go).
	header, fileKey []byte
}

func (p *packIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key != nil && sameStanzas(p.stanzas, stanzas) {
		return bytes.Clone(p.key), nil
	}
	key, err := p.id.Unwrap(stanzas)
	if err != nil {
		return nil, err
	}
	p.stanzas = p.stanzas[:0]
	for _, s := range stanzas {
		p.stanzas = append(p.stanzas, &age.Stanza{Type: s.Type, Args: append([]string(nil), s.Args...), Body: bytes.Clone(s.Body)})
	}
	p.key = bytes.Clone(key)
	return key, nil
}

func sameStanzas(a, b []*age.Stanza) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || len(a[i].Args) != len(b[i].Args) || !bytes.Equal(a[i].Body, b[i].Body) {
			return false
		}
		for j := range a[i].Args {
			if a[i].Args[j] != b[i].Args[j] {
				return false
			}
		}
	}
	return true
}

// ReadPackIndex reads the index of the pack object src of size bytes: its
// trailer, then the index member, which it opens with id expecting pack,
// and parses strictly (docs/FORMAT.md section 8.6). A size that does not
// match the trailer (a truncated or extended object) is ErrCorrupt.
func ReadPackIndex(src io.ReaderAt, size int64, id age.Identity, pack PackID) (*PackIndex, error) {
	if size < PackTrailerSize {
		return nil, fmt.Errorf("read pack index: %w: %d bytes is too short for a pack", ErrNotGrsync, size)
	}
	b := make([]byte, PackTrailerSize)
	if _, err := src.ReadAt(b, size-PackTrailerSize); err != nil {
		return nil, fmt.Errorf("read pack trailer: %w", err)
	}
	tr, err := ParsePackTrailer(b)
	if err != nil {
		return nil, fmt.Errorf("read pack index: %w", err)
	}
	if end, ok := tr.end(); !ok || end != size {
		return nil, fmt.Errorf("read pack index: %w: the trailer says the pack is %d bytes, it has %d (truncated or extended)",
			ErrCorrupt, tr.IndexOffset+tr.IndexLength+PackTrailerSize, size)
	}
	return DecodePackIndex(io.NewSectionReader(src, tr.IndexOffset, tr.IndexLength), id, pack, tr)
}

// end returns the size of the pack the trailer ends, and false on overflow.
func (tr PackTrailer) end() (int64, bool) {
	end := tr.IndexOffset + tr.IndexLength + PackTrailerSize
	return end, end >= tr.IndexOffset && tr.IndexLength > 0 && tr.IndexOffset >= 0
}

// DecodePackIndex reads the index from src, which yields exactly the bytes
// tr locates, for callers that fetch the trailer (the last PackTrailerSize
// bytes, ParsePackTrailer) and then that range themselves.
func DecodePackIndex(src io.Reader, id age.Identity, pack PackID, tr PackTrailer) (*PackIndex, error) {
	end, ok := tr.end()
	if !ok {
		return nil, fmt.Errorf("read pack index: %w: impossible trailer", ErrCorrupt)
	}
	r, err := OpenMember(src, id, MemberRef{Pack: pack, Number: IndexNumber, Kind: KindIndex})
	if err != nil {
		return nil, fmt.Errorf("read pack index: %w", err)
	}
	defer r.Close()
	if r.Info().Size > MaxIndexSize {
		return nil, fmt.Errorf("read pack index: %w: %d bytes, more than %d", ErrCorrupt, r.Info().Size, MaxIndexSize)
	}
	doc := make([]byte, r.Info().Size)
	if _, err := io.ReadFull(r, doc); err != nil {
		return nil, fmt.Errorf("read pack index: %w", err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read pack index: %w", err)
	}
	idx, err := parseIndex(doc, pack, tr.IndexOffset)
	if err != nil {
		return nil, fmt.Errorf("read pack index: %w", err)
	}
	idx.Offset, idx.Length, idx.Size = tr.IndexOffset, tr.IndexLength, end
	return idx, nil
}
