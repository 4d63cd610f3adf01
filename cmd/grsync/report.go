package main

import (
	"fmt"
	"io"
	"time"

	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

// failureJSON is one failed file in a JSON summary.
type failureJSON struct {
	ui.Path
	Error string `json:"error"`
}

// failuresJSON lists failures for JSON (never null).
func failuresJSON(fs []engine.Failure) []failureJSON {
	out := make([]failureJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, failureJSON{Path: ui.NewPath(f.Path), Error: f.Err.Error()})
	}
	return out
}

// writeFailures lists failures for people, one a line, names escaped.
func writeFailures(w io.Writer, fs []engine.Failure) {
	for _, f := range fs {
		fmt.Fprintf(w, "    %s: %s\n", ui.Name(f.Path), ui.Clean(f.Err.Error()))
	}
}

// seconds is a duration in JSON: seconds, to the millisecond.
func seconds(d time.Duration) float64 { return d.Round(time.Millisecond).Seconds() }

// progress returns the progress display for a long operation: JSON lines
// with --json, nothing but errors with --quiet, a live line on a terminal,
// log lines otherwise. action names the command in JSON ("sync",
// "restore"); verb names the work for people ("backing up").
func (a *app) progress(action, verb string) *ui.Progress {
	var p ui.StatusPrinter
	interval := time.Second
	switch {
	case a.json != nil:
		p = ui.NewJSONStatusPrinter(a.json, a.log, action, a.g.jsonProgress)
	case a.g.quiet:
		p, interval = ui.NewQuietPrinter(a.log), time.Minute
	case a.term.IsTerminal():
		b := ui.NewBarPrinter(a.term, a.log)
		b.Verbose = a.g.verbose
		p, interval = b, 200*time.Millisecond
	default:
		interval = 10 * time.Second
		p = ui.NewLogPrinter(a.log, interval)
	}
	return ui.NewProgress(p, verb, interval)
}
