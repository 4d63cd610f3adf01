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

// encoderPools recycle zstd encoders, whose 16 MiB (4 MiB) history buffer
// would otherwise be allocated for every file: by window (zstdWindow,
// smallZstdWindow), by whether literals are entropy coded and by whether
// frames carry a checksum (encoderKind). A cache, not state.
//
// Bounded free lists, not sync.Pools: a sync.Pool keeps an idle encoder
// in each processor's private slot, which no other processor takes, so a
// lane whose goroutine moved between processors made a second 16 MiB
// encoder (measured: 40 of a 1 GiB backup's 73 MB live heap were two
// encoders' history), and after two collections it drops them all, to be
// made again.
var encoderPools = [2][2][2]chan *zstd.Encoder{
	// zstdWindow: v1 archives
	{{make(chan *zstd.Encoder, 2), make(chan *zstd.Encoder, 2)}, {make(chan *zstd.Encoder, 2), make(chan *zstd.Encoder, 2)}},
	// smallZstdWindow: pack members, as many as are encoded at once
	{{make(chan *zstd.Encoder, 8), make(chan *zstd.Encoder, 8)}, {make(chan *zstd.Encoder, 8), make(chan *zstd.Encoder, 8)}},
}

// encoderKind is what an encoder's options depend on.
type encoderKind struct {
	window int // zstdWindow or smallZstdWindow
	// rawLiterals: literals are stored as they are, not Huffman coded
	// (see rawLiterals).
	rawLiterals bool
	// noCRC: frames carry no content checksum (members of encrypted
	// packs, whose age layer authenticates every byte; docs/FORMAT.md 8.4).
	noCRC bool
}

// getEncoder returns an encoder writing one frame to w, as a v1 archive's
// is; give it back with putEncoder. Changing its options changes the
// archive bytes: update zstdEncoderOptions (WriterID) too.
func getEncoder(w io.Writer) (*zstd.Encoder, error) {
	return getEncoderKind(w, encoderKind{window: zstdWindow})
}

// encoderPool returns the pool of the encoders of a kind.
func encoderPool(k encoderKind) chan *zstd.Encoder {
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return encoderPools[b(k.window == smallZstdWindow)][b(k.rawLiterals)][b(k.noCRC)]
}

// memberWindow is the window of every pack member's frame, whatever its
// size: chunks of up to chunk.MaxSize (8 MiB) included. The history
// buffer of an encoder is twice its window: with zstdWindow, the one
// encoder that a chunk over 2 MiB needed was 20 of a big file's backup's
// ~60 MB of live heap. At the fastest level the matches lost (more than
// 2 MiB back within one chunk) are next to none: its hash table forgets
// long before. Frames under the window are the same bytes either way
// (TestSmallWindowSameBytes).
const memberWindow = smallZstdWindow

// memberEncoder is the kind of encoder of a pack member's frame: with raw
// literals when rawLiterals says so, and without a checksum in an
// encrypted pack (docs/FORMAT.md 8.4: age's tags already authenticate
// every byte of it; the checksum was 5% of the CPU of a big file's
// backup).
func memberEncoder(content []byte, encrypted bool) encoderKind {
	return encoderKind{window: memberWindow, rawLiterals: rawLiterals(content), noCRC: encrypted}
}

// getEncoderKind returns an encoder of one frame of kind k written to w;
// give it back with putEncoderKind.
func getEncoderKind(w io.Writer, k encoderKind) (*zstd.Encoder, error) {
	pool := encoderPool(k)
	select {
	case e := <-pool:
		e.Reset(w)
		return e, nil
	default:
	}
	e, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithWindowSize(k.window),
		zstd.WithEncoderCRC(!k.noCRC),
		zstd.WithZeroFrames(true),
		// The encoder already runs in a goroutine of its own; its internal
		// asynchrony would add copies and goroutines without adding cores.
		zstd.WithEncoderConcurrency(1),
		// Not WithLowerEncoderMem: it makes the fastest level about ten
		// times slower by copying history; the pool amortises the 16 MiB.
		zstd.WithNoEntropyCompression(k.rawLiterals),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return e, nil
}

// putEncoder returns a closed encoder from getEncoder to the pool.
func putEncoder(e *zstd.Encoder) { putEncoderKind(e, encoderKind{window: zstdWindow}) }

// putEncoderKind returns a closed encoder from getEncoderKind.
func putEncoderKind(e *zstd.Encoder, k encoderKind) {
	e.Reset(nil)
	select {
	case encoderPool(k) <- e:
	default: // enough are idle already
	}
}

// rawLiteralsMax is the largest member content rawLiterals looks at: one
// zstd block, where the decision is the block's.
const rawLiteralsMax = 128 << 10

// rawLiterals reports whether a member of this content (a small file or a
// chunk) is encoded with its literals stored as they are: when no byte
// value occurs twice as often as in uniform bytes, the test huff0 applies
// to a block's literals before it builds a Huffman table (maxCount <
// len/128). Applied to the content alone, because in a small member the
// tar header's zeros and text join the literals, pass that test, and make
// the encoder build a table and compress with it only to store the
// literals raw after all (measured: 6 KiB of random bytes took 39 µs to
// encode instead of ~12; the output is the same size). Content that
// compresses (text, anything with a skewed byte distribution) fails the
// test and is encoded as before. The decision depends on the content only,
// so the same content always gets the same bytes.
func rawLiterals(content []byte) bool {
	if len(content) < 1024 || len(content) > rawLiteralsMax {
		return false
	}
	var c [4][256]uint32 // four tables: no stalls on a repeated byte
	limit := uint32(len(content) >> 7)
	skewed := func() bool {
		for b := range 256 {
			if c[0][b]+c[1][b]+c[2][b]+c[3][b] >= limit {
				return true
			}
		}
		return false
	}
	count := func(p []byte) {
		i := 0
		for ; i+4 <= len(p); i += 4 {
			c[0][p[i]]++
			c[1][p[i+1]]++
			c[2][p[i+2]]++
			c[3][p[i+3]]++
		}
		for ; i < len(p); i++ {
			c[0][p[i]]++
		}
	}
	// Counts only grow: text is found skewed in its first KiB.
	count(content[:1024])
	if skewed() {
		return false
	}
	count(content[1024:])
	return !skewed()
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
