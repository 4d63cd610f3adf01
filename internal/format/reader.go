package format

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"filippo.io/age"
)

// ageMagic starts every binary age v1 file.
const ageMagic = "age-encryption.org/v1\n"

var errReaderClosed = errors.New("archive reader is closed")

// Reader decodes an archive body. It is not safe for concurrent use.
type Reader struct {
	p        *pipeline
	cfg      readerConfig
	info     FileInfo
	encoding string
	tr       *tar.Reader
	stream   io.Reader // the tar stream, read directly for the end checks
	closers  []func()
	err      error // sticky: io.EOF after a verified end, or the failure
}

// Open starts decoding the archive body read from src. It recognises the
// layers by their magic numbers, decrypts with id (nil if the archive is not
// encrypted) and reads through the tar header, so that a wrong key, a damaged
// header or data that is not a grsync archive is reported here, before any
// content. A non-nil id makes Open refuse unencrypted archives
// (ErrNotEncrypted); a nil id makes it refuse encrypted ones
// (ErrKeyRequired).
//
// Close must be called to release the goroutines decoding the layers.
func Open(src io.Reader, id age.Identity) (*Reader, error) {
	r, err := openReader(src, id, readerConfig{version: "grsync1", check: checkHeader})
	if err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	return r, nil
}

// displayName is what error messages call the content (made only for
// them: most members are read without one).
func (r *Reader) displayName() string {
	if r.cfg.name != nil {
		return r.cfg.name(r.info)
	}
	return fmt.Sprintf("%q", r.info.Path)
}

// readerConfig says what a Reader decodes: v1 archives, or pack members.
type readerConfig struct {
	// version is the encoding prefix: "grsync1" or "grsync2".
	version string
	// sync decodes in the caller's goroutine, with a pooled zstd decoder:
	// pack members are many and mostly small, so goroutines and decoders
	// per member would cost more than they gain.
	sync bool
	// check validates the tar header and returns what Info reports.
	check func(*tar.Header) (FileInfo, error)
	// name names the content in errors; nil means its path.
	name func(FileInfo) string
}

// openReader starts a Reader of src; on error it is closed and nil.
func openReader(src io.Reader, id age.Identity, cfg readerConfig) (*Reader, error) {
	r := &Reader{p: newPipeline(), cfg: cfg}
	if err := r.open(src, id); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reader) open(src io.Reader, id age.Identity) error {
	var br *bufio.Reader
	if r.cfg.sync {
		br = getBufReader(src)
		r.closers = append(r.closers, func() { putBufReader(br) })
	} else {
		br = bufio.NewReaderSize(src, 64<<10)
	}
	head, err := br.Peek(len(ageMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var stream io.Reader = br
	encrypted := bytes.Equal(head, []byte(ageMagic))
	switch {
	case encrypted && id == nil:
		return ErrKeyRequired
	case !encrypted && id != nil:
		if len(head) == 0 {
			return fmt.Errorf("%w: the archive is empty", ErrNotGrsync)
		}
		return ErrNotEncrypted
	case encrypted:
		// A pack member whose header age verified before (agestream.go).
		pi, _ := id.(*packIdentity)
		if pi != nil && r.cfg.sync {
			if sr, ok := pi.openKnown(br); ok {
				r.closers = append(r.closers, func() { sr.src = nil; streamReaders.Put(sr) })
				stream = &errPrefixReader{r: sr, prefix: "age layer"}
				break
			}
		}
		var header []byte
		var capture *keyCapture
		decrypt := id
		if pi != nil && r.cfg.sync {
			header, capture = peekAgeHeader(br), &keyCapture{id: id}
			decrypt = capture
		}
		ar, err := age.Decrypt(br, decrypt)
		if err != nil {
			var nomatch *age.NoIdentityMatchError
			if errors.As(err, &nomatch) {
				return fmt.Errorf("%w: the archive was encrypted with another key (%v)", ErrWrongKey, err)
			}
			return fmt.Errorf("%w: age header: %w", ErrCorrupt, err)
		}
		if header != nil && capture.key != nil {
			pi.learn(header, capture.key)
		}
		if r.cfg.sync {
			stream = &errPrefixReader{r: ar, prefix: "age layer"}
			break
		}
		ch := make(chan *chunk, pipeDepth)
		r.p.spawn(func() error {
			if err := fill(r.p, ar, ch); err != nil {
				return fmt.Errorf("%w: age layer: %w", ErrCorrupt, err)
			}
			return nil
		})
		stream = &chunkReader{p: r.p, in: ch}
	}

	prefix, stream, err := peek(stream, len(zstdMagic))
	if err != nil {
		return err
	}
	compressed := bytes.Equal(prefix, zstdMagic[:])
	if compressed {
		var dec io.Reader
		if r.cfg.sync {
			d, err := getSyncDecoder(stream)
			if err != nil {
				return err
			}
			r.closers = append(r.closers, func() { putSyncDecoder(d) })
			dec = d
		} else {
			d, err := newDecoder(stream)
			if err != nil {
				return err
			}
			r.closers = append(r.closers, d.Close)
			dec = d
		}
		stream = &errPrefixReader{r: dec, prefix: "zstd layer"}
	}
	r.encoding = encodingIn(r.cfg.version, compressed, encrypted)
	r.stream = stream
	r.tr = tar.NewReader(stream)
	hdr, err := r.tr.Next()
	switch {
	case err == nil:
	case errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, tar.ErrHeader):
		return fmt.Errorf("%w (%s; no valid tar header: %v)", ErrNotGrsync, r.encoding, err)
	default:
		return fmt.Errorf("tar header: %w", err)
	}
	info, err := r.cfg.check(hdr)
	if err != nil {
		return err
	}
	r.info = info
	return nil
}

// bufReaderPool recycles the input buffers of pack members' Readers. A
// cache, not state.
var bufReaderPool sync.Pool

func getBufReader(src io.Reader) *bufio.Reader {
	if br, ok := bufReaderPool.Get().(*bufio.Reader); ok {
		br.Reset(src)
		return br
	}
	return bufio.NewReaderSize(src, 64<<10)
}

func putBufReader(br *bufio.Reader) {
	br.Reset(nil)
	bufReaderPool.Put(br)
}

// peek returns the first n bytes of r (fewer at its end) and a reader that
// still yields them.
func peek(r io.Reader, n int) ([]byte, io.Reader, error) {
	if br, ok := r.(*bufio.Reader); ok {
		b, err := br.Peek(n)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		return b, br, nil
	}
	b := make([]byte, n)
	k, err := io.ReadFull(r, b)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, err
	}
	b = b[:k]
	return b, io.MultiReader(bytes.NewReader(b), r), nil
}

