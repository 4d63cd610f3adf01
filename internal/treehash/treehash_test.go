package treehash

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// join is SHA-256 of two concatenated nodes, written out independently of the
// package's code so the expected values below do not share its mistakes.
func join(a, b [32]byte) [32]byte {
	return sha256.Sum256(append(a[:], b[:]...))
}

// leafHashes returns SHA-256 of each 1 MiB leaf of data.
func leafHashes(data []byte) [][32]byte {
	var out [][32]byte
	for len(data) > 0 {
		n := min(len(data), LeafSize)
		out = append(out, sha256.Sum256(data[:n]))
		data = data[n:]
	}
	return out
}

func patterned(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestKnownVectors(t *testing.T) {
	// Published vectors from other implementations: the AWS SDK for Go's own
	// test (5.5 MiB of ASCII '0', six leaves, so a lone node is promoted at
	// the second level) and rdwilliamson/aws (1 and 2 MiB of 'a').
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"5.5MiB of '0' (aws-sdk-go-v2)", bytes.Repeat([]byte{'0'}, 5767168),
			"154e26c78fd74d0c2c9b3cc4644191619dc4f2cd539ae2a74d5fd07957a3ee6a"},
		{"1MiB of 'a'", bytes.Repeat([]byte{'a'}, LeafSize),
			"9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360"},
		{"2MiB of 'a'", bytes.Repeat([]byte{'a'}, 2*LeafSize),
			"560c2c9333c719cb00cfdffee3ba293db17f58743cdd1f7e4055373ae6300afa"},
		{"empty", nil,
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"Hello World", []byte("Hello World"),
			"a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sum(tt.data).String(); got != tt.want {
				t.Errorf("Sum = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestShapes(t *testing.T) {
	// Each case spells the tree out by hand.
	data := patterned(7*LeafSize, 7)
	l := leafHashes(data)
	tests := []struct {
		name string
		n    int
		want [32]byte
	}{
		{"0 bytes", 0, sha256.Sum256(nil)},
		{"1 byte", 1, sha256.Sum256(data[:1])},
		{"1 MiB", LeafSize, l[0]},
		{"1 MiB + 1", LeafSize + 1, join(l[0], sha256.Sum256(data[LeafSize:LeafSize+1]))},
		{"2 MiB", 2 * LeafSize, join(l[0], l[1])},
		// Three leaves: the third is carried up unchanged, not re-hashed.
		{"3 MiB", 3 * LeafSize, join(join(l[0], l[1]), l[2])},
		{"5 MiB", 5 * LeafSize, join(join(join(l[0], l[1]), join(l[2], l[3])), l[4])},
		{"7 MiB", 7 * LeafSize, join(join(join(l[0], l[1]), join(l[2], l[3])), join(join(l[4], l[5]), l[6]))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sum(data[:tt.n])
			if got != tt.want {
				t.Errorf("Sum = %s, want %s", got, Digest(tt.want))
			}
			leaves := make([]Digest, 0)
			for _, h := range leafHashes(data[:tt.n]) {
				leaves = append(leaves, h)
			}
			if got := TreeHashOfLeaves(leaves); got != tt.want {
				t.Errorf("TreeHashOfLeaves = %s, want %s", got, Digest(tt.want))
			}
		})
	}
}

func TestRehashingLoneNodeIsWrong(t *testing.T) {
	// The Python fork hashed a lone node again (SHA-256 of it alone). Make
	// sure the 3-leaf result differs from that, so the test above can fail.
	data := patterned(3*LeafSize, 3)
	l := leafHashes(data)
	wrong := join(join(l[0], l[1]), sha256.Sum256(l[2][:]))
	if Sum(data) == Digest(wrong) {
		t.Fatal("tree hash equals the re-hashing variant")
	}
}

func TestStreamingWriteSizes(t *testing.T) {
	data := patterned(5*LeafSize+12345, 11)
	want := Sum(data)
	for _, chunk := range []int{1, 7, 4096, LeafSize - 1, LeafSize, LeafSize + 1, 3 * LeafSize} {
		h := New()
		if chunk == 1 {
			// One byte at a time is slow on 5 MiB; feed only the edges so.
			h.Write(data[:LeafSize-2])
			for _, b := range data[LeafSize-2 : LeafSize+2] {
				h.Write([]byte{b})
			}
			h.Write(data[LeafSize+2:])
		} else {
			for p := data; len(p) > 0; {
				n := min(chunk, len(p))
				h.Write(p[:n])
				p = p[n:]
			}
		}
		if got := h.Digest(); got != want {
			t.Errorf("chunk %d: %s, want %s", chunk, got, want)
		}
		if h.Len() != int64(len(data)) {
			t.Errorf("chunk %d: Len = %d, want %d", chunk, h.Len(), len(data))
		}
	}
}

func TestSumDoesNotDisturbState(t *testing.T) {
	data := patterned(3*LeafSize+10, 5)
	h := New()
	h.Write(data[:LeafSize+5])
	mid := h.Sum(nil)
	if !bytes.Equal(mid, func() []byte { d := Sum(data[:LeafSize+5]); return d[:] }()) {
		t.Fatal("intermediate Sum wrong")
	}
	h.Write(data[LeafSize+5:])
	if h.Digest() != Sum(data) {
		t.Fatal("Sum in the middle changed the final result")
	}
	h.Reset()
	if h.Digest() != Sum(nil) || h.Len() != 0 {
		t.Fatal("Reset did not return to the empty state")
	}
	h.Write(data)
	if h.Digest() != Sum(data) {
		t.Fatal("hash after Reset differs")
	}
	if h.Size() != 32 || h.BlockSize() != LeafSize {
		t.Fatal("Size/BlockSize wrong")
	}
}

func TestCombineEqualsWholeStream(t *testing.T) {
	data := patterned(9*LeafSize+777, 13)
	for _, size := range []int{0, 1, LeafSize, 3 * LeafSize, 8 * LeafSize, len(data)} {
		want := Sum(data[:size])
		for _, partSize := range []int64{LeafSize, 2 * LeafSize, 4 * LeafSize, 8 * LeafSize} {
			var parts []Digest
			for off := 0; off < size; off += int(partSize) {
				parts = append(parts, Sum(data[off:min(off+int(partSize), size)]))
			}
			got, ok := Combine(partSize, parts)
			if !ok {
				t.Fatalf("Combine rejected part size %d", partSize)
			}
			if got != want {
				t.Errorf("part size %d, %d bytes: Combine = %s, whole = %s", partSize, size, got, want)
			}
		}
	}
}

func TestValidPartSize(t *testing.T) {
	valid := []int64{1 << 20, 2 << 20, 4 << 20, 1 << 32}
	invalid := []int64{0, -1, 1, 1<<20 - 1, 3 << 20, 1<<20 + 1, 6 << 20}
	for _, n := range valid {
		if !ValidPartSize(n) {
			t.Errorf("ValidPartSize(%d) = false", n)
		}
	}
	for _, n := range invalid {
		if ValidPartSize(n) {
			t.Errorf("ValidPartSize(%d) = true", n)
		}
		if _, ok := Combine(n, nil); ok {
			t.Errorf("Combine accepted part size %d", n)
		}
	}
}

func TestRangeAligned(t *testing.T) {
	const M = LeafSize
	total := int64(6*M + M/2) // the 6.5 MB archive of AWS's example
	tests := []struct {
		start, length int64
		want          bool
	}{
		{0, total, true},
		{0, M, true},
		{0, 2 * M, true},
		{0, 4 * M, true},
		{0, 3 * M, false},
		{2 * M, 2 * M, true},  // AWS's aligned 2 MB example
		{1 * M, 2 * M, false}, // AWS's unaligned 2 MB example
		{3 * M, M, true},
		{4 * M, total - 4*M, true},  // the right subtree: 2.5 leaves
		{6 * M, M / 2, true},        // the lone last leaf
		{4 * M, 2 * M, true},        // a level-1 node
		{5 * M, total - 5*M, false}, // 1.5 leaves from an odd start
		{M / 2, M, false},           // not MiB aligned
		{0, M + 1, false},           // end not MiB aligned
		{0, total + 1, false},       // past the end
		{0, 0, false},               // empty
	}
	for _, tt := range tests {
		if got := RangeAligned(tt.start, tt.length, total); got != tt.want {
			t.Errorf("RangeAligned(%d, %d, %d) = %v, want %v", tt.start, tt.length, total, got, tt.want)
		}
	}
}

func TestRangeAlignedMatchesTree(t *testing.T) {
	// Property: a range is aligned exactly when its tree hash equals a node of
	// the whole tree. Check every MiB-granular range of small archives.
	data := patterned(9*LeafSize/2, 17) // 4.5 MiB, 5 leaves
	for _, total := range []int{LeafSize, 3 * LeafSize, 7 * LeafSize / 2, len(data)} {
		nodes := allNodes(data[:total])
		leaves := (total + LeafSize - 1) / LeafSize
		for a := 0; a < leaves; a++ {
			for b := a + 1; b <= leaves; b++ {
				start, end := a*LeafSize, min(b*LeafSize, total)
				inTree := nodes[Sum(data[start:end])]
				if got := RangeAligned(int64(start), int64(end-start), int64(total)); got != inTree {
					t.Errorf("total %d, leaves [%d,%d): RangeAligned = %v, node of tree = %v", total, a, b, got, inTree)
				}
			}
		}
	}
}

// allNodes returns every node of data's tree, level by level.
func allNodes(data []byte) map[Digest]bool {
	out := map[Digest]bool{}
	var level []Digest
	for _, l := range leafHashes(data) {
		level = append(level, l)
	}
	for {
		for _, n := range level {
			out[n] = true
		}
		if len(level) <= 1 {
			return out
		}
		var next []Digest
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
			} else {
				next = append(next, join(level[i], level[i+1]))
			}
		}
		level = next
	}
}

