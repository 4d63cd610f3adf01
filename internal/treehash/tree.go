package treehash

import "crypto/sha256"

// TreeHashOfLeaves returns the root of the tree built over the given nodes,
// taken as the bottom level in order: adjacent pairs are hashed together and a
// lone last node is carried up unchanged. With the SHA-256 of each 1 MiB leaf
// as input it returns the tree hash of the data. With no nodes it returns
// SHA-256 of the empty string, the tree hash of zero bytes.
func TreeHashOfLeaves(leaves []Digest) Digest {
	if len(leaves) == 0 {
		return sha256.Sum256(nil)
	}
	level := make([]Digest, len(leaves))
	copy(level, leaves)
	var pair [2 * Size]byte
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				break
			}
			copy(pair[:Size], level[i][:])
			copy(pair[Size:], level[i+1][:])
			next = append(next, sha256.Sum256(pair[:]))
		}
		level = next
	}
	return level[0]
}

// Combine returns the tree hash of an archive from the tree hashes of its
// consecutive parts. Every part but the last must be exactly partSize bytes
// and partSize must be 1 MiB × 2^k (see ValidPartSize): then each part's tree
// hash is a node of the archive's tree, and the archive's tree hash is the
// tree over those nodes. Combine reports false if partSize is not valid.
func Combine(partSize int64, parts []Digest) (Digest, bool) {
	if !ValidPartSize(partSize) {
		return Digest{}, false
	}
	return TreeHashOfLeaves(parts), true
}

// ValidPartSize reports whether n is 1 MiB × 2^k for some k ≥ 0, the part
// sizes whose tree hashes Combine can join. (Glacier further limits part
// sizes to at most 4 GiB.)
func ValidPartSize(n int64) bool {
	return n >= LeafSize && n%LeafSize == 0 && (n/LeafSize)&(n/LeafSize-1) == 0
}

// RangeAligned reports whether the byte range [start, start+length) of data
// of total bytes is tree-hash aligned in AWS's sense: the tree hash of the
// range alone equals a node of the tree of the whole data, so Glacier can
// return a checksum for it. The whole of the data is always aligned; an empty
// or out-of-bounds range never is.
func RangeAligned(start, length, total int64) bool {
	if start < 0 || length <= 0 || total <= 0 || start > total-length {
		return false
	}
	if start == 0 && length == total {
		return true
	}
	if start%LeafSize != 0 {
		return false
	}
	end := start + length
	if end != total && end%LeafSize != 0 {
		return false
	}
	leaves := (total + LeafSize - 1) / LeafSize
	first := start / LeafSize
	last := (end + LeafSize - 1) / LeafSize // one past the range's last leaf
	// A node of level k covers leaves [j·2^k, min((j+1)·2^k, leaves)).
	for span := int64(1); span <= leaves && first%span == 0; span *= 2 {
		if last == min(first+span, leaves) {
			return true
		}
	}
	return false
}

// MiBCover returns the smallest megabyte-aligned range that holds bytes
// [start, start+length) of data of total bytes: it starts at a multiple of
// 1 MiB and ends at one or at the end of the data, as Glacier requires of
// a retrieval range. An empty or out-of-bounds range gives (0, 0).
func MiBCover(start, length, total int64) (int64, int64) {
	if start < 0 || length <= 0 || total <= 0 || start > total-length {
		return 0, 0
	}
	first := start / LeafSize * LeafSize
	end := min((start+length+LeafSize-1)/LeafSize*LeafSize, total)
	return first, end - first
}

// NodeCover returns the smallest tree-hash aligned range (RangeAligned)
// that holds bytes [start, start+length) of data of total bytes: the
// lowest node of the data's tree above every leaf the bytes touch. It may
// be much larger than MiBCover's range (bytes either side of the middle
// of the data need the whole). An empty or out-of-bounds range gives
// (0, 0).
func NodeCover(start, length, total int64) (int64, int64) {
	if start < 0 || length <= 0 || total <= 0 || start > total-length {
		return 0, 0
	}
	first := start / LeafSize
	last := (start + length - 1) / LeafSize // the last leaf touched
	span := int64(1)
	for first/span != last/span {
		span *= 2
	}
	node := first / span * span * LeafSize
	return node, min(node+span*LeafSize, total) - node
}
