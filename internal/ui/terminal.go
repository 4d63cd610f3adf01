package ui

import (
	"io"
	"sync"
)

const clearLine = "\r\x1b[K" // back to column 0, erase to the end of the line

// Terminal is the writer behind stderr, shared by the live progress line
// and everything else written there (log lines, the message after
// Ctrl-C). Whatever is written first erases the progress line, so that a
// log line never lands in the middle of it; the line is drawn again at the
// next update. When the output is not a terminal, Terminal only passes
// writes through.
type Terminal struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int // columns; nil when w is not a terminal
	shown bool       // a progress line is on screen
}

// NewTerminal wraps w. width reports the terminal's current width in
// columns; pass nil when w is not a terminal.
func NewTerminal(w io.Writer, width func() int) *Terminal {
	return &Terminal{w: w, width: width}
}

// IsTerminal reports whether a live progress line can be shown.
func (t *Terminal) IsTerminal() bool { return t.width != nil }

// Width is the terminal's width in columns (80 when it cannot be read).
func (t *Terminal) Width() int {
	if t.width == nil {
		return 80
	}
	if w := t.width(); w > 0 {
		return w
	}
	return 80
}

// Write erases the progress line, if one is shown, then writes p.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shown {
		t.shown = false
		if _, err := io.WriteString(t.w, clearLine); err != nil {
			return 0, err
		}
	}
	return t.w.Write(p)
}

// Message writes msg on a line of its own. On a terminal it first erases
// the current line, whatever is on it: the progress line, or the "^C" the
// terminal echoed when the user pressed Ctrl-C.
func (t *Terminal) Message(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.width != nil {
		io.WriteString(t.w, clearLine)
	}
	t.shown = false
	io.WriteString(t.w, msg+"\n")
}

// draw shows line as the progress line, replacing the previous one. line
// must fit the terminal's width minus one column (so the cursor never wraps).
func (t *Terminal) draw(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.width == nil {
		return
	}
	io.WriteString(t.w, "\r"+line+"\x1b[K")
	t.shown = true
}

// clear erases the progress line.
func (t *Terminal) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shown {
		io.WriteString(t.w, clearLine)
		t.shown = false
	}
}
