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
	"runtime/pprof"
	"syscall"

	"github.com/grsync/grsync/internal/store"
)

// Exit codes, documented in --help.
const (
	exitOK      = 0 // all done
	exitPartial = 1 // some files failed; the rest were done
	exitUsage   = 2 // usage or configuration error; nothing was done
	exitPending = 3 // waiting on cold-storage retrievals; run again later
)

const exitCodeHelp = `Exit codes:
  0  all done
  1  some files failed (the rest were done; the summary lists them)
  2  usage or configuration error (nothing was done)
  3  waiting on cold-storage retrievals (run the same command again later, or add --wait)`

func main() {
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
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one grsync command line and returns its exit code. Signals:
// the first SIGINT/SIGTERM asks the command to stop gracefully (no new
// work; in-flight work finishes; the catalogue is committed; the summary is
// printed); the second cancels everything at once.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "grsync: stopping: finishing the files in flight (press Ctrl-C again to quit at once)")
		close(stop)
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "grsync: quitting now; the catalogue keeps everything finished so far")
		cancel()
	}()

	app := &app{stdin: stdin, stdout: stdout, stderr: stderr, stop: stop}
	root := app.rootCommand()
	root.SetArgs(normalizeArgs(root, args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	code := app.exitCode
	if err != nil {
		code = exitCodeFor(err)
		fmt.Fprintf(stderr, "grsync: %v\n", err)
		var ue *usageError
		var ce *store.ConfigError
		if errors.As(err, &ue) && ue.hint != "" {
			fmt.Fprintf(stderr, "grsync: %s\n", ue.hint)
		} else if errors.As(err, &ce) && ce.Hint != "" {
			fmt.Fprintf(stderr, "grsync: %s\n", ce.Hint)
		}
	}
	return code
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
