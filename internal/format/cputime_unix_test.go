//go:build unix

package format

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system, all threads) the test
// process has used: benchmarks report throughput per CPU second as well,
// which other processes sharing the machine do not distort.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
