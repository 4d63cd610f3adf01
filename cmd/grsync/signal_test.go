package main

import (
	"bufio"
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSync starts a slow sync (one file at a time) and returns once the
// first file has been uploaded.
func startSync(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer, chan error) {
	t.Helper()
	cmd := exec.Command(grsyncBin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "msg=uploaded") {
				seen = true
				close(first)
			}
		}
		if !seen {
			close(first)
		}
		done <- cmd.Wait()
	}()
	select {
	case <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("the sync did not start uploading")
	}
	return cmd, &out, done
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func manyFiles(t *testing.T, src string, n, size int) {
	t.Helper()
	for i := 0; i < n; i++ {
		writeFile(t, filepath.Join(src, "f"+strconv.Itoa(i)+".bin"), randomBytes(t, size), time.Unix(1700000000+int64(i), 0))
	}
}

func TestSigintOnceStopsGracefully(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	manyFiles(t, src, 150, 200<<10)
	key := newKey(t, dir)
	args := []string{"--local-store", "st", "--encryption-key-file", key, "--jobs", "1", "--pack-size", "1M", src}
	cmd, out, done := startSync(t, dir, args...)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("grsync did not stop after SIGINT")
	}
	if code := exitCode(err); code != 130 || !strings.Contains(out.String(), "interrupted") {
		t.Fatalf("one SIGINT: want exit 130 and an interrupted summary, got exit %d:\n%s", code, out)
	}
	// The catalogue is consistent: the next run finishes the job and the
	// restore is complete and identical.
	r := mustRun(t, dir, 0, args...)
	if strings.Contains(r.stdout, "uploaded      0 files") {
		t.Errorf("the second run should upload what the first left:\n%s", r)
	}
	mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", "out")
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
}

func TestSigintTwiceQuitsAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	manyFiles(t, src, 60, 2<<20)
	key := newKey(t, dir)
	args := []string{"--local-store", "st", "--encryption-key-file", key, "--jobs", "2", src}
	cmd, _, done := startSync(t, dir, args...)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("grsync did not quit after a second SIGINT")
	}
	mustRun(t, dir, 0, args...)
	mustRun(t, dir, 0, "restore", "--encryption-key-file", key, "--output", "out")
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
	// No upload was left behind in the store.
	r := mustRun(t, dir, 0, "uploads", "list")
	if !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Errorf("an interrupted run left uploads behind:\n%s", r)
	}
}
