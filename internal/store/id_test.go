package store

import (
	"strings"
	"testing"
)

// A dash starts one id in 64 without the check: 10,000 ids would all miss
// it with probability (63/64)^10000, about 1e-69.
func TestNewIDNeverStartsWithDash(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 10000 {
		id := NewID()
		if strings.HasPrefix(id, "-") || len(id) != 43 || seen[id] {
			t.Fatalf("NewID() = %q: a dash first, not 43 characters, or seen before", id)
		}
		seen[id] = true
	}
}
