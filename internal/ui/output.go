package ui

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"unicode/utf8"
)

// Message is one result of a command (a summary, a listed file): text
// lines for people, or one JSON object for scripts. Its JSON form is its
// json encoding, with "message_type" added first.
type Message interface {
	// MessageType names the message in JSON ("summary", "ls_file", ...).
	MessageType() string
	// WriteText writes the message for people. It escapes the names it
	// prints (Name, Clean).
	WriteText(w io.Writer)
}

// Output receives a command's results.
type Output interface {
	// Result is what the command was asked to show (a listed file, a file
	// a dry run would handle): shown even with --quiet.
	Result(m Message)
	// Summary says how the command went: hidden by --quiet in text.
	Summary(m Message)
	// JSON reports whether the output is JSON lines.
	JSON() bool
}

// TextOutput writes messages as text.
type TextOutput struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
}

// NewTextOutput writes to w; quiet hides summaries.
func NewTextOutput(w io.Writer, quiet bool) *TextOutput { return &TextOutput{w: w, quiet: quiet} }

func (t *TextOutput) Result(m Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m.WriteText(t.w)
}

func (t *TextOutput) Summary(m Message) {
	if t.quiet {
		return
	}
	t.Result(m)
}

func (t *TextOutput) JSON() bool { return false }

// JSONOutput writes every message as one JSON line.
type JSONOutput struct{ W *JSONWriter }

func (j JSONOutput) Result(m Message)  { j.W.Write(m.MessageType(), m) }
func (j JSONOutput) Summary(m Message) { j.W.Write(m.MessageType(), m) }
func (j JSONOutput) JSON() bool        { return true }

// JSONWriter writes JSON objects, one a line, safe for concurrent use.
type JSONWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewJSONWriter writes to w.
func NewJSONWriter(w io.Writer) *JSONWriter { return &JSONWriter{w: w} }

// Write writes v (which must encode as a JSON object) as one line, with
// "message_type": kind as its first member.
func (j *JSONWriter) Write(kind string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		enc.Encode(map[string]string{"error": "cannot encode message: " + err.Error()})
	}
	body := bytes.TrimSpace(buf.Bytes())
	head, _ := json.Marshal(kind)
	line := append([]byte(`{"message_type":`), head...)
	if len(body) > 2 {
		line = append(line, ',')
		line = append(line, body[1:]...)
	} else {
		line = append(line, '}')
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Write(line)
}

// Path is a file path in a JSON message: "path" holds it as a string; a
// path that is not valid UTF-8 (possible on Linux) has its bytes replaced
// by U+FFFD there, so "path_bytes" then holds its exact bytes (base64).
type Path struct {
	Path      string `json:"path"`
	PathBytes []byte `json:"path_bytes,omitempty"`
}

// NewPath returns p for a JSON message.
func NewPath(p string) Path {
	if utf8.ValidString(p) {
		return Path{Path: p}
	}
	return Path{Path: p, PathBytes: []byte(p)}
}
