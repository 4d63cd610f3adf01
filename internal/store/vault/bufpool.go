package vault

import (
	"sync"
	"sync/atomic"
)

// bufPools recycles part and chunk buffers, one pool per size, so that a
// run of Puts does not allocate PartSize bytes per part. How many buffers a
// Put holds at once is bounded by Put itself, not by the pool; the pools
// count the buffers handed out (and the most at once) so tests can check
// that bound.
type bufPools struct {
	mu    sync.Mutex
	pools map[int]*sync.Pool

	out  atomic.Int64 // buffers handed out and not yet returned
	peak atomic.Int64 // the most buffers out at once
}

func newBufPools() *bufPools {
	return &bufPools{pools: make(map[int]*sync.Pool)}
}

func (b *bufPools) pool(size int) *sync.Pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.pools[size]
	if !ok {
		p = &sync.Pool{New: func() any {
			buf := make([]byte, size)
			return &buf
		}}
		b.pools[size] = p
	}
	return p
}

// get returns a buffer of exactly size bytes.
func (b *bufPools) get(size int) []byte {
	n := b.out.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return *b.pool(size).Get().(*[]byte)
}

// put returns a buffer obtained from get (of any length up to its
// capacity) to its pool.
func (b *bufPools) put(buf []byte) {
	b.out.Add(-1)
	buf = buf[:cap(buf)]
	b.pool(len(buf)).Put(&buf)
}
