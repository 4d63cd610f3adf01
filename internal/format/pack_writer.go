package format

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// PackOptions selects the layers and identity of a new pack.
type PackOptions struct {
	// Pack is the pack's id: 16 random bytes, which the caller draws and
	// records. The zero id is refused.
	Pack PackID
	// Created is when the pack is made, recorded in the index; the zero
	// time means now.
	Created time.Time
	// Compress adds the zstd layer to every member.
	Compress bool
	// Recipient, when not nil, adds the age layer encrypted to it; grsync
	// passes keys.Key.AgeIdentity().Recipient(). The file key is wrapped
	// once, for the whole pack.
	Recipient age.Recipient
	// Rand is where the nonce seed is read from; nil means crypto/rand.
	Rand io.Reader
	// Continue, when not nil, re-creates the pack an earlier PackWriter
	// started (see PackState, which says when this is allowed): its pack
	// id, creation time, header, file key and seed are used, and Pack,
	// Created, Recipient and Rand are not.
	Continue *PackState
}

// smallFileMax is the largest file AddFile reads whole before writing it,
// so that a file that changes while it is read leaves no void member.
const smallFileMax = 1 << 20

// copySize is the read size for files streamed into a member.
const copySize = 256 << 10

// PackWriter writes a pack to an io.Writer (a store's upload body): members
// with AddFile and AddChunk, then the index and trailer with Close. It
// encodes in the caller's goroutine, with one zstd encoder and one age
// stream buffer reused for every member, so that members of a few KiB cost
// no goroutine, no encoder and no X25519 operation each. Its memory does not
// depend on member sizes: a file of any size is streamed, one of up to
// 1 MiB is read whole first (into one buffer the writer keeps).
//
// An error writing to dst is sticky: every later call fails, and the bytes
// written are not a pack. An error reading a file's content is not: AddFile
// reports it and the writer goes on (the file's member may be void, see
// AddFile). A PackWriter is not safe for concurrent use.
type PackWriter struct {
	st       PackState
	compress bool
	out      *bufio.Writer
	cnt      countWriter // counts what goes to out: the offsets
	sink     sinkWriter  // where the tar writer writes; records dst errors
	hdr      bytes.Buffer
	stream   *streamWriter // nil without encryption
	nonces   *nonceMaker   // nil without encryption
	buf      []byte        // content of small files; copies of big ones
	members  []IndexEntry
	line     []byte // scratch for measuring index lines
	indexLen int    // length of the index document so far
	maxIndex int    // MaxIndexSize; lower in tests
	err      error  // sticky: dst failed, or the writer is closed
	index    *PackIndex
}

// ErrPackFull: the pack cannot take another member (its index would be too
// long); Close it and add the member to a new pack. Nothing was written.
var ErrPackFull = errors.New("the pack is full; close it and start another")

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// sinkWriter passes the tar stream on and keeps the first error, which can
// only come from writing to dst.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(b)
	if err != nil {
		s.err = err
	}
	return n, err
}

// NewPackWriter starts a pack on dst. With a Recipient, it makes the pack
// header (one X25519 operation) and draws the file key and nonce seed; it
// writes nothing to dst yet.
func NewPackWriter(dst io.Writer, opt PackOptions) (*PackWriter, error) {
	var st PackState
	if opt.Continue != nil {
		st = opt.Continue.clone()
	} else {
		st = PackState{Pack: opt.Pack, Created: opt.Created}
		if st.Created.IsZero() {
			st.Created = time.Now()
		}
		if opt.Recipient != nil {
			ss, err := captureHeader(opt.Recipient)
			if err != nil {
				return nil, fmt.Errorf("new pack: age: %w", err)
			}
			st.Encrypted, st.Header, st.FileKey = true, ss.Header[:len(ss.Header)-ageNonceSize], ss.FileKey
			rnd := opt.Rand
			if rnd == nil {
				rnd = rand.Reader
			}
			if _, err := io.ReadFull(rnd, st.Seed[:]); err != nil {
				return nil, fmt.Errorf("new pack: nonce seed: %w", err)
			}
		}
	}
	// Only what the index can write back exactly: no location, no
	// monotonic reading.
	st.Created = time.Unix(st.Created.Unix(), int64(st.Created.Nanosecond())).UTC()
	if st.Pack == (PackID{}) {
		return nil, errors.New("new pack: the pack id is not set")
	}
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("new pack: %w", err)
	}
	w := &PackWriter{st: st, compress: opt.Compress, out: bufio.NewWriterSize(dst, 64<<10), maxIndex: MaxIndexSize}
	w.cnt.w = w.out
	if st.Encrypted {
		w.stream = newStreamWriter()
		w.nonces = newNonceMaker(st.Seed)
	}
	w.indexLen = len(indexHead(w.st)) + len(indexTail)
	return w, nil
}

