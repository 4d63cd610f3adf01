//go:build race

package format

// raceEnabled shrinks the largest test streams: the race detector slows
// compression about tenfold.
const raceEnabled = true
