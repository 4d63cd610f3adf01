package engine

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/grsync/grsync/internal/catalog"
)

// contentKey is a content hash (keyed when encrypting), as a map key.
type contentKey [32]byte

func (k contentKey) hex() string { return hex.EncodeToString(k[:]) }

// stored is content the target holds or is storing in this run: a blob,
// and the pack it is being written to (nil once committed).
type stored struct {
	blob *catalog.Blob
	pack *pack
}

// contentIndex finds content already stored, so it is never stored twice:
// first among the blobs of this run's packs (not committed yet), then in the
// catalogue. A worker that misses claims the hash until it has stored the
// content (or given up), so two files with the same content found at once
// are stored once. The catalogue is asked only about content that may be
// in it: of a size some blob had when the run began, or committed by this
// run (known by the first 8 bytes of its hash, so a run of a million new
// files keeps about 40 MB for them); a first backup, and most new content
// of later ones, cost no lookup. Safe for concurrent use.
type contentIndex struct {
	cat    *catalog.Catalog
	target int64
	sizes  []int64 // sorted: the sizes of the target's blobs when the run began

	mu     sync.Mutex
	run    map[contentKey]stored        // blobs of packs not committed yet
	claims map[contentKey]chan struct{} // content being stored by a worker
	added  map[uint64]struct{}          // blobs committed since the run began, by hash prefix
}

func newContentIndex(cat *catalog.Catalog, target int64) (*contentIndex, error) {
	x := &contentIndex{cat: cat, target: target, run: map[contentKey]stored{}, claims: map[contentKey]chan struct{}{}, added: map[uint64]struct{}{}}
	if cat != nil {
		var err error
		if x.sizes, err = cat.BlobSizes(target); err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
	}
	return x, nil
}

// mayHold reports whether the catalogue may hold content k of size
// bytes. Call with x.mu held.
func (x *contentIndex) mayHold(k contentKey, size int64) bool {
	if _, ok := slices.BinarySearch(x.sizes, size); ok {
		return true
	}
	_, ok := x.added[k.prefix()]
	return ok
}

// prefix is the first 8 bytes of k.
func (k contentKey) prefix() uint64 { return binary.LittleEndian.Uint64(k[:8]) }

// find returns where content k, of size bytes, is stored. When it is not,
// the caller holds a claim on k and must call publish or release.
func (x *contentIndex) find(k contentKey, size int64) (stored, bool, error) {
	for {
		x.mu.Lock()
		if s, ok := x.run[k]; ok {
			x.mu.Unlock()
			return s, true, nil
		}
		if ch, ok := x.claims[k]; ok {
			x.mu.Unlock()
			<-ch
			continue
		}
		ch := make(chan struct{})
		x.claims[k] = ch
		ask := x.cat != nil && x.mayHold(k, size)
		x.mu.Unlock()
		if !ask {
			return stored{}, false, nil
		}
		b, ok, err := x.cat.FindBlob(x.target, k.hex())
		if err != nil {
			x.release(k)
			return stored{}, false, fmt.Errorf("catalogue lookup: %w", err)
		}
		if ok {
			x.release(k)
			return stored{blob: &b}, true, nil
		}
		return stored{}, false, nil
	}
}

// publish ends the caller's claim on k: the content is in s.
func (x *contentIndex) publish(k contentKey, s stored) {
	x.mu.Lock()
	x.run[k] = s
	ch := x.claims[k]
	delete(x.claims, k)
	x.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// release ends the caller's claim on k without storing it: a waiting
// worker looks again (and claims it itself).
func (x *contentIndex) release(k contentKey) {
	x.mu.Lock()
	ch := x.claims[k]
	delete(x.claims, k)
	x.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// settle forgets the run's entries for the blobs of p: once p is committed
// (committed true) the catalogue finds them; if it failed, the content
// must be stored anew.
func (x *contentIndex) settle(p *pack, keys []contentKey, committed bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, k := range keys {
		if s, ok := x.run[k]; ok && s.pack == p {
			delete(x.run, k)
			if committed {
				x.added[k.prefix()] = struct{}{}
			}
		}
	}
}
