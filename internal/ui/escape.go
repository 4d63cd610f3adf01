package ui

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Name makes a file name safe to print to a terminal or a log: a name of
// printable characters without '"' or '\' is returned as it is; any other
// is returned quoted and escaped as a Go string literal ("a\nb",
// "\x1b[2J", "bad\xffname"). So a name can neither move the cursor, clear
// the screen, change colours nor split a line, and a quoted name is never
// mistaken for a plain one (a plain name holds no '"').
func Name(s string) string {
	if plain(s) {
		return s
	}
	return strconv.Quote(s)
}

func plain(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return false
			}
		}
		if r == '"' || r == '\\' || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Clean makes a message (an error text that may hold file names) safe to
// print: every control, format or invalid byte is replaced by its escape
// (\n, \x1b, \u202e); everything else is kept.
func Clean(s string) string {
	if plainText(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func plainText(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return false
			}
		}
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Count says "1 file", "2 files", "0 files": n and the noun, plural unless
// n is 1. The plural adds "s" ("archive" → "archives").
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Width is the number of terminal columns s takes (wide characters count
// two, combining marks none).
func Width(s string) int { return uniseg.StringWidth(s) }

// Shorten returns s shortened from the middle to at most width columns,
// with "…" where characters were left out ("IMG_2024…_0001.jpg"). It cuts
// only between grapheme clusters, so no character is split.
func Shorten(s string, width int) string {
	if Width(s) <= width {
		return s
	}
	if width <= 0 {
		return ""
	}
	if width == 1 {
		return "…"
	}
	var gs []string
	var ws []int
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		gs = append(gs, g.Str())
		ws = append(ws, g.Width())
	}
	room := width - 1    // for the ellipsis
	headRoom := room / 2 // the end (the extension) keeps the odd column
	tailRoom := room - headRoom
	var head, tail strings.Builder
	used, i := 0, 0
	for ; i < len(gs) && used+ws[i] <= headRoom; i++ {
		head.WriteString(gs[i])
		used += ws[i]
	}
	tailRoom += headRoom - used // what the head could not use (a wide character)
	var tailParts []string
	used = 0
	for j := len(gs) - 1; j >= i && used+ws[j] <= tailRoom; j-- {
		tailParts = append(tailParts, gs[j])
		used += ws[j]
	}
	for k := len(tailParts) - 1; k >= 0; k-- {
		tail.WriteString(tailParts[k])
	}
	return head.String() + "…" + tail.String()
}

// Truncate returns s cut at the end to at most width columns.
func Truncate(s string, width int) string {
	if Width(s) <= width {
		return s
	}
	var b strings.Builder
	used := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		if used+g.Width() > width {
			break
		}
		b.WriteString(g.Str())
		used += g.Width()
	}
	return b.String()
}