// checkHeader validates the tar entry of a grsync v1 archive.
func checkHeader(hdr *tar.Header) (FileInfo, error) {
	v, ok := hdr.PAXRecords[paxVersionKey]
	switch {
	case !ok:
		return FileInfo{}, fmt.Errorf("%w: the tar entry has no %s record", ErrNotGrsync, paxVersionKey)
	case v != paxVersionValue:
		return FileInfo{}, fmt.Errorf("%w: archive says %s=%q, this grsync reads version %s", ErrUnsupportedVersion, paxVersionKey, v, paxVersionValue)
	}
	if err := checkEntry(hdr); err != nil {
		return FileInfo{}, err
	}
	p := "/" + hdr.Name
	if err := checkPath(p); err != nil {
		return FileInfo{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return FileInfo{Path: p, Size: hdr.Size, Mode: fileMode(hdr.Mode), ModTime: hdr.ModTime}, nil
}

// checkEntry checks what v1 archives and pack members have in common: a
// regular file, a size, a mode within 07777, not sparse.
func checkEntry(hdr *tar.Header) error {
	switch {
	case hdr.Typeflag != tar.TypeReg:
		return fmt.Errorf("%w: tar entry type %q is not a regular file", ErrCorrupt, hdr.Typeflag)
	case hdr.Size < 0:
		return fmt.Errorf("%w: negative size", ErrCorrupt)
	case hdr.Mode&^modeMask != 0:
		return fmt.Errorf("%w: mode %o has bits outside %o", ErrCorrupt, hdr.Mode, modeMask)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("%w: sparse tar entries are not grsync's", ErrCorrupt)
		}
	}
	return nil
}

// Info returns the file's path, size, mode and modification time from the
// archive's tar header.
func (r *Reader) Info() FileInfo { return r.info }

// Encoding returns the archive's layers as an encoding string (see
// Encoding), for comparison with the catalogue.
func (r *Reader) Encoding() string { return r.encoding }

// Read reads the file's content. It returns io.EOF only after the tar end
// marker, the zstd frame end and checksum, and age's last chunk have all
// been verified and nothing follows them; damage of any kind is an error.
func (r *Reader) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.tr.Read(b)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if verr := r.verifyEnd(); verr != nil {
			r.err = fmt.Errorf("read archive of %s: %w", r.displayName(), verr)
			return n, r.err
		}
		r.err = io.EOF
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	case !errors.Is(err, ErrCorrupt) && errors.Is(err, io.ErrUnexpectedEOF):
		r.err = fmt.Errorf("read archive of %s: %w: content truncated", r.displayName(), ErrCorrupt)
	default:
		r.err = fmt.Errorf("read archive of %s: %w", r.displayName(), err)
	}
	return n, r.err
}

// verifyEnd checks what follows the content: zero padding to 512 bytes, the
// 1024-byte end marker, and then the end of every layer.
func (r *Reader) verifyEnd() error {
	pad := (512 - r.info.Size%512) % 512
	tail := make([]byte, pad+1024)
	if _, err := io.ReadFull(r.stream, tail); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: truncated: the tar end-of-archive marker is missing", ErrCorrupt)
		}
		return err
	}
	for _, c := range tail {
		if c != 0 {
			return fmt.Errorf("%w: unexpected data after the file content (a second tar entry?)", ErrCorrupt)
		}
	}
	var one [1]byte
	n, err := io.ReadFull(r.stream, one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: data follows the tar end-of-archive marker", ErrCorrupt)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return err
	}
}

// Close stops decoding and releases the goroutines. It waits for a read of
// src in progress to return. Close always returns nil.
func (r *Reader) Close() error {
	r.p.fail(errReaderClosed)
	for _, c := range r.closers {
		c()
	}
	r.closers = nil
	r.p.wg.Wait()
	if r.err == nil {
		r.err = errReaderClosed
	}
	return nil
}

// errPrefixReader names the layer in errors from r other than io.EOF, and
// marks them as corruption.
type errPrefixReader struct {
	r      io.Reader
	prefix string
}

func (e *errPrefixReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF {
		if errors.Is(err, ErrCorrupt) || errors.Is(err, errReaderClosed) {
			return n, err
		}
		return n, fmt.Errorf("%w: %s: %w", ErrCorrupt, e.prefix, err)
	}
	return n, err
}
