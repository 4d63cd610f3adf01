// Package treehash computes the SHA-256 tree hash that Amazon S3 Glacier
// (vaults) uses to check archive integrity.
//
// The algorithm, as AWS defines it: split the data into 1 MiB leaves (the last
// one may be shorter) and hash each with SHA-256. Then, level by level, hash
// the concatenation of each pair of adjacent nodes. A node left without a
// partner at the end of a level is carried up to the next level unchanged: it
// is NOT hashed again (the Python glacier-rsync fork re-hashed it, which gives
// a different, wrong, value for every archive whose leaf count is not a power
// of two). The single node that remains is the tree hash. Data of zero bytes
// hashes to SHA-256 of the empty string.
//
// Because a part of 1 MiB × 2^k bytes that starts at a multiple of its own size
// covers exactly one node of the whole archive's tree, the tree hashes of the
// parts of a multipart upload combine into the archive's tree hash (Combine).
package treehash

import (
	"crypto/sha256"
	"hash"
)

// LeafSize is the size of one leaf of the tree: 1 MiB.
const LeafSize = 1 << 20

// Size is the length of a tree hash in bytes.
const Size = sha256.Size

// Hash computes a tree hash over the bytes written to it. It implements
// hash.Hash. Memory use is bounded: one SHA-256 state plus one pending node per
// level of the tree (at most 64).
//
// The zero value is not usable; call New.
type Hash struct {
	leaf     hash.Hash      // hashes the current, incomplete leaf
	leafLen  int            // bytes in the current leaf
	total    int64          // bytes written since the last Reset
	pending  [64]Digest     // pending[l]: a finished node of level l waiting for its right sibling
	occupied uint64         // bit l set when pending[l] holds a node
	pair     [2 * Size]byte // scratch for hashing two nodes
}

var _ hash.Hash = (*Hash)(nil)

// New returns a Hash ready for writing.
func New() *Hash {
	return &Hash{leaf: sha256.New()}
}

// Write adds p to the data being hashed. It never returns an error.
func (h *Hash) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := LeafSize - h.leafLen
		chunk := p
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		h.leaf.Write(chunk)
		h.leafLen += len(chunk)
		h.total += int64(len(chunk))
		p = p[len(chunk):]
		if h.leafLen == LeafSize {
			h.pushLeaf()
		}
	}
	return n, nil
}

// pushLeaf finishes the current leaf and adds it to the tree, merging it with
// pending nodes the way a binary counter carries.
func (h *Hash) pushLeaf() {
	var node Digest
	h.leaf.Sum(node[:0])
	h.leaf.Reset()
	h.leafLen = 0
	level := 0
	for h.occupied&(1<<level) != 0 {
		node = h.join(h.pending[level], node)
		h.occupied &^= 1 << level
		level++
	}
	h.pending[level] = node
	h.occupied |= 1 << level
}

// join returns SHA-256(left || right).
func (h *Hash) join(left, right Digest) Digest {
	copy(h.pair[:Size], left[:])
	copy(h.pair[Size:], right[:])
	return sha256.Sum256(h.pair[:])
}

// Digest returns the tree hash of the data written so far. It does not change
// the state of h, so writing may continue afterwards.
func (h *Hash) Digest() Digest {
	if h.total == 0 {
		return sha256.Sum256(nil)
	}
	var acc Digest
	have := false
	if h.leafLen > 0 {
		// The leaf state is copied so that h stays writable.
		h.leaf.Sum(acc[:0])
		have = true
	}
	// Pending nodes, lowest level first, are the right edge of the tree. A
	// node with no partner on its level travels up unchanged and joins the
	// first pending node found higher up, as its right child.
	for level := 0; level < len(h.pending); level++ {
		if h.occupied&(1<<level) == 0 {
			continue
		}
		if !have {
			acc = h.pending[level]
			have = true
			continue
		}
		acc = h.join(h.pending[level], acc)
	}
	return acc
}

// Sum appends the tree hash of the data written so far to b and returns the
// result. It does not change the state of h.
func (h *Hash) Sum(b []byte) []byte {
	d := h.Digest()
	return append(b, d[:]...)
}

// Reset discards all data written so far.
func (h *Hash) Reset() {
	h.leaf.Reset()
	h.leafLen = 0
	h.total = 0
	h.occupied = 0
}

// Size returns the number of bytes Sum appends: 32.
func (h *Hash) Size() int { return Size }

// BlockSize returns the leaf size. Writes of whole multiples of it are the
// most efficient, though any size works.
func (h *Hash) BlockSize() int { return LeafSize }

// Len returns the number of bytes written since New or the last Reset.
func (h *Hash) Len() int64 { return h.total }

// Sum returns the tree hash of data.
func Sum(data []byte) Digest {
	h := New()
	h.Write(data)
	return h.Digest()
}
