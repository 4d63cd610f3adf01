package engine

import (
	"testing"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/treehash"
)

func TestChooseRange(t *testing.T) {
	const M = 1 << 20
	pack := int64(64*M - 100)
	tests := []struct {
		name          string
		lo, hi, size  int64
		wantOff, want int64 // want 0: the whole object
	}{
		{"inside one leaf", 10, 20, pack, 0, M},
		{"across leaves 1|2: the 4 MiB node, twice the 2 MiB", M - 5 + M, 2*M + 5, pack, 0, 4 * M},
		{"across leaves 3|4: the 8 MiB node is too large", 4*M - 5, 4*M + 5, pack, 3 * M, 2 * M},
		{"across the middle: the node is the root", 32*M - 5, 32*M + 5, pack, 31 * M, 2 * M},
		{"the pack's end", 63*M + 5, pack, pack, 63 * M, pack - 63*M},
		{"members spread over 20 MiB", 3 * M, 23 * M, pack, 3 * M, 20 * M},
		{"half the pack or more: whole", 0, 32 * M, pack, 0, 0},
		{"a 1.5 MiB object: whole", 10, 20, M + M/2, 0, 0},
		{"a 3 MiB object: its first leaf", 10, 20, 3 * M, 0, M},
		{"nothing needed", 5, 5, pack, 0, 0},
		{"out of bounds", 0, pack + 1, pack, 0, 0},
	}
	for _, tt := range tests {
		off, n := chooseRange(tt.lo, tt.hi, tt.size)
		if off != tt.wantOff || n != tt.want {
			t.Errorf("%s: chooseRange(%d, %d, %d) = %d, %d; want %d, %d", tt.name, tt.lo, tt.hi, tt.size, off, n, tt.wantOff, tt.want)
			continue
		}
		if n == 0 {
			continue
		}
		// What Glacier accepts: a megabyte-aligned start, an end aligned
		// or at the archive's end; and the range holds what is needed.
		if off%M != 0 || ((off+n)%M != 0 && off+n != tt.size) || off > tt.lo || off+n < tt.hi || 2*n >= tt.size {
			t.Errorf("%s: range %d+%d is not one to ask Glacier for", tt.name, off, n)
		}
	}
	// A node is taken whenever it is no more than twice the MiB-aligned range.
	if off, n := chooseRange(M-5, M+5, pack); !treehash.RangeAligned(off, n, pack) {
		t.Errorf("across leaves 0|1: %d+%d is not tree-hash aligned", off, n)
	}
}

func TestRetrievesRanges(t *testing.T) {
	for _, tt := range []struct {
		location, class string
		want            bool
	}{
		{"glacier:us-east-1:v", "VAULT", true},
		{"glacier:us-east-1:v", "", true}, // an object of an older catalogue
		{"s3:b/p", "DEEP_ARCHIVE", false},
		{"s3:b/p", "GLACIER", false},
		{"local:/x", "LOCAL", false},
	} {
		cfg := &Config{Target: catalog.Target{Location: tt.location}}
		if got := retrievesRanges(cfg, catalog.Object{Class: tt.class}); got != tt.want {
			t.Errorf("%s, object class %q: ranges %v, want %v", tt.location, tt.class, got, tt.want)
		}
	}
}
