// Package tools guards tests that need standard command-line tools (age,
// zstd, tar): they skip loudly when a tool is missing, and fail instead
// when GRSYNC_REQUIRE_TOOLS=1, which CI sets after installing them.
package tools

import (
	"os"
	"os/exec"
	"testing"
)

// Require skips or fails t unless every named tool is on PATH.
func Require(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("GRSYNC_REQUIRE_TOOLS") == "1" {
				t.Fatalf("%s is not on PATH and GRSYNC_REQUIRE_TOOLS=1", n)
			}
			t.Skipf("SKIPPED: %s is not on PATH, so this was NOT checked against the standard tools; "+
				"install them (apt-get install -y age zstd) or set GRSYNC_REQUIRE_TOOLS=1 to make this fatal", n)
		}
	}
}
