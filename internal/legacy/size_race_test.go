//go:build race

package legacy

// largeSize is the plaintext size of the bounded-memory tests. The race
// detector slows the pure-Go base64 and test-side generation about tenfold,
// so -race runs check a smaller token; plain runs check 50 MiB.
const largeSize = 12 << 20
