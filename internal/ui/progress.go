// Package ui shows progress to the user: a live progress bar on a terminal
// (files, bytes, rate, ETA and the files in flight), plain log lines when
// the output is not a terminal, and nothing with --quiet.
package ui

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Mode selects how progress is shown.
type Mode int

const (
	ModeQuiet Mode = iota // nothing but errors
	ModeLog               // one log line per finished file, and a periodic summary
	ModeBar               // a live progress bar (terminals)
)

// Progress implements engine.Observer.
type Progress struct {
	mode  Mode
	log   *slog.Logger
	w     io.Writer
	verb  string
	every time.Duration

	mu        sync.Mutex
	bar       *progressbar.ProgressBar
	files     int
	done      int
	bytes     int64
	total     int64
	inFlight  map[string]int64
	lastLog   time.Time
	startTime time.Time
}

// New returns a progress display writing to w (usually stderr). verb names
// the work ("backing up", "restoring").
func New(w io.Writer, mode Mode, log *slog.Logger, verb string) *Progress {
	p := &Progress{mode: mode, log: log, w: w, verb: verb, every: 10 * time.Second,
		inFlight: map[string]int64{}, startTime: time.Now()}
	if mode == ModeBar {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetDescription(verb),
		)
	}
	return p
}

// Found adds work discovered by the walk.
func (p *Progress) Found(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files += files
	p.total += bytes
	if p.bar != nil {
		p.bar.ChangeMax64(max(p.total, 1))
		p.describe()
	}
}

// Start marks a file as in flight.
func (p *Progress) Start(path string, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight[path] = size
	if p.bar != nil {
		p.describe()
	}
}

// Done marks a file as finished with a status.
func (p *Progress) Done(path, status string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.inFlight, path)
	p.done++
	switch {
	case err != nil:
		// Errors are shown whatever the mode.
		if p.bar != nil {
			p.bar.Clear()
		}
		p.log.Error(status, "path", path, "err", err)
	case p.mode == ModeLog:
		p.log.Info(status, "path", path)
	}
	if p.bar != nil {
		p.describe()
	}
}

// Progress counts processed bytes.
func (p *Progress) Progress(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += n
	if p.bar != nil {
		p.bar.Add64(n)
		return
	}
	if p.mode == ModeLog && time.Since(p.lastLog) >= p.every {
		p.lastLog = time.Now()
		el := time.Since(p.startTime).Seconds()
		rate := float64(p.bytes) / max(el, 0.001)
		eta := "unknown"
		if rate > 0 && p.total > p.bytes {
			eta = time.Duration(float64(p.total-p.bytes) / rate * float64(time.Second)).Round(time.Second).String()
		}
		p.log.Info("progress", "files", fmt.Sprintf("%d/%d", p.done, p.files),
			"bytes", fmt.Sprintf("%s/%s", Bytes(p.bytes), Bytes(p.total)),
			"rate", Bytes(int64(rate))+"/s", "eta", eta, "in_flight", len(p.inFlight))
	}
}

// Notice reports a non-error event (skips, retries, waits).
func (p *Progress) Notice(path, msg string) {
	if p.mode == ModeQuiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	p.log.Info(msg, "path", path)
}

// Finish removes the bar before the summary is printed.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Clear()
	}
}

// describe sets the bar's text: files done and the names in flight.
func (p *Progress) describe() {
	names := make([]string, 0, len(p.inFlight))
	for n := range p.inFlight {
		names = append(names, filepath.Base(n))
	}
	sort.Strings(names)
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("+%d", len(names)-3))
	}
	p.bar.Describe(fmt.Sprintf("%s %d/%d files  %s", p.verb, p.done, p.files, strings.Join(names, ", ")))
}

// Bytes formats a byte count with binary units.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
