package chunk

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// FuzzChunker checks, with small chunk sizes so that short inputs hold many
// chunks: the chunks concatenate back to the input, every chunk but the last
// is within the bounds, and boundaries do not depend on how the reader hands
// out the bytes.
func FuzzChunker(f *testing.F) {
	f.Add([]byte{}, byte(0), false)
	f.Add(bytes.Repeat([]byte{0}, 5000), byte(1), true)
	f.Add(bytes.Repeat([]byte{0xff}, 5000), byte(2), false)
	f.Add(randomData(13, 20000), byte(3), true)
	const minSize, maxSize, avgBits = 64, 1024, 8
	// Deriving a polynomial takes milliseconds: a few keys, derived once.
	params := []Params{Default(), keyed(f, testKey()), keyed(f, [32]byte{1}), keyed(f, [32]byte{2})}
	f.Fuzz(func(t *testing.T, data []byte, keyByte byte, oneByteReads bool) {
		p := params[int(keyByte)%len(params)]
		want := split(t, newSized(bytes.NewReader(data), p, minSize, maxSize, avgBits), data)
		for i, n := range want {
			if n > maxSize || (i < len(want)-1 && n < minSize) {
				t.Fatalf("chunk %d of %d has %d bytes, outside [%d, %d]", i, len(want), n, minSize, maxSize)
			}
		}
		var r io.Reader = iotest.HalfReader(bytes.NewReader(data))
		if oneByteReads {
			r = iotest.OneByteReader(bytes.NewReader(data))
		}
		if got := split(t, newSized(r, p, minSize, maxSize, avgBits), data); !slices.Equal(got, want) {
			t.Fatalf("chunks %v with small reads, %v with whole reads", got, want)
		}
	})
}