// captureHeader makes an age header to recipient and captures its file key.
func captureHeader(recipient age.Recipient) (StreamState, error) {
	_, ss, err := encryptCapture(io.Discard, recipient)
	return ss, err
}

// State returns what re-creates this pack byte for byte (see PackState and
// PackOptions.Continue); the caller seals it (SealPackState) and records
// it before the first byte is uploaded. It shares no memory with w.
func (w *PackWriter) State() PackState { return w.st.clone() }

// Pack returns the pack's id.
func (w *PackWriter) Pack() PackID { return w.st.Pack }

// Size returns the bytes written so far: where the next member starts.
func (w *PackWriter) Size() int64 { return w.cnt.n }

// Len returns the number of members so far, void ones included.
func (w *PackWriter) Len() int { return len(w.members) }

// AddFile adds a file as the next member: fi.Size bytes read from r, which
// must then be at its end. It returns the member's index entry (number,
// offset, stored length). The content is checked against fi.Size: a file
// that is shorter or longer fails with ErrSizeMismatch, as a read error of
// r fails with that error. Then a file of up to 1 MiB, read whole first,
// leaves no trace in the pack; a bigger one, already partly written,
// leaves its member void (KindVoid in the index, and the returned entry
// says so). Either way the writer can go on with the next member.
func (w *PackWriter) AddFile(fm FileMeta, r io.Reader) (IndexEntry, error) {
	fi := fm.FileInfo
	if err := w.usable(); err != nil {
		return IndexEntry{}, err
	}
	if err := checkFileInfo(fi); err != nil {
		return IndexEntry{}, fmt.Errorf("add file to pack: %w", err)
	}
	if len(fm.Hash) > maxHashLen {
		return IndexEntry{}, fmt.Errorf("add %q to pack: content hash of %d bytes, at most %d", fi.Path, len(fm.Hash), maxHashLen)
	}
	e := IndexEntry{Kind: KindFile, Size: fi.Size, Hash: bytes.Clone(fm.Hash), Path: fi.Path,
		Mode: fileMode(unixMode(fi.Mode)), ModTime: fi.ModTime}
	var body func(tw *tar.Writer) error
	var content []byte // when read whole first
	if fi.Size <= smallFileMax {
		var err error
		if content, err = w.readSmall(r, fi.Size); err != nil {
			return IndexEntry{}, fmt.Errorf("add %q to pack: %w", fi.Path, err)
		}
		body = func(tw *tar.Writer) error { _, err := tw.Write(content); return err }
	} else {
		body = func(tw *tar.Writer) error { return w.copyContent(tw, r, fi.Size) }
	}
	hdr := &tar.Header{Name: fi.Path[1:], Size: fi.Size, Mode: unixMode(fi.Mode), ModTime: fi.ModTime}
	e, err := w.member(e, hdr, content, body)
	if err != nil {
		return e, fmt.Errorf("add %q to pack: %w", fi.Path, err)
	}
	return e, nil
}

// checkFileInfo applies NewWriter's rules to fi.
func checkFileInfo(fi FileInfo) error {
	if err := checkPath(fi.Path); err != nil {
		return err
	}
	if fi.Size < 0 {
		return fmt.Errorf("%q: negative size %d", fi.Path, fi.Size)
	}
	if err := checkMode(fi.Mode); err != nil {
		return fmt.Errorf("%q: %w", fi.Path, err)
	}
	if fi.ModTime.IsZero() {
		return fmt.Errorf("%q: modification time is not set", fi.Path)
	}
	return nil
}

// AddChunk adds a chunk as the next member and returns its index entry.
func (w *PackWriter) AddChunk(cm ChunkMeta, data []byte) (IndexEntry, error) {
	if err := w.usable(); err != nil {
		return IndexEntry{}, err
	}
	if len(cm.Hash) > maxHashLen {
		return IndexEntry{}, fmt.Errorf("add chunk to pack: hash of %d bytes, at most %d", len(cm.Hash), maxHashLen)
	}
	e := IndexEntry{Kind: KindChunk, Size: int64(len(data)), Hash: bytes.Clone(cm.Hash)}
	hdr := &tar.Header{Name: chunkName, Size: int64(len(data)), Mode: 0o600, ModTime: time.Unix(0, 0)}
	e, err := w.member(e, hdr, data, func(tw *tar.Writer) error { _, err := tw.Write(data); return err })
	if err != nil {
		return e, fmt.Errorf("add chunk to pack: %w", err)
	}
	return e, nil
}

