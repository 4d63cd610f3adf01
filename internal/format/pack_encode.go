package format

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// MemberEncoder encodes members of one pack away from its PackWriter:
// tar, zstd and age, exactly the bytes AddFile or AddChunk would write.
// That is most of what a small member costs, and it depends only on the
// pack's keys and the member's number, so members can be encoded on
// several goroutines at once while one goroutine appends them, in number
// order, with PackWriter.AddEncoded. A MemberEncoder is safe for
// concurrent use.
type MemberEncoder struct {
	pack     PackID
	compress bool
	st       PackState // Header, FileKey, Seed when encrypted
}

// Encoder returns a MemberEncoder for the pack w writes.
func (w *PackWriter) Encoder() *MemberEncoder {
	return &MemberEncoder{pack: w.st.Pack, compress: w.compress, st: w.st.clone()}
}

// EncodedMember is a member encoded by a MemberEncoder, to be added with
// PackWriter.AddEncoded.
type EncodedMember struct {
	pack     PackID
	compress bool
	entry    IndexEntry
	// Bytes are the member as it is stored in the pack. They belong to
	// the caller again once AddEncoded returns (to reuse as dst).
	Bytes []byte
}

// File encodes a whole file, content data (of fm's size), as member
// number. The bytes are appended to dst[:0], which may be nil.
func (me *MemberEncoder) File(number uint32, fm FileMeta, data []byte, dst []byte) (EncodedMember, error) {
	fi := fm.FileInfo
	if err := checkFileInfo(fi); err != nil {
		return EncodedMember{}, fmt.Errorf("encode file member: %w", err)
	}
	if len(fm.Hash) > maxHashLen {
		return EncodedMember{}, fmt.Errorf("encode %q: content hash of %d bytes, at most %d", fi.Path, len(fm.Hash), maxHashLen)
	}
	if int64(len(data)) != fi.Size {
		return EncodedMember{}, fmt.Errorf("encode %q: %w: %d bytes of content for a file of %d", fi.Path, ErrSizeMismatch, len(data), fi.Size)
	}
	e := IndexEntry{Number: number, Kind: KindFile, Size: fi.Size, Hash: bytes.Clone(fm.Hash), Path: fi.Path,
		Mode: fileMode(unixMode(fi.Mode)), ModTime: fi.ModTime}
	hdr := &tar.Header{Name: fi.Path[1:], Size: fi.Size, Mode: unixMode(fi.Mode), ModTime: fi.ModTime}
	return me.encode(e, hdr, data, dst)
}

// Chunk encodes a chunk as member number, appended to dst[:0].
func (me *MemberEncoder) Chunk(number uint32, cm ChunkMeta, data []byte, dst []byte) (EncodedMember, error) {
	if len(cm.Hash) > maxHashLen {
		return EncodedMember{}, fmt.Errorf("encode chunk member: hash of %d bytes, at most %d", len(cm.Hash), maxHashLen)
	}
	e := IndexEntry{Number: number, Kind: KindChunk, Size: int64(len(data)), Hash: bytes.Clone(cm.Hash)}
	hdr := &tar.Header{Name: chunkName, Size: int64(len(data)), Mode: 0o600, ModTime: time.Unix(0, 0)}
	return me.encode(e, hdr, data, dst)
}

// appendWriter appends what is written to it to b.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// streamWriters recycles age stream writers (a 64 KiB buffer each).
var streamWriters = sync.Pool{New: func() any { return newStreamWriter() }}

