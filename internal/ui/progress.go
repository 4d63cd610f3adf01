// Package ui shows grsync's work to people and to scripts. Progress counts
// what the engine reports (it implements engine.Observer) and hands
// snapshots and events to a StatusPrinter: a live line on a terminal
// (BarPrinter), log lines when stderr is not a terminal (LogPrinter), JSON
// lines for scripts (JSONStatusPrinter), or errors only (QuietPrinter).
// Command results (summaries, listings) go through an Output: text or JSON
// lines. Every name printed is escaped (Name, Clean).
package ui

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Status is a snapshot of a long operation.
type Status struct {
	Verb      string // "backing up", "restoring"
	FilesDone int    // files finished (failed ones included)
	Files     int    // files to do: final unless Scanning
	Failed    int
	BytesDone int64 // content bytes of the files done, and an estimate for those in flight
	Bytes     int64 // content bytes to do: final unless Scanning
	// Scanning: the sources are still being walked, so Files and Bytes
	// are what was found so far.
	Scanning bool
	InFlight []string // paths being worked on, sorted
	Elapsed  time.Duration
	Rate     float64       // bytes per second over the last seconds
	ETA      time.Duration // < 0 when unknown (still scanning, or no rate yet)
}

// StatusPrinter shows a long operation's progress.
type StatusPrinter interface {
	// Status shows a snapshot; called every interval, and once more with
	// final set just before Close.
	Status(s Status, final bool)
	// FileDone reports one finished file: its status ("uploaded",
	// "deduplicated", "unchanged", "restored", "vanished", "failed") and
	// error.
	FileDone(path, status string, err error)
	// Notice reports something that is not an error (a skipped symlink, a
	// retry, a pending retrieval).
	Notice(path, msg string)
	// Close removes any live display.
	Close()
}

// Progress implements engine.Observer: it counts the events and passes
// them, and a Status every interval, to a StatusPrinter.
type Progress struct {
	p     StatusPrinter
	verb  string
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu       sync.Mutex
	files    int
	done     int
	failed   int
	bytes    int64
	finished int64 // bytes of the files done
	partial  int64 // bytes reported for the files in flight (an estimate)
	scanning bool  // the engine's walk goes on
	counted  bool  // a separate count gave the totals
	cFiles   int
	cBytes   int64
	inFlight map[string]int64
	samples  []sample // recent (time, bytes done), for the rate
}

type sample struct {
	t time.Time
	b int64
}

// NewProgress starts reporting to p every interval (a first Status comes
// at once). verb names the work ("backing up", "restoring"). Call Finish
// when the work is over.
func NewProgress(p StatusPrinter, verb string, interval time.Duration) *Progress {
	pr := &Progress{p: p, verb: verb, start: time.Now(), stop: make(chan struct{}),
		scanning: true, inFlight: map[string]int64{}}
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-pr.stop:
				return
			case <-t.C:
				pr.p.Status(pr.Snapshot(), false)
			}
		}
	}()
	return pr
}

// Found adds work discovered by the walk (or, for a restore, the whole plan).
func (pr *Progress) Found(files int, bytes int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.files += files
	pr.bytes += bytes
}

// Counted gives the totals a separate count of the work found (see
// engine.CountWork) before the engine's own walk, which advances only as
// files are done, has found them all. Until the walk ends the total shown
// is the larger of the two (files may appear meanwhile); after it, the
// walk's.
func (pr *Progress) Counted(files int, bytes int64) {
	pr.mu.Lock()
	pr.counted, pr.cFiles, pr.cBytes = true, files, bytes
	pr.mu.Unlock()
	pr.p.Status(pr.Snapshot(), false)
}

// Scanned says the walk is over: the totals are final.
func (pr *Progress) Scanned() {
	pr.mu.Lock()
	pr.scanning = false
	pr.mu.Unlock()
	pr.p.Status(pr.Snapshot(), false)
}

// Start marks a file as in flight.
func (pr *Progress) Start(path string, size int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.inFlight[path] = size
}

// Done marks a file as finished. A failure for a path that was never
// started (a folder the walk could not read) counts as failed, not done.
func (pr *Progress) Done(path, status string, err error) {
	pr.mu.Lock()
	if size, ok := pr.inFlight[path]; ok {
		delete(pr.inFlight, path)
		pr.done++
		pr.finished += size
		// The bytes reported while it was in flight were (up to its size)
		// its own.
		pr.partial = max(0, pr.partial-size)
	}
	if err != nil {
		pr.failed++
	}
	pr.mu.Unlock()
	pr.p.FileDone(path, status, err)
}

// Progress counts bytes processed for the files in flight.
func (pr *Progress) Progress(n int64) {
	pr.mu.Lock()
	pr.partial += n
	pr.mu.Unlock()
}

// Notice passes a message on.
func (pr *Progress) Notice(path, msg string) { pr.p.Notice(path, msg) }

// Snapshot returns the current Status.
func (pr *Progress) Snapshot() Status {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	now := time.Now()
	var inFlightBytes int64
	names := make([]string, 0, len(pr.inFlight))
	for p, n := range pr.inFlight {
		names = append(names, p)
		inFlightBytes += n
	}
	sort.Strings(names)
	s := Status{
		Verb: pr.verb, FilesDone: pr.done, Files: pr.files, Failed: pr.failed,
		BytesDone: pr.finished + min(pr.partial, inFlightBytes), Bytes: pr.bytes,
		Scanning: pr.scanning, InFlight: names, Elapsed: now.Sub(pr.start), ETA: -1,
	}
	if pr.scanning && pr.counted {
		s.Scanning = false
		s.Files, s.Bytes = max(s.Files, pr.cFiles), max(s.Bytes, pr.cBytes)
	}
	// The rate over the last 10 seconds (since the start, early on).
	pr.samples = append(pr.samples, sample{now, s.BytesDone})
	for len(pr.samples) > 2 && now.Sub(pr.samples[1].t) > 10*time.Second {
		pr.samples = pr.samples[1:]
	}
	first := sample{pr.start, 0}
	if now.Sub(pr.start) > 10*time.Second {
		first = pr.samples[0]
	}
	if dt := now.Sub(first.t).Seconds(); dt > 0.2 {
		s.Rate = float64(s.BytesDone-first.b) / dt
	}
	if !s.Scanning && s.Rate > 0 && s.Bytes >= s.BytesDone {
		s.ETA = time.Duration(float64(s.Bytes-s.BytesDone) / s.Rate * float64(time.Second))
	}
	if !s.Scanning && s.FilesDone >= s.Files {
		s.ETA = 0
	}
	return s
}

// Finish stops the updates, shows the final status and removes any live
// display; the summary comes after it.
func (pr *Progress) Finish() {
	pr.once.Do(func() {
		close(pr.stop)
		pr.wg.Wait()
		pr.p.Status(pr.Snapshot(), true)
		pr.p.Close()
	})
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

// Duration formats a duration for people: 42s, 4m10s, 3h20m.
func Duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
}