func (w *PackWriter) usable() error {
	if w.err != nil {
		return fmt.Errorf("pack %s: %w", w.st.Pack, w.err)
	}
	return nil
}

// readSmall reads exactly n bytes of r, then its end, into w.buf.
func (w *PackWriter) readSmall(r io.Reader, n int64) ([]byte, error) {
	if int64(cap(w.buf)) < n {
		w.buf = make([]byte, max(n, copySize))
	}
	b := w.buf[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: fewer than %d bytes (the file shrank)", ErrSizeMismatch, n)
		}
		return nil, fmt.Errorf("reading: %w", err)
	}
	return b, checkEnd(r, n)
}

// checkEnd requires r to be at its end after n bytes.
func checkEnd(r io.Reader, n int64) error {
	var one [1]byte
	k, err := io.ReadFull(r, one[:])
	switch {
	case k > 0:
		return fmt.Errorf("%w: more than %d bytes (the file grew)", ErrSizeMismatch, n)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("reading: %w", err)
	}
}

// copyContent streams exactly n bytes of r, then its end, into tw.
func (w *PackWriter) copyContent(tw *tar.Writer, r io.Reader, n int64) error {
	if cap(w.buf) < copySize {
		w.buf = make([]byte, copySize)
	}
	buf := w.buf[:copySize]
	for left := n; left > 0; {
		k, err := r.Read(buf[:min(int64(len(buf)), left)])
		if k > 0 {
			if _, werr := tw.Write(buf[:k]); werr != nil {
				return werr
			}
			left -= int64(k)
		}
		switch {
		case errors.Is(err, io.EOF) && left > 0:
			return fmt.Errorf("%w: %d of %d bytes (the file shrank)", ErrSizeMismatch, n-left, n)
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("reading: %w", err)
		}
	}
	return checkEnd(r, n)
}

// member writes the next member: e describes it (Kind and content fields),
// hdr its tar entry (name, size, mode, mtime), and body writes the content
// to the tar writer; content is that content when it is whole in memory
// (nil when body streams it), which decides how its literals are encoded
// (rawLiterals). It returns e with its number, offset and length set.
// An error of body that is not a failure to write to dst makes the member
// void when some of it was written, and leaves no trace otherwise.
func (w *PackWriter) member(e IndexEntry, hdr *tar.Header, content []byte, body func(*tar.Writer) error) (IndexEntry, error) {
	number := uint32(len(w.members))
	if e.Kind == KindIndex {
		number = IndexNumber
	} else {
		if number >= IndexNumber {
			return IndexEntry{}, fmt.Errorf("%w: %d members", ErrPackFull, number)
		}
		e.Number = number
		if err := w.room(e); err != nil {
			return IndexEntry{}, err
		}
	}
	hdr.Typeflag, hdr.Format = tar.TypeReg, tar.FormatPAX
	hdr.PAXRecords = map[string]string{paxComment: memberComment(MemberRef{Pack: w.st.Pack, Number: number, Kind: e.Kind})}
	// The tar headers go to a buffer first: the zstd frame header gives
	// the length of the whole tar stream.
	w.hdr.Reset()
	w.sink = sinkWriter{w: &w.hdr}
	tw := tar.NewWriter(&w.sink)
	if err := tw.WriteHeader(hdr); err != nil {
		return IndexEntry{}, fmt.Errorf("tar header: %w", err)
	}
	tarLen := int64(w.hdr.Len()) + hdr.Size + (512-hdr.Size%512)%512 + 1024

	start := w.cnt.n
	var out io.Writer = &w.cnt
	if w.stream != nil {
		nonce := w.nonces.nonce(number)
		if err := w.write(w.st.Header, nonce); err != nil {
			return IndexEntry{}, err
		}
		if err := w.stream.reset(&w.cnt, w.st.FileKey, nonce); err != nil {
			return IndexEntry{}, w.fail(err)
		}
		out = w.stream
	}
	var enc *zstd.Encoder
	if w.compress {
		// An encoder a member, with the members' window (memberWindow).
		var err error
		kind := memberEncoder(content, w.stream != nil)
		if enc, err = getEncoderKind(out, kind); err != nil {
			return IndexEntry{}, err
		}
		defer putEncoderKind(enc, kind)
		enc.ResetContentSize(out, tarLen)
		out = enc
	}
	w.sink = sinkWriter{w: out}
	_, err := w.sink.Write(w.hdr.Bytes())
	if err == nil {
		err = body(tw)
	}
	if w.sink.err != nil {
		return IndexEntry{}, w.fail(w.sink.err)
	}
	if err != nil {
		// The content could not be read: abandon the member.
		if enc != nil {
			enc.Reset(io.Discard) // drops the frame; nothing more is written
		}
		if w.cnt.n == start {
			return IndexEntry{}, err // nothing written: no trace
		}
		if w.stream != nil {
			if cerr := w.stream.Close(); cerr != nil {
				return IndexEntry{}, w.fail(cerr)
			}
		}
		void := IndexEntry{Number: number, Offset: start, Length: w.cnt.n - start, Kind: KindVoid}
		w.add(void)
		return void, fmt.Errorf("%w (member %d of pack %s is void)", err, number, w.st.Pack)
	}
	if err := tw.Close(); err != nil {
		return IndexEntry{}, w.fail(fmt.Errorf("tar layer: %w", err))
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return IndexEntry{}, w.fail(fmt.Errorf("zstd layer: %w", err))
		}
	}
	if w.stream != nil {
		if err := w.stream.Close(); err != nil {
			return IndexEntry{}, w.fail(fmt.Errorf("age layer: %w", err))
		}
	}
	e.Number, e.Offset, e.Length = number, start, w.cnt.n-start
	if e.Kind != KindIndex {
		w.add(e)
	}
	return e, nil
}