func (me *MemberEncoder) encode(e IndexEntry, hdr *tar.Header, data []byte, dst []byte) (EncodedMember, error) {
	if e.Number >= IndexNumber {
		return EncodedMember{}, fmt.Errorf("%w: %d members", ErrPackFull, e.Number)
	}
	ref := MemberRef{Pack: me.pack, Number: e.Number, Kind: e.Kind}
	// A pax header, its records and a ustar header: three blocks, unless
	// the records are long (a long path).
	head := bytes.NewBuffer(make([]byte, 0, 3*512))
	tarLen, err := memberTarHeader(head, hdr, ref)
	if err != nil {
		return EncodedMember{}, err
	}
	out := &appendWriter{b: dst[:0]}
	// The layers: tar into zstd into age into out.
	var sink io.Writer = out
	var sw *streamWriter
	if me.st.Encrypted {
		nonce := newNonceMaker(me.st.Seed).nonce(e.Number)
		out.b = append(append(out.b, me.st.Header...), nonce...)
		sw = streamWriters.Get().(*streamWriter)
		defer streamWriters.Put(sw)
		if err := sw.reset(out, me.st.FileKey, nonce); err != nil {
			return EncodedMember{}, err
		}
		sink = sw
	}
	var enc *zstd.Encoder
	if me.compress {
		var err error
		kind := memberEncoder(data, me.st.Encrypted)
		if enc, err = getEncoderKind(sink, kind); err != nil {
			return EncodedMember{}, err
		}
		defer putEncoderKind(enc, kind) // the next get resets it
		enc.ResetContentSize(sink, tarLen)
		sink = enc
	}
	// The tar header is made; the content, its padding to 512 bytes and
	// the two zero blocks that end a tar stream follow it.
	for _, b := range [][]byte{head.Bytes(), data, tarEnd[:(512-len(data)%512)%512+1024]} {
		if _, err := sink.Write(b); err != nil {
			return EncodedMember{}, err
		}
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return EncodedMember{}, fmt.Errorf("zstd layer: %w", err)
		}
	}
	if sw != nil {
		if err := sw.Close(); err != nil {
			return EncodedMember{}, fmt.Errorf("age layer: %w", err)
		}
	}
	return EncodedMember{pack: me.pack, compress: me.compress, entry: e, Bytes: out.b}, nil
}

// tarEnd is what follows a member's content: zeros to the next 512-byte
// boundary and the two zero blocks that end a tar stream. Read only (a
// local array escaped to the heap: 1.5 KiB for every member).
var tarEnd [511 + 1024]byte

// memberTarHeader writes a member's tar header (with the pax comment
// naming pack, number and kind) to buf and returns the length of the
// member's whole tar stream: header, content padded to 512 bytes, and the
// two zero blocks that end it.
func memberTarHeader(buf *bytes.Buffer, hdr *tar.Header, ref MemberRef) (int64, error) {
	comment := memberComment(ref)
	if b, ok := appendPAXMemberHeader(buf.AvailableBuffer(), hdr.Name, hdr.Size, hdr.Mode, hdr.ModTime, comment); ok {
		buf.Write(b)
	} else {
		// As PackWriter.member writes it.
		hdr.Typeflag, hdr.Format = tar.TypeReg, tar.FormatPAX
		hdr.PAXRecords = map[string]string{paxComment: comment}
		tw := tar.NewWriter(buf)
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, fmt.Errorf("tar header: %w", err)
		}
		// tw is not closed: the content and the end are written by the caller.
	}
	return int64(buf.Len()) + hdr.Size + (512-hdr.Size%512)%512 + 1024, nil
}

// AddEncoded appends a member encoded by this pack's MemberEncoder; its
// number must be the next one (members are added in number order). It
// returns the member's index entry.
func (w *PackWriter) AddEncoded(m EncodedMember) (IndexEntry, error) {
	if err := w.usable(); err != nil {
		return IndexEntry{}, err
	}
	e := m.entry
	if m.pack != w.st.Pack || m.compress != w.compress {
		return IndexEntry{}, fmt.Errorf("pack %s: the member was encoded for pack %s", w.st.Pack, m.pack)
	}
	if want := uint32(len(w.members)); e.Number != want {
		return IndexEntry{}, fmt.Errorf("pack %s: member %d added where member %d is next", w.st.Pack, e.Number, want)
	}
	if err := w.room(e); err != nil {
		return IndexEntry{}, err
	}
	start := w.cnt.n
	if err := w.write(m.Bytes); err != nil {
		return IndexEntry{}, err
	}
	e.Offset, e.Length = start, w.cnt.n-start
	w.add(e)
	return e, nil
}

// IndexLineMax is an upper bound of the bytes a member of a file at a
// path of pathLen bytes (0 for a chunk) adds to its pack's index: callers
// that fill packs use it to stay under MaxIndexSize.
func IndexLineMax(pathLen int) int {
	// The longest line without a path (every number at its longest, a
	// hash of maxHashLen bytes), plus the path escaped at its longest (6
	// bytes a byte, \u00xx) or base64 (4 bytes for 3).
	const fixed = 256 + 2*maxHashLen
	return fixed + 6*pathLen
}