func TestParseHex(t *testing.T) {
	d := Sum([]byte("x"))
	got, err := ParseHex(d.String())
	if err != nil || got != d {
		t.Fatalf("round trip: %v %v", got, err)
	}
	upper := []byte(d.String())
	for i := range upper {
		if upper[i] >= 'a' && upper[i] <= 'f' {
			upper[i] -= 'a' - 'A'
		}
	}
	if got, err := ParseHex(string(upper)); err != nil || got != d {
		t.Fatalf("upper case: %v %v", got, err)
	}
	for _, bad := range []string{"", "abc", d.String()[:63], d.String() + "0", "zz" + d.String()[2:]} {
		if _, err := ParseHex(bad); !errors.Is(err, ErrBadHex) {
			t.Errorf("ParseHex(%q) error = %v, want ErrBadHex", bad, err)
		}
	}
}

func FuzzTreeHash(f *testing.F) {
	f.Add([]byte{}, uint32(0), uint16(1))
	f.Add([]byte("hello"), uint32(3*LeafSize), uint16(3))
	f.Add([]byte{0}, uint32(LeafSize+1), uint16(4096))
	f.Fuzz(func(t *testing.T, seed []byte, size uint32, chunk uint16) {
		// The data is seed repeated to size (at most 3 MiB + 1, so up to four
		// leaves and three levels), written in chunks of chunk+1 bytes.
		n := int(size % (3*LeafSize + 2))
		if len(seed) == 0 {
			seed = []byte{0}
		}
		data := bytes.Repeat(seed, n/len(seed)+1)[:n]
		h := New()
		for p := data; len(p) > 0; {
			c := min(int(chunk)+1, len(p))
			h.Write(p[:c])
			p = p[c:]
		}
		var leaves []Digest
		for _, l := range leafHashes(data) {
			leaves = append(leaves, l)
		}
		want := TreeHashOfLeaves(leaves)
		if got := h.Digest(); got != want {
			t.Fatalf("streaming %s != level by level %s (%d bytes)", got, want, n)
		}
		if h.Len() != int64(n) {
			t.Fatalf("Len = %d, want %d", h.Len(), n)
		}
		// Parts of 2 MiB are subtrees: combining their roots gives the root.
		var parts []Digest
		for i := 0; i < len(leaves); i += 2 {
			parts = append(parts, TreeHashOfLeaves(leaves[i:min(i+2, len(leaves))]))
		}
		if got, _ := Combine(2*LeafSize, parts); n > 0 && got != want {
			t.Fatalf("combined %s != whole %s", got, want)
		}
		if d, err := ParseHex(string(seed)); err == nil && d.String() != strings.ToLower(string(seed)) {
			t.Fatalf("ParseHex(%q) = %s", seed, d)
		}
	})
}

