// Package gcpace keeps the heap's headroom in proportion to what the
// collector must scan, not to everything that is live.
//
// Go's default (GOGC=100) lets the heap grow to twice its live size before
// a collection. Much of what grsync holds while it moves data is byte
// buffers (parts, chunks, zstd histories) that the collector never scans:
// doubling them costs memory and saves no collector time. After every
// collection, Start sets the soft memory limit to the live heap, plus the
// larger of Floor and ScanFactor times the heap the collector scans, plus
// the runtime's memory outside the heap, when the scanned heap is less than
// a ScanFactor-th of the live heap; otherwise no limit. A heap mostly of
// pointers (a sync's catalogue states) so keeps GOGC's headroom, while a
// heap mostly of buffers (a big file's backup, an upload in big parts)
// collects earlier, which costs little: a collection's work is the
// scanned heap, and the headroom is still ScanFactor times that. A limit
// also makes the runtime give free memory back to the system sooner.
package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// Floor is the least headroom over the live heap.
const Floor = 32 << 20

// ScanFactor is the headroom per byte the collector scans. With GOGC=100
// the headroom is the live heap, at least the scanned heap. Measured on a
// first sync of 100,000 files (2 cores), a limit of the live heap plus the
// scanned heap took 15-25% more CPU than GOGC, and plus 4 times the
// scanned heap still 5-12% more (as many collections: the limit made the
// runtime return and fault memory back): so no limit there at all.
const ScanFactor = 4

// Samples returns the metrics Limit reads, in its order.
func Samples() []metrics.Sample {
	names := []string{
		"/gc/heap/live:bytes",             // the live heap
		"/gc/scan/heap:bytes",             // the part of it the collector scans
		"/memory/classes/total:bytes",     // all the runtime holds, of which the heap's:
		"/memory/classes/heap/free:bytes", // free, objects, released, unused
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/released:bytes",
		"/memory/classes/heap/unused:bytes",
	}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	return s
}

// Start installs the pacing for the rest of the process. It does nothing
// when userLimit is set (the user's GOMEMLIMIT wins). Call it once, from
// main.
func Start(userLimit bool) {
	if userLimit {
		return
	}
	samples := Samples()
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&tick{}, func(*tick) {
			if limit, ok := Limit(samples); ok {
				debug.SetMemoryLimit(limit)
			}
			arm()
		})
	}
	arm()
}

// Limit reads samples (from Samples) and returns the memory limit they
// call for, or false when a metric is missing.
func Limit(samples []metrics.Sample) (int64, bool) {
	metrics.Read(samples)
	v := make([]uint64, len(samples))
	for i, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return 0, false
		}
		v[i] = s.Value.Uint64()
	}
	live, scan, total := v[0], v[1], v[2]
	heap := v[3] + v[4] + v[5] + v[6]
	if live == 0 || total < heap {
		return 0, false
	}
	if ScanFactor*scan >= live {
		// A heap of pointers: GOGC's headroom (the live heap) is at most
		// ScanFactor times the scanned heap already; no limit.
		return math.MaxInt64, true
	}
	limit := live + max(Floor, ScanFactor*scan) + (total - heap)
	return int64(min(limit, math.MaxInt64/2)), true
}

// tick is collected by every collection, so its finalizer runs after each
// one. Not zero-sized: those are never freed.
type tick struct{ _ [16]byte }
