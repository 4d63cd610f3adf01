package ui

import (
	"fmt"
	"log/slog"
	"time"
)

// LogPrinter reports progress as log lines, for output that is not a
// terminal (a file, the journal): one line per finished file, and a status
// line at every interval.
type LogPrinter struct {
	log   *slog.Logger
	every time.Duration
	last  time.Time
}

// NewLogPrinter logs to log, a status line at most every interval.
func NewLogPrinter(log *slog.Logger, every time.Duration) *LogPrinter {
	return &LogPrinter{log: log, every: every, last: time.Now()}
}

func (l *LogPrinter) Status(s Status, final bool) {
	// Status comes from one goroutine at a time (the ticker, or the walk's
	// end, or Finish after the ticker stopped), but may come early.
	if final || time.Since(l.last) < l.every-l.every/10 {
		return
	}
	l.last = time.Now()
	files := fmt.Sprintf("%d/%d", s.FilesDone, s.Files)
	bytes := Bytes(s.BytesDone) + "/" + Bytes(s.Bytes)
	eta := "unknown"
	if s.Scanning {
		files += "+ (scanning)"
		bytes = Bytes(s.BytesDone)
	} else if s.ETA >= 0 {
		eta = Duration(s.ETA)
	}
	l.log.Info("progress", "files", files, "bytes", bytes, "rate", Bytes(int64(s.Rate))+"/s",
		"eta", eta, "in_flight", len(s.InFlight), "failed", s.Failed)
}

func (l *LogPrinter) FileDone(path, status string, err error) {
	logDone(l.log, path, status, err, true)
}
func (l *LogPrinter) Notice(path, msg string) { l.log.Info(msg, "path", path) }
func (l *LogPrinter) Close()                  {}

// QuietPrinter shows errors only (--quiet).
type QuietPrinter struct {
	log *slog.Logger
}

func NewQuietPrinter(log *slog.Logger) *QuietPrinter { return &QuietPrinter{log: log} }

func (q *QuietPrinter) Status(Status, bool) {}
func (q *QuietPrinter) FileDone(path, status string, err error) {
	logDone(q.log, path, status, err, false)
}
func (q *QuietPrinter) Notice(string, string) {}
func (q *QuietPrinter) Close()                {}

// JSONStatusPrinter writes progress as JSON lines (see the README for the
// schema): an "error" message for every failed file always; with Events
// also a "status" message at every interval and a "file" message for each
// finished file. Notices go to the log.
type JSONStatusPrinter struct {
	out    *JSONWriter
	log    *slog.Logger
	action string
	// Events asks for "status" and "file" messages (--json-progress).
	Events bool
}

// NewJSONStatusPrinter writes to out; action names the command ("sync",
// "restore").
func NewJSONStatusPrinter(out *JSONWriter, log *slog.Logger, action string, events bool) *JSONStatusPrinter {
	return &JSONStatusPrinter{out: out, log: log, action: action, Events: events}
}

// StatusMessage is the "status" message.
type StatusMessage struct {
	Action         string   `json:"action"`
	Scanning       bool     `json:"scanning"`
	FilesDone      int      `json:"files_done"`
	FilesTotal     int      `json:"files_total"`
	FilesFailed    int      `json:"files_failed"`
	BytesDone      int64    `json:"bytes_done"`
	BytesTotal     int64    `json:"bytes_total"`
	PercentDone    float64  `json:"percent_done"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
	BytesPerSecond float64  `json:"bytes_per_second"`
	ETASeconds     *float64 `json:"eta_seconds"` // null while unknown
	InFlight       []string `json:"in_flight"`
}

// FileMessage is the "file" and "error" message.
type FileMessage struct {
	Action string `json:"action"`
	Path
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (j *JSONStatusPrinter) Status(s Status, final bool) {
	if !j.Events {
		return
	}
	m := StatusMessage{Action: j.action, Scanning: s.Scanning, FilesDone: s.FilesDone, FilesTotal: s.Files,
		FilesFailed: s.Failed, BytesDone: s.BytesDone, BytesTotal: s.Bytes,
		ElapsedSeconds: s.Elapsed.Seconds(), BytesPerSecond: s.Rate, InFlight: s.InFlight}
	if m.InFlight == nil {
		m.InFlight = []string{}
	}
	if !s.Scanning {
		switch {
		case s.Bytes > 0:
			m.PercentDone = float64(s.BytesDone) * 100 / float64(s.Bytes)
		case s.Files > 0:
			m.PercentDone = float64(s.FilesDone) * 100 / float64(s.Files)
		default:
			m.PercentDone = 100
		}
	}
	if s.ETA >= 0 {
		e := s.ETA.Round(time.Second).Seconds()
		m.ETASeconds = &e
	}
	j.out.Write("status", m)
}

func (j *JSONStatusPrinter) FileDone(path, status string, err error) {
	m := FileMessage{Action: j.action, Path: NewPath(path), Status: status}
	if err != nil {
		m.Error = err.Error()
		j.out.Write("error", m)
		return
	}
	if j.Events {
		j.out.Write("file", m)
	}
	j.log.Debug(status, "path", path)
}

func (j *JSONStatusPrinter) Notice(path, msg string) { j.log.Info(msg, "path", path) }
func (j *JSONStatusPrinter) Close()                  {}
