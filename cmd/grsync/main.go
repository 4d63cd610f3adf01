// Command grsync backs up files and folders to cold storage (Amazon S3
// Glacier vaults, S3 Glacier storage classes, or a local directory store),
// rsync-style: only new and changed files travel, compressed and encrypted
// on this machine first, with a local SQLite catalogue of what went where.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/grsync/grsync/internal/gcpace"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/ui"
)

// Exit codes, documented in --help.
const (
	exitOK      = 0 // all done
	exitPartial = 1 // some files failed; the rest were done
	exitUsage   = 2 // usage or configuration error; nothing was done
	exitPending = 3 // waiting on cold-storage retrievals; run again later
	// A run stopped by a signal exits 128 + the signal's number, as a shell
	// reports a process killed by it: 130 for SIGINT (Ctrl-C), 143 for
	// SIGTERM.
	exitSignal = 128
)

const exitCodeHelp = `Exit codes:
  0    all done
  1    some files failed (the rest were done; the summary lists them)
  2    usage or configuration error (nothing was done)
  3    waiting on cold-storage retrievals (run the same command again later, or add --wait)
  130  stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM: the files in flight were
       finished and recorded first; run the same command again to go on`

func main() {
	// The heap's headroom follows what the collector scans (gcpace), unless
	// the user set GOMEMLIMIT.
	gcpace.Start(os.Getenv("GOMEMLIMIT") != "")
	// GRSYNC_TRACE=FILE writes an execution trace of the run (for
	// developers: go tool trace FILE): where goroutines wait.
	if p := os.Getenv("GRSYNC_TRACE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if trace.Start(f) == nil {
				code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
				trace.Stop()
				f.Close()
				os.Exit(code)
			}
		}
	}
	// GRSYNC_CPUPROFILE=FILE writes a CPU profile of the run (for developers:
	// go tool pprof grsync FILE).
	if p := os.Getenv("GRSYNC_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	// GRSYNC_MEMPROFILE=FILE writes a heap profile taken when the heap in
	// use was at its largest (sampled every 50 ms; for developers: go tool
	// pprof -sample_index=inuse_space grsync FILE).
	if p := os.Getenv("GRSYNC_MEMPROFILE"); p != "" {
		stop := peakHeapProfile(p)
		code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// peakHeapProfile samples the heap in use every 50 ms and writes a heap
// profile to path each time it is larger than ever before; stop ends it.
func peakHeapProfile(path string) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var peak, sys uint64
		defer func() {
			fmt.Fprintf(os.Stderr, "grsync memory: peak heap in use %d MiB, peak memory from the OS for Go %d MiB\n", peak>>20, sys>>20)
		}()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			sys = max(sys, ms.Sys-ms.HeapReleased)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
				if f, err := os.Create(path); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-ended }
}

// run executes one grsync command line and returns its exit code. Signals:
// the first SIGINT/SIGTERM asks the command to stop gracefully (no new
// work; in-flight work finishes; the catalogue is committed; the summary is
// printed) and makes the exit code 128 + the signal's number; the second
// cancels everything at once.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	term := ui.NewTerminal(stderr, terminalWidth(stderr))
	stop := make(chan struct{})
	var caught atomic.Int32 // the first signal's number
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-ctx.Done():
			return
		}
		if s, ok := sig.(syscall.Signal); ok {
			caught.Store(int32(s))
		}
		term.Message("grsync: stopping: finishing the files in flight (press Ctrl-C again to quit at once)")
		close(stop)
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		term.Message("grsync: quitting now; the catalogue keeps everything finished so far")
		cancel()
	}()

	app := &app{stdin: stdin, stdout: stdout, stderr: term, term: term, stop: stop}
	root := app.rootCommand()
	norm, err := normalizeArgs(root, args)
	if err == nil {
		root.SetArgs(norm)
		root.SetIn(stdin)
		root.SetOut(stdout)
		root.SetErr(term)
		err = root.ExecuteContext(ctx)
	}
	code := app.exitCode
	if err != nil {
		code = exitCodeFor(err)
		hint := ""
		var ue *usageError
		var ce *store.ConfigError
		if errors.As(err, &ue) {
			hint = ue.hint
		} else if errors.As(err, &ce) {
			hint = ce.Hint
		}
		fmt.Fprintf(term, "grsync: %s\n", ui.Clean(err.Error()))
		if hint != "" {
			fmt.Fprintf(term, "grsync: %s\n", ui.Clean(hint))
		}
		if app.json != nil {
			app.json.Write("exit_error", exitErrorMessage{Code: code, Error: err.Error(), Hint: hint})
		}
	}
	if s := caught.Load(); s != 0 {
		code = exitSignal + int(s)
	}
	return code
}

// exitErrorMessage is the last JSON line of a command that failed as a
// whole (with --json).
type exitErrorMessage struct {
	Code  int    `json:"code"`
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

// terminalWidth returns a function reading w's width in columns when w is
// a terminal, else nil.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	fd := int(f.Fd())
	return func() int {
		cols, _, err := term.GetSize(fd)
		if err != nil {
			return 0
		}
		return cols
	}
}

// usageError is a mistake in the command line or configuration: exit 2,
// nothing done. hint says how to fix it.
type usageError struct {
	err  error
	hint string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(hint, format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...), hint: hint}
}

func asUsage(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &usageError{err: err, hint: hint}
}

// exitCodeFor maps an error returned by a command to an exit code: usage
// and configuration errors are 2, anything else that stopped the command
// before it finished is 1.
func exitCodeFor(err error) int {
	var ue *usageError
	var ce *store.ConfigError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return exitUsage
	}
	return exitPartial
}
