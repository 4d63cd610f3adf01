//go:build !race

package legacy

// largeSize is the plaintext size of the bounded-memory tests.
const largeSize = 50 << 20