func BenchmarkTreeHash(b *testing.B) {
	data := patterned(8*LeafSize, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := New()
		h.Write(data)
		h.Digest()
	}
}

func BenchmarkSHA256(b *testing.B) {
	data := patterned(8*LeafSize, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256.Sum256(data)
	}
}

func TestCovers(t *testing.T) {
	const M = LeafSize
	total := int64(64*M - 100) // a pack just under 64 MiB
	tests := []struct {
		start, length    int64
		mibOff, mibLen   int64
		nodeOff, nodeLen int64
	}{
		{10, 20, 0, M, 0, M},                                                     // inside the first leaf
		{3*M + 5, 100, 3 * M, M, 3 * M, M},                                       // inside leaf 3
		{M - 10, 20, 0, 2 * M, 0, 2 * M},                                         // across leaves 0|1: a level-1 node
		{2*M - 10, 20, M, 2 * M, 0, 4 * M},                                       // across leaves 1|2: a level-2 node
		{32*M - 10, 20, 31 * M, 2 * M, 0, total},                                 // across the middle: the root
		{63*M + 1, total - 63*M - 1, 63 * M, total - 63*M, 63 * M, total - 63*M}, // the short last leaf
		{40 * M, 8 * M, 40 * M, 8 * M, 40 * M, 8 * M},                            // a level-3 node exactly
		{0, 0, 0, 0, 0, 0},                                                       // empty
		{total - 5, 10, 0, 0, 0, 0},                                              // past the end
	}
	for _, tt := range tests {
		if o, n := MiBCover(tt.start, tt.length, total); o != tt.mibOff || n != tt.mibLen {
			t.Errorf("MiBCover(%d, %d) = %d, %d; want %d, %d", tt.start, tt.length, o, n, tt.mibOff, tt.mibLen)
		}
		o, n := NodeCover(tt.start, tt.length, total)
		if o != tt.nodeOff || n != tt.nodeLen {
			t.Errorf("NodeCover(%d, %d) = %d, %d; want %d, %d", tt.start, tt.length, o, n, tt.nodeOff, tt.nodeLen)
		}
		if n > 0 && !RangeAligned(o, n, total) {
			t.Errorf("NodeCover(%d, %d) = %d, %d is not tree-hash aligned", tt.start, tt.length, o, n)
		}
	}
	// Every range of a 7-leaf archive: NodeCover's range is aligned, holds
	// the range, and no smaller aligned range does.
	small := int64(6*M + M/2)
	for s := int64(0); s < small; s += M / 4 {
		for l := int64(M / 4); s+l <= small; l += M / 4 {
			o, n := NodeCover(s, l, small)
			if !RangeAligned(o, n, small) || o > s || o+n < s+l {
				t.Fatalf("NodeCover(%d, %d) = %d, %d", s, l, o, n)
			}
			for a := int64(0); a <= s; a += M {
				for e := s + l; e <= small; e = min(e/M*M+M, small) {
					if e-a < n && RangeAligned(a, e-a, small) {
						t.Fatalf("NodeCover(%d, %d) = %d, %d, but %d, %d is aligned and smaller", s, l, o, n, a, e-a)
					}
					if e == small {
						break
					}
				}
			}
		}
	}
}
