package catalog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes the test binary act as a second grsync process (see helper).
const helperEnv = "GRSYNC_CATALOG_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Getenv("GRSYNC_CATALOG_PATH")))
	}
	os.Exit(m.Run())
}

// helper runs one scripted action on the catalogue at path in this process
// and returns the exit code. Modes:
//
//	hold-lock        open, print "ready", wait for stdin to close
//	crash-in-record  open, then die (exit 7) inside Record before its commit
//	crash-in-migrate die (exit 7) inside the migration before its commit
func helper(mode, path string) int {
	switch mode {
	case "hold-lock":
		c, err := Open(path, OpenOptions{})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		c.Close()
		return 0
	case "crash-in-record":
		c, err := Open(path, OpenOptions{})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		tg, err := c.EnsureTarget("local:/backup")
		if err != nil {
			fmt.Println(err)
			return 1
		}
		c.hooks.beforeCommit = func() error { os.Exit(7); return nil }
		_, err = c.Record(Version{TargetID: tg.ID, Path: "/crash/me", ArchiveID: "a1"})
		fmt.Println("record returned:", err)
		return 1
	case "crash-in-migrate":
		_, err := open(path, OpenOptions{}, testHooks{beforeCommit: func() error { os.Exit(7); return nil }})
		fmt.Println("open returned:", err)
		return 1
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}

// startHelper runs the test binary as a helper on path.
func startHelper(t *testing.T, mode, path string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GRSYNC_CATALOG_PATH="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, stdin, bufio.NewReader(stdout)
}

// runHelper runs a helper to completion and returns its exit code and output.
func runHelper(t *testing.T, mode, path string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GRSYNC_CATALOG_PATH="+path)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out))
}
