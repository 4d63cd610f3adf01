// Package chunk splits a large file into content-defined chunks, so that a
// file that changes a little changes only a few chunks (docs/DESIGN.md,
// "Chunking"; docs/FORMAT.md section 1.4).
//
// Boundaries are found with a Rabin fingerprint over a 64-byte window
// (github.com/restic/chunker, the chunker restic uses). A chunk ends where
// the fingerprint's low 20 bits are zero, but never before MinSize bytes and
// always at MaxSize bytes, so chunks are 1.5 MiB on average. Which positions
// qualify depends on an irreducible polynomial: a fixed public one without
// encryption, or one derived from the user's key, so that the sizes of stored
// chunks do not identify known content to anyone without the key.
package chunk

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/restic/chunker"
)

// Chunk sizes. Changing any of them (or the polynomial rule) moves every
// boundary: each large file would be stored again in full on its next change.
const (
	// MinSize is the smallest chunk; only the last chunk of an input may be
	// smaller.
	MinSize = 512 << 10
	// MaxSize is the largest chunk. Data without boundaries (a long run of
	// one byte value other than zero, for instance) is cut into chunks of
	// exactly this size. Runs of zeros are cut every MinSize bytes: the
	// fingerprint of a window of zeros is zero.
	MaxSize = 8 << 20
	// averageBits sets how often a boundary occurs after MinSize: one
	// position in 2^20, so a chunk is MinSize + 1 MiB long on average.
	averageBits = 20
	// ReadBufferSize is what restic's chunker reads from its input at a
	// time (its own constant). A Chunker holds MaxSize + ReadBufferSize
	// bytes of buffers.
	ReadBufferSize = 512 << 10
)

// defaultPolynomial is the public polynomial used without a key (it is the
// one restic's own tests use; TestDefaultPolynomial checks it is
// irreducible and of degree 53).
const defaultPolynomial = chunker.Pol(0x3DA3358B4DC173)

// infoPolynomial expands a chunker key into polynomial candidates
// (docs/FORMAT.md section 1.4).
const infoPolynomial = "grsync/v1 chunker polynomial"

// Params is what chunk boundaries depend on besides the content. The zero
// value is Default().
type Params struct {
	pol chunker.Pol
}

// Default returns the parameters used without encryption: a fixed public
// polynomial, so the same content always gets the same boundaries.
func Default() Params { return Params{pol: defaultPolynomial} }

// Keyed returns parameters derived from a chunker key (keys.Key.ChunkerKey):
// the same key always gives the same boundaries, different keys give
// unrelated ones. Deriving takes a few milliseconds; do it once per run.
func Keyed(key [32]byte) (Params, error) {
	// HKDF-Expand yields at most 255*32 bytes: 1020 candidates. About one in
	// 13 is irreducible, so running out has a probability near 1e-35.
	stream, err := hkdf.Expand(sha256.New, key[:], infoPolynomial, 255*sha256.Size)
	if err != nil {
		return Params{}, fmt.Errorf("deriving the chunker polynomial: %w", err)
	}
	pol, err := chunker.DerivePolynomial(bytes.NewReader(stream))
	if err != nil {
		return Params{}, fmt.Errorf("deriving the chunker polynomial: %w", err)
	}
	return Params{pol: pol}, nil
}

// String says whether the parameters are keyed, and nothing more: printing
// Params (%v, %+v and %#v included) never reveals the polynomial.
func (p Params) String() string {
	if p.polynomial() == defaultPolynomial {
		return "default chunk parameters"
	}
	return "keyed chunk parameters"
}

// GoString is String, for %#v.
func (p Params) GoString() string { return p.String() }

func (p Params) polynomial() chunker.Pol {
	if p.pol == 0 {
		return defaultPolynomial
	}
	return p.pol
}

// Chunk is one piece of the input.
type Chunk struct {
	// Offset is the position of the chunk's first byte in the input.
	Offset int64
	// Data holds the chunk's bytes. It is only valid until the next call of
	// Next or Reset: the Chunker reuses the memory.
	Data []byte
}

// Chunker splits a stream into chunks. It holds MaxSize + ReadBufferSize
// bytes of buffers, allocated once: Next allocates nothing, and Reset
// reuses the buffers for another input. A Chunker is not safe for
// concurrent use.
type Chunker struct {
	c        *chunker.Chunker
	params   Params
	min, max uint
	avgBits  int
	buf      []byte
	offset   int64
	err      error // sticky: io.EOF after the last chunk, or the read error
}

// New returns a Chunker that reads r.
func New(r io.Reader, p Params) *Chunker {
	return newSized(r, p, MinSize, MaxSize, averageBits)
}

// newSized lets tests use small chunks; minSize must be at least 64 (the
// fingerprint's window).
func newSized(r io.Reader, p Params, minSize, maxSize uint, avgBits int) *Chunker {
	c := &Chunker{
		c:       chunker.NewWithBoundaries(r, p.polynomial(), minSize, maxSize),
		params:  p,
		min:     minSize,
		max:     maxSize,
		avgBits: avgBits,
		buf:     make([]byte, maxSize),
	}
	c.c.SetAverageBits(avgBits)
	return c
}

// Reset makes the Chunker read r from its start, keeping its parameters and
// buffers. Data returned before becomes invalid.
func (c *Chunker) Reset(r io.Reader) {
	c.c.ResetWithBoundaries(r, c.params.polynomial(), c.min, c.max)
	c.c.SetAverageBits(c.avgBits)
	c.offset = 0
	c.err = nil
}

// Next returns the next chunk. After the last chunk it returns io.EOF; an
// empty input has no chunks. A read error is returned wrapped, and again on
// every later call. Every chunk is MinSize to MaxSize bytes long, except
// that the last one may be shorter.
func (c *Chunker) Next() (Chunk, error) {
	if c.err != nil {
		return Chunk{}, c.err
	}
	ch, err := c.c.Next(c.buf)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			err = fmt.Errorf("chunking: %w", err)
		}
		c.err = err
		return Chunk{}, err
	}
	out := Chunk{Offset: c.offset, Data: ch.Data}
	c.offset += int64(len(ch.Data))
	return out, nil
}