// room checks that the index can take e (its number set; its offset and
// length are taken at their longest).
func (w *PackWriter) room(e IndexEntry) error {
	e.Offset, e.Length = math.MaxInt64, math.MaxInt64 // the longest line
	w.line = appendMemberJSON(w.line[:0], e)
	if w.indexLen+len(w.line)+2 > w.maxIndex {
		return fmt.Errorf("%w: its index would exceed %d bytes", ErrPackFull, w.maxIndex)
	}
	return nil
}

// add records a member in the index.
func (w *PackWriter) add(e IndexEntry) {
	w.members = append(w.members, e)
	w.line = appendMemberJSON(w.line[:0], e)
	w.indexLen += len(w.line) + 2 // ",\n" or "\n"
}

func (w *PackWriter) write(bs ...[]byte) error {
	for _, b := range bs {
		if _, err := w.cnt.Write(b); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

// fail makes err, a failure to write to dst, sticky.
func (w *PackWriter) fail(err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("writing the pack failed: %w", err)
	}
	return w.err
}

// Close writes the index and the trailer, flushes everything to dst (which
// it does not close), and returns the index. Calling it again returns the
// same result. After Close, adding members fails.
func (w *PackWriter) Close() (*PackIndex, error) {
	if w.index != nil {
		return w.index, nil
	}
	if err := w.usable(); err != nil {
		return nil, err
	}
	idx := &PackIndex{Pack: w.st.Pack, Created: w.st.Created, Members: w.members}
	doc := appendIndexJSON(make([]byte, 0, w.indexLen), idx)
	hdr := &tar.Header{Name: indexName, Size: int64(len(doc)), Mode: 0o600, ModTime: w.st.Created}
	e, err := w.member(IndexEntry{Kind: KindIndex}, hdr, doc, func(tw *tar.Writer) error { _, err := tw.Write(doc); return err })
	if err != nil {
		return nil, fmt.Errorf("pack %s: index: %w", w.st.Pack, err)
	}
	idx.Offset, idx.Length = e.Offset, e.Length
	if err := w.write(appendTrailer(nil, PackTrailer{IndexOffset: e.Offset, IndexLength: e.Length})); err != nil {
		return nil, err
	}
	if err := w.out.Flush(); err != nil {
		return nil, w.fail(err)
	}
	idx.Size = w.cnt.n
	w.err, w.index = errPackClosed, idx
	// Its buffers (~400 KiB) are not needed again, and a closed pack may
	// be held until the last version using it is recorded: the packs of a
	// 4 GiB file, 13 MB of them, until the end of its backup.
	w.out, w.stream, w.buf, w.line, w.hdr = nil, nil, nil, nil, bytes.Buffer{}
	return idx, nil
}
