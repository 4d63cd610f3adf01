package ui

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
)

// BarPrinter shows progress as one line at the bottom of a terminal,
// redrawn in place, never wider than the terminal (it is measured at every
// redraw, so resizing works). Errors and notices are logged above it.
type BarPrinter struct {
	term *Terminal
	log  *slog.Logger
	// Verbose also logs each finished file (otherwise only at debug level).
	Verbose bool
}

// NewBarPrinter draws on term and logs to log (whose handler should write
// to term too).
func NewBarPrinter(term *Terminal, log *slog.Logger) *BarPrinter {
	return &BarPrinter{term: term, log: log}
}

func (b *BarPrinter) Status(s Status, final bool) {
	if final {
		return
	}
	// Three columns stay free: one so that the cursor never wraps, two for
	// the "^C" a terminal echoes when the user presses Ctrl-C, which the
	// next message then erases with the line.
	b.term.draw(RenderLine(s, b.term.Width()-3))
}

func (b *BarPrinter) FileDone(path, status string, err error) {
	logDone(b.log, path, status, err, b.Verbose)
}

func (b *BarPrinter) Notice(path, msg string) { b.log.Info(msg, "path", path) }

func (b *BarPrinter) Close() { b.term.clear() }

// logDone logs a finished file: errors always, the rest at info level when
// verbose, else at debug level (the decision: uploaded, deduplicated,
// unchanged).
func logDone(log *slog.Logger, path, status string, err error, verbose bool) {
	switch {
	case err != nil:
		log.Error(status, "path", path, "err", err)
	case verbose:
		log.Info(status, "path", path)
	default:
		log.Debug(status, "path", path)
	}
}

// segment is one part of the progress line; lower prio is kept first when
// the terminal is narrow.
type segment struct {
	text string
	prio int
}

// RenderLine lays out s in at most width columns: the counts always, then,
// as room allows, the percentage, the failures, the bytes, the ETA, the
// rate, the verb and a bar, in that order of importance; the names of the
// files in flight fill what is left, each shortened from the middle.
// Every name is escaped.
func RenderLine(s Status, width int) string {
	var segs []segment
	segs = append(segs, segment{s.Verb, 6})
	counts := fmt.Sprintf("%d/%s", s.FilesDone, Count(s.Files, "file"))
	if s.Scanning {
		counts = fmt.Sprintf("%d/%d+ files, scanning", s.FilesDone, s.Files)
	}
	segs = append(segs, segment{counts, 0})
	if !s.Scanning {
		pct := 100
		switch {
		case s.Bytes > 0:
			pct = int(s.BytesDone * 100 / s.Bytes)
		case s.Files > 0:
			pct = s.FilesDone * 100 / s.Files
		}
		if pct >= 100 && s.FilesDone < s.Files {
			pct = 99
		}
		pct = min(max(pct, 0), 100)
		segs = append(segs, segment{fmt.Sprintf("%3d%%", pct), 1})
		const barWidth = 20
		fill := pct * barWidth / 100
		segs = append(segs, segment{"[" + strings.Repeat("#", fill) + strings.Repeat(" ", barWidth-fill) + "]", 7})
	}
	if s.Failed > 0 {
		segs = append(segs, segment{fmt.Sprintf("%d failed", s.Failed), 2})
	}
	if s.Scanning {
		segs = append(segs, segment{Bytes(s.BytesDone), 3})
	} else {
		segs = append(segs, segment{Bytes(s.BytesDone) + "/" + Bytes(s.Bytes), 3})
	}
	if s.Rate > 0 {
		segs = append(segs, segment{Bytes(int64(s.Rate)) + "/s", 5})
	}
	if s.ETA > 0 {
		segs = append(segs, segment{"ETA " + Duration(s.ETA), 4})
	}
	const sep = "  "
	// Keep the most important segments that fit, in display order.
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return segs[order[a]].prio < segs[order[b]].prio })
	keep := make([]bool, len(segs))
	used := 0
	for _, i := range order {
		w := Width(segs[i].text)
		if used > 0 {
			w += len(sep)
		}
		if used+w <= width {
			keep[i] = true
			used += w
		}
	}
	var parts []string
	for i, sg := range segs {
		if keep[i] {
			parts = append(parts, sg.text)
		}
	}
	line := strings.Join(parts, sep)
	if room := width - Width(line) - len(sep); room >= 6 && len(s.InFlight) > 0 {
		line += sep + names(s.InFlight, room)
	}
	return Truncate(line, width)
}

// names lists the base names of the files in flight in at most room
// columns: as many as fit, each shortened from the middle to at most 30
// columns (and at least 8), then "+N" for the rest.
func names(paths []string, room int) string {
	var out []string
	used := 0
	for i, p := range paths {
		n := Name(filepath.Base(p))
		rest := ""
		if left := len(paths) - i - 1; left > 0 {
			rest = fmt.Sprintf(", +%d", left)
		}
		sepw := 0
		if len(out) > 0 {
			sepw = 2
		}
		avail := room - used - sepw - Width(rest)
		if avail < 8 && !(avail >= Width(n) && avail > 0) {
			if len(out) == 0 {
				return Truncate(fmt.Sprintf("+%d", len(paths)), room)
			}
			return strings.Join(out, ", ") + fmt.Sprintf(", +%d", len(paths)-i)
		}
		n = Shorten(n, min(avail, 30))
		out = append(out, n)
		used += sepw + Width(n)
	}
	return strings.Join(out, ", ")
}
