package chunk

import (
	"testing"
)

// TestEditsChangeFewChunks: the four edits of docs/DESIGN.md ("Chunking")
// on a 64 MiB random file (8 MiB under the race detector), with and without a key. What a sync would upload
// again is bounded by a few chunks; a fixed-size split would re-upload
// everything after an insertion or a deletion. The bounds are generous (the
// measured costs are in the design document); the inputs are fixed, so the
// results are too.
func TestEditsChangeFewChunks(t *testing.T) {
	limits := map[string]editCost{
		"1 MiB overwritten in the middle": {chunks: 5, bytes: 12 * mib},
		"1 MiB appended":                  {chunks: 3, bytes: MaxSize + mib},
		"1 byte inserted at the start":    {chunks: 3, bytes: 3 * MaxSize / 2},
		"1 byte deleted in the middle":    {chunks: 3, bytes: 3 * MaxSize / 2},
	}
	for _, tc := range []struct {
		name string
		p    Params
	}{{"default", Default()}, {"keyed", keyed(t, testKey())}} {
		costs := editCosts(t, testSize(64*mib), tc.p)
		if len(costs) != len(limits) {
			t.Fatalf("%d edits measured, want %d", len(costs), len(limits))
		}
		for _, c := range costs {
			lim := limits[c.name]
			t.Logf("%s: %s: %d new chunks, %.2f MiB new", tc.name, c.name, c.chunks, float64(c.bytes)/mib)
			if c.chunks < 1 || c.chunks > lim.chunks || c.bytes > lim.bytes {
				t.Errorf("%s: %s: %d new chunks (%d bytes); want 1 to %d chunks, at most %d bytes",
					tc.name, c.name, c.chunks, c.bytes, lim.chunks, lim.bytes)
			}
		}
	}
}
