//go:build race

package chunk

// raceEnabled shrinks the largest test inputs: the race detector slows the
// chunker about tenfold, and it has no concurrency to check.
const raceEnabled = true
