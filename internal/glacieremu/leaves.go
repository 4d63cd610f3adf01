package glacieremu

import (
	"crypto/sha256"
	"hash"

	"github.com/grsync/grsync/internal/treehash"
)

// leafHasher records the SHA-256 of every 1 MiB leaf of the data written to
// it, and the linear SHA-256 of the whole. Keeping the leaves of every archive
// (32 bytes per MiB) lets the emulator answer the tree hash of any aligned
// range without reading the data again.
type leafHasher struct {
	leaf    hash.Hash
	leafLen int
	linear  hash.Hash
	leaves  []treehash.Digest
	n       int64
}

func newLeafHasher() *leafHasher {
	return &leafHasher{leaf: sha256.New(), linear: sha256.New()}
}

func (h *leafHasher) Write(p []byte) (int, error) {
	h.linear.Write(p)
	n := len(p)
	h.n += int64(n)
	for len(p) > 0 {
		c := min(len(p), treehash.LeafSize-h.leafLen)
		h.leaf.Write(p[:c])
		h.leafLen += c
		p = p[c:]
		if h.leafLen == treehash.LeafSize {
			h.flush()
		}
	}
	return n, nil
}

func (h *leafHasher) flush() {
	var d treehash.Digest
	h.leaf.Sum(d[:0])
	h.leaves = append(h.leaves, d)
	h.leaf.Reset()
	h.leafLen = 0
}

// finish completes the last partial leaf and returns all leaves, the tree
// hash and the linear hash. The hasher must not be written to afterwards.
func (h *leafHasher) finish() (leaves []treehash.Digest, tree, linear treehash.Digest) {
	if h.leafLen > 0 {
		h.flush()
	}
	h.linear.Sum(linear[:0])
	return h.leaves, treehash.TreeHashOfLeaves(h.leaves), linear
}
