package legacy

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// The values of the Python tools' compression column. A NULL or empty column
// means plain as well.
const (
	CompressionPlain         = "plain"          // the file's bytes
	CompressionZstd          = "zstd"           // one zstd frame of the file's bytes (original tool)
	CompressionPlainZstd     = "plain+zstd"     // the same, as the -encrypted fork names it
	CompressionEncrypted     = "encrypted"      // one Fernet token of the file's bytes
	CompressionEncryptedZstd = "encrypted+zstd" // one zstd frame holding a Fernet token
)

// zstdMaxWindow bounds the memory a zstd frame may make the decoder use.
// It is the reference decoder's default limit (window log 27); the Python
// tools compressed at level 3, whose window is at most 2 MiB.
const zstdMaxWindow = 128 << 20

// IsLegacyCompression reports whether compression is a value the Python tools
// wrote in their catalogue's compression column ("" standing for NULL).
func IsLegacyCompression(compression string) bool {
	switch compression {
	case "", CompressionPlain, CompressionZstd, CompressionPlainZstd,
		CompressionEncrypted, CompressionEncryptedZstd:
		return true
	}
	return false
}

// Decode returns the original file bytes of a legacy archive, given the
// value of its catalogue row's compression column.
//
// open must yield the archive's bytes afresh on every call; encrypted forms
// call it twice (see OpenFernet). key may be nil for unencrypted forms; an
// encrypted form without a key fails with ErrKeyRequired, an unknown
// compression value with ErrUnknownCompression.
//
// Encrypted forms are authenticated before any byte is returned. Zstd forms
// are checked by the frame's checksum when it has one (the Python tools
// always wrote one), which the reader verifies before returning io.EOF; an
// empty or truncated frame is an error. Plain archives carry no integrity
// check at all: their bytes are returned as stored.
func Decode(compression string, open func() (io.ReadCloser, error), key *FernetKey) (io.ReadCloser, error) {
	if open == nil {
		return nil, errors.New("decode legacy archive: no source")
	}
	var (
		r   io.ReadCloser
		err error
	)
	switch compression {
	case "", CompressionPlain:
		r, err = open()
	case CompressionZstd, CompressionPlainZstd:
		r, err = openZstd(open)
	case CompressionEncrypted, CompressionEncryptedZstd:
		if key == nil {
			return nil, fmt.Errorf("decode legacy %q archive: %w", compression, ErrKeyRequired)
		}
		src := open
		if compression == CompressionEncryptedZstd {
			src = func() (io.ReadCloser, error) { return openZstd(open) }
		}
		r, err = OpenFernet(src, *key)
	default:
		return nil, fmt.Errorf("decode legacy archive: %w %q (want plain, zstd, plain+zstd, encrypted or encrypted+zstd)",
			ErrUnknownCompression, compression)
	}
	if err != nil {
		return nil, fmt.Errorf("decode legacy %q archive: %w", compression, err)
	}
	return r, nil
}

// zstdReader decompresses one archive's zstd stream.
type zstdReader struct {
	src  io.ReadCloser
	in   *countingReader
	dec  *zstd.Decoder
	done bool
}

// openZstd opens the archive and starts decompressing it.
func openZstd(open func() (io.ReadCloser, error)) (io.ReadCloser, error) {
	src, err := open()
	if err != nil {
		return nil, err
	}
	in := &countingReader{r: src}
	dec, err := zstd.NewReader(in,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(zstdMaxWindow))
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("start zstd decoder: %w", err)
	}
	return &zstdReader{src: src, in: in, dec: dec}, nil
}

// Read implements io.Reader.
func (z *zstdReader) Read(p []byte) (int, error) {
	if z.done {
		return 0, fmt.Errorf("zstd reader: %w", errReadAfterClose)
	}
	n, err := z.dec.Read(p)
	switch {
	case err == io.EOF && z.in.n == 0:
		return n, errors.New("zstd: archive is empty, want a zstd frame")
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		return n, fmt.Errorf("zstd: %w", err)
	}
	return n, nil
}

// Close releases the decoder and closes the archive.
func (z *zstdReader) Close() error {
	if z.done {
		return nil
	}
	z.done = true
	z.dec.Close()
	return z.src.Close()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
