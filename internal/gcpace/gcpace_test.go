package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// 64 MiB of byte buffers (nothing to scan) get Floor of headroom, not
// GOGC's 64 MiB more: the limit stays under twice the live heap.
func TestLimitOfBuffers(t *testing.T) {
	keep := make([][]byte, 64)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	limit, ok := Limit(Samples())
	runtime.KeepAlive(keep)
	if !ok {
		t.Fatal("a runtime metric is missing")
	}
	if limit < 64<<20+Floor || limit >= 2*64<<20 {
		t.Errorf("limit %d MiB with 64 MiB of buffers live, want at least %d and under 128", limit>>20, (64<<20+Floor)>>20)
	}
}

// A heap of pointers the collector must scan gets no limit: GOGC's headroom.
func TestLimitOfPointers(t *testing.T) {
	type node struct {
		next *node
		pad  [6]*int
	}
	var head *node
	for range 1 << 20 { // ~56 MiB of pointers
		head = &node{next: head}
	}
	runtime.GC()
	limit, ok := Limit(Samples())
	runtime.KeepAlive(head)
	if !ok {
		t.Fatal("a runtime metric is missing")
	}
	if limit != math.MaxInt64 {
		t.Errorf("limit %d MiB with ~56 MiB of pointers live, want none (GOGC's headroom)", limit>>20)
	}
}

// Start sets the limit after collections.
func TestStartSetsTheLimit(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	keep := make([][]byte, 64) // a heap of buffers
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	defer runtime.KeepAlive(keep)
	Start(false)
	deadline := time.Now().Add(30 * time.Second)
	for debug.SetMemoryLimit(-1) == math.MaxInt64 {
		if time.Now().After(deadline) {
			t.Fatal("no memory limit was set after collections")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := debug.SetMemoryLimit(-1); got < Floor {
		t.Errorf("limit %d, want at least Floor", got)
	}
}
