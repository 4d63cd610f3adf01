package local

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// levelByLevel is Glacier's tree hash computed as AWS documents it: hash
// 1 MiB leaves, then pair neighbours level by level, promoting a lone last
// node.
func levelByLevel(data []byte) string {
	var level [][sha256.Size]byte
	for i := range max(1, (len(data)+leafSize-1)/leafSize) {
		level = append(level, sha256.Sum256(data[i*leafSize:min((i+1)*leafSize, len(data))]))
	}
	for len(level) > 1 {
		var next [][sha256.Size]byte
		for i := 0; i+1 < len(level); i += 2 {
			next = append(next, pair(level[i], level[i+1]))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	return hex.EncodeToString(level[0][:])
}

func streamHash(data []byte, splits []int) string {
	h := newTreeHasher()
	for _, n := range splits {
		n = min(n, len(data))
		h.Write(data[:n])
		data = data[n:]
	}
	h.Write(data)
	return h.Sum()
}

func TestTreeHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 9*leafSize+7)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if got, want := streamHash(nil, nil), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("empty stream: %s, want SHA-256 of nothing %s", got, want)
	}
	for _, size := range []int{1, 1000, leafSize - 1, leafSize} {
		sum := sha256.Sum256(data[:size])
		if got := streamHash(data[:size], nil); got != hex.EncodeToString(sum[:]) {
			t.Errorf("%d bytes (one leaf): %s, want its plain SHA-256", size, got)
		}
	}
	for _, size := range []int{leafSize + 1, 2 * leafSize, 3*leafSize + 1, 4 * leafSize, 5*leafSize - 1, 6 * leafSize, 7*leafSize + 3, 8 * leafSize, len(data)} {
		want := levelByLevel(data[:size])
		splits := []int{rng.IntN(leafSize * 2), 1, rng.IntN(leafSize), 0, leafSize}
		if got := streamHash(data[:size], splits); got != want {
			t.Errorf("%d bytes: %s, want %s", size, got, want)
		}
	}
}

func FuzzTreeHash(f *testing.F) {
	f.Add([]byte("abc"), uint16(1), uint16(2), uint8(0))
	f.Add([]byte{}, uint16(0), uint16(0), uint8(3))
	f.Fuzz(func(t *testing.T, seed []byte, a, b uint16, leaves uint8) {
		// Stretch the seed over up to 10 leaves so trees of every shape occur,
		// with small-leaf-unit reads of arbitrary split points.
		size := int(leaves%10)*leafSize + len(seed)
		data := make([]byte, size)
		for i := range data {
			if len(seed) > 0 {
				data[i] = seed[i%len(seed)] + byte(i/leafSize)
			}
		}
		splits := []int{int(a) * 17, int(b) * 31}
		if got, want := streamHash(data, splits), levelByLevel(data); got != want {
			t.Fatalf("%d bytes, splits %v: %s, want %s", size, splits, got, want)
		}
	})
}
