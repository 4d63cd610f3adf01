package format

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdWindow is the largest zstd window grsync writes and reads: small
// enough for stock `zstd -d` and for bounded memory, large enough that a
// bigger one would gain little at the fastest level.
const zstdWindow = 8 << 20

// zstdMagic starts every zstd frame.
var zstdMagic = [4]byte{0x28, 0xb5, 0x2f, 0xfd}

// smallZstdWindow is the window of the encoders of frames known to be
// shorter than it: their output is the same, byte for byte, as with
// zstdWindow (a frame that fits its window is one segment, whatever the
// window; TestSmallWindowSameBytes), and their history buffer is a
// quarter as big, which matters with an encoder per member in flight.
const smallZstdWindow = 2 << 20

// encoderPool and smallEncoderPool recycle zstd encoders, whose 16 MiB
// (4 MiB) history buffer would otherwise be allocated for every file. A
// cache, not state.
var encoderPool, smallEncoderPool sync.Pool

// getEncoder returns an encoder writing one frame to w. Changing its options
// changes the archive bytes: update zstdEncoderOptions (WriterID) too.
func getEncoder(w io.Writer) (*zstd.Encoder, error) {
	return getEncoderFor(w, 0)
}

// getEncoderFor returns an encoder for one frame of size bytes (0:
// unknown) written to w; give it back with putEncoder.
func getEncoderFor(w io.Writer, size int64) (*zstd.Encoder, error) {
	pool, window := &encoderPool, zstdWindow
	if size > 0 && size < smallZstdWindow {
		pool, window = &smallEncoderPool, smallZstdWindow
	}
	if e, ok := pool.Get().(*zstd.Encoder); ok {
		e.Reset(w)
		return e, nil
	}
	e, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithWindowSize(window),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true),
		// The encoder already runs in a goroutine of its own; its internal
		// asynchrony would add copies and goroutines without adding cores.
		zstd.WithEncoderConcurrency(1),
		// Not WithLowerEncoderMem: it makes the fastest level about ten
		// times slower by copying history; the pool amortises the 16 MiB.
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return e, nil
}

// putEncoder returns a closed encoder from getEncoder to the pool.
func putEncoder(e *zstd.Encoder) { putEncoderFor(e, 0) }

// putEncoderFor returns a closed encoder from getEncoderFor(_, size).
func putEncoderFor(e *zstd.Encoder, size int64) {
	e.Reset(nil)
	if size > 0 && size < smallZstdWindow {
		smallEncoderPool.Put(e)
		return
	}
	encoderPool.Put(e)
}

// newDecoder returns a decoder for one grsync zstd layer read from r.
func newDecoder(r io.Reader) (*zstd.Decoder, error) {
	d, err := zstd.NewReader(r,
		zstd.WithDecoderMaxWindow(zstdWindow),
		zstd.WithDecoderConcurrency(2),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return d, nil
}

// syncDecoderPool recycles the decoders of pack members, which decode in
// the caller's goroutine: a member of a few KiB must not pay for a new
// decoder. A cache, not state.
var syncDecoderPool sync.Pool

// getSyncDecoder returns a decoder of one member's zstd layer read from r,
// with no goroutines of its own.
func getSyncDecoder(r io.Reader) (*zstd.Decoder, error) {
	if d, ok := syncDecoderPool.Get().(*zstd.Decoder); ok {
		if err := d.Reset(r); err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		return d, nil
	}
	d, err := zstd.NewReader(r,
		zstd.WithDecoderMaxWindow(zstdWindow),
		zstd.WithDecoderConcurrency(1),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return d, nil
}

// putSyncDecoder returns a decoder to the pool, letting go of its input.
func putSyncDecoder(d *zstd.Decoder) {
	d.Reset(nil)
	syncDecoderPool.Put(d)
}
