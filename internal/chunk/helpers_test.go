package chunk

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// testSize returns n, or an eighth of it under the race detector, which
// slows the chunker about tenfold (and finds nothing: it has no concurrency).
func testSize(n int) int {
	if raceEnabled {
		return n / 8
	}
	return n
}

// randomData returns n pseudo-random bytes, the same for the same seed (the
// ChaCha8 generator's output is specified, so it does not change with Go).
func randomData(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// split returns the sizes of the chunks of r, checking on the way that the
// chunks are contiguous and concatenate back to want (when want is not nil).
func split(tb testing.TB, c *Chunker, want []byte) []int {
	tb.Helper()
	var sizes []int
	var off int64
	for {
		ch, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if ch.Offset != off {
			tb.Fatalf("chunk %d starts at %d, want %d", len(sizes), ch.Offset, off)
		}
		if len(ch.Data) == 0 {
			tb.Fatalf("chunk %d is empty", len(sizes))
		}
		if want != nil && !bytes.Equal(ch.Data, want[off:off+int64(len(ch.Data))]) {
			tb.Fatalf("chunk %d (offset %d) does not hold the input's bytes", len(sizes), off)
		}
		off += int64(len(ch.Data))
		sizes = append(sizes, len(ch.Data))
	}
	if want != nil && off != int64(len(want)) {
		tb.Fatalf("chunks cover %d bytes of %d", off, len(want))
	}
	return sizes
}

func sizesOf(tb testing.TB, data []byte, p Params) []int {
	tb.Helper()
	return split(tb, New(bytes.NewReader(data), p), data)
}

// chunkSet maps the SHA-256 of every chunk of data to its size.
func chunkSet(tb testing.TB, data []byte, p Params) map[[32]byte]int {
	tb.Helper()
	set := map[[32]byte]int{}
	c := New(bytes.NewReader(data), p)
	for {
		ch, err := c.Next()
		if errors.Is(err, io.EOF) {
			return set
		}
		if err != nil {
			tb.Fatal(err)
		}
		set[sha256.Sum256(ch.Data)] = len(ch.Data)
	}
}

// editCost is what one edit of a file makes new: the chunks of the edited
// file that the original file does not have, i.e. what a sync uploads.
type editCost struct {
	name   string
	chunks int
	bytes  int64
}

// editCosts applies the four edits of docs/DESIGN.md ("Chunking") to a
// random file of the given size, one at a time, and returns their costs.
func editCosts(tb testing.TB, size int, p Params) []editCost {
	tb.Helper()
	data := randomData(1, size)
	before := chunkSet(tb, data, p)
	mid := size / 2
	edits := []struct {
		name string
		make func() []byte
	}{
		{"1 MiB overwritten in the middle", func() []byte {
			d := bytes.Clone(data)
			copy(d[mid:mid+mib], randomData(2, mib))
			return d
		}},
		{"1 MiB appended", func() []byte {
			return append(bytes.Clone(data), randomData(3, mib)...)
		}},
		{"1 byte inserted at the start", func() []byte {
			return append([]byte{0x5a}, data...)
		}},
		{"1 byte deleted in the middle", func() []byte {
			return append(bytes.Clone(data[:mid]), data[mid+1:]...)
		}},
	}
	var costs []editCost
	for _, e := range edits {
		cost := editCost{name: e.name}
		for h, n := range chunkSet(tb, e.make(), p) {
			if _, ok := before[h]; !ok {
				cost.chunks++
				cost.bytes += int64(n)
			}
		}
		costs = append(costs, cost)
	}
	return costs
}

// testKey is a fixed chunker key for tests: the one keys.Key.ChunkerKey
// derives from the key vector of internal/keys (docs/FORMAT.md section 1.2).
func testKey() [32]byte {
	return [32]byte{
		0x19, 0xe3, 0x3d, 0xb3, 0x92, 0xfa, 0xba, 0x3a, 0x68, 0xdb, 0x5f, 0x96, 0x71, 0x2b, 0xac, 0x91,
		0xcd, 0x8c, 0xd1, 0xcd, 0x8e, 0x2d, 0x84, 0x56, 0xef, 0xea, 0xa9, 0x57, 0x14, 0xd3, 0x62, 0x20,
	}
}

func keyed(tb testing.TB, key [32]byte) Params {
	tb.Helper()
	p, err := Keyed(key)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
