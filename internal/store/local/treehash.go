package local

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// leafSize is the Glacier tree hash leaf size.
const leafSize = 1 << 20

// treeHasher computes the Glacier SHA-256 tree hash of a stream in O(log n)
// memory. Glacier pairs nodes level by level and promotes a lone last node;
// that equals a binary-counter stack of perfect subtrees folded from the
// right at the end.
//
// TODO: switch to internal/treehash once it exists.
type treeHasher struct {
	leaf   hash.Hash
	inLeaf int  // bytes in the current leaf
	any    bool // a leaf has been completed
	stack  []treeNode
}

type treeNode struct {
	sum   [sha256.Size]byte
	level int
}

func newTreeHasher() *treeHasher { return &treeHasher{leaf: sha256.New()} }

// Write adds p to the stream; it never fails.
func (h *treeHasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), leafSize-h.inLeaf)
		h.leaf.Write(p[:k])
		h.inLeaf += k
		p = p[k:]
		if h.inLeaf == leafSize {
			h.finishLeaf()
		}
	}
	return n, nil
}

func (h *treeHasher) finishLeaf() {
	var nd treeNode
	h.leaf.Sum(nd.sum[:0])
	h.leaf.Reset()
	h.inLeaf = 0
	h.any = true
	h.stack = append(h.stack, nd)
	for len(h.stack) >= 2 {
		a, b := h.stack[len(h.stack)-2], h.stack[len(h.stack)-1]
		if a.level != b.level {
			break
		}
		h.stack = append(h.stack[:len(h.stack)-2], treeNode{sum: pair(a.sum, b.sum), level: a.level + 1})
	}
}

// Sum returns the lower-case hex tree hash of everything written. The
// hasher must not be written to afterwards. An empty stream hashes as one
// empty leaf.
func (h *treeHasher) Sum() string {
	if h.inLeaf > 0 || !h.any {
		h.finishLeaf()
	}
	acc := h.stack[len(h.stack)-1].sum
	for i := len(h.stack) - 2; i >= 0; i-- {
		acc = pair(h.stack[i].sum, acc)
	}
	return hex.EncodeToString(acc[:])
}

func pair(a, b [sha256.Size]byte) [sha256.Size]byte {
	var buf [2 * sha256.Size]byte
	copy(buf[:], a[:])
	copy(buf[sha256.Size:], b[:])
	return sha256.Sum256(buf[:])
}
