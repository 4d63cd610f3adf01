package legacy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// descriptionPrefix opens every description the Python tools wrote.
const descriptionPrefix = "grsync"

// noUserDesc is what the Python tools wrote when run without --desc: the
// repr of Python's None.
const noUserDesc = "None"

// Description is a parsed legacy archive description,
// "grsync|<abs path>|<size>|<mtime>|<user desc>".
type Description struct {
	// Path is the file's absolute path on the machine that uploaded it.
	Path string
	// Size is the file's size in bytes (before compression or encryption).
	Size int64
	// MTime is the file's modification time in seconds since the Unix
	// epoch, as Python's os.path.getmtime returned it.
	MTime float64
	// UserDesc is the text given with --desc, if any.
	UserDesc string
	// HasUserDesc is false when the tool ran without --desc (it wrote the
	// literal "None"; a user who passed --desc None is indistinguishable).
	HasUserDesc bool
	// Ambiguous is true when '|' characters allowed more than one reading
	// of the description; see ParseDescription for which one was chosen and
	// DescriptionCandidates for all of them.
	Ambiguous bool
}

// ModTime returns MTime as a time, rounded to the nanosecond; the zero time
// if MTime is beyond what a time can hold.
func (d Description) ModTime() time.Time {
	const limit = 1 << 62 // well inside int64 seconds
	if math.IsNaN(d.MTime) || math.Abs(d.MTime) >= limit {
		return time.Time{}
	}
	sec := math.Floor(d.MTime)
	nsec := math.Round((d.MTime - sec) * 1e9)
	return time.Unix(int64(sec), int64(nsec))
}

// LooksLikeDescription reports whether s opens as the Python tools'
// descriptions do ("grsync|"), whether or not the rest parses: a caller
// can then tell a damaged or hostile legacy description from an archive
// another program made.
func LooksLikeDescription(s string) bool {
	return strings.HasPrefix(s, descriptionPrefix+"|")
}

// ParseDescription parses a legacy archive description,
// "grsync|<abs path>|<size>|<mtime>|<user desc>", where size is a decimal
// integer, mtime the repr of a Python float (1710590400.123456,
// 1710590400.0, 1e+16, -1.5) and user desc the literal None when there was
// none. Anything else is an error wrapping ErrBadDescription.
//
// '|' may occur inside the path and inside the user description, so a
// description can have several readings. The fields that are numbers anchor
// the split: a reading puts the path's end just before a "|size|mtime|" pair.
// When more than one pair qualifies, the leftmost wins: the shortest path,
// the longest user description. A '|' is rare in file names (shells need it
// quoted and Windows forbids it, so any tree that ever lived on Windows has
// none), while the description is free text the user typed. Ambiguous is then
// set; callers that know the file (a catalogue row's path or size) should use
// DescriptionCandidates and pick the reading that matches it.
func ParseDescription(s string) (Description, error) {
	all, err := DescriptionCandidates(s)
	if err != nil {
		return Description{}, err
	}
	return all[0], nil
}

// DescriptionCandidates returns every reading of a legacy archive description
// (see ParseDescription), leftmost split first. It returns at least one
// reading or an error wrapping ErrBadDescription.
func DescriptionCandidates(s string) ([]Description, error) {
	parts := strings.Split(s, "|")
	if len(parts) < 5 || parts[0] != descriptionPrefix {
		return nil, fmt.Errorf("%w: %q: want grsync|<path>|<size>|<mtime>|<description>", ErrBadDescription, s)
	}
	if !strings.HasPrefix(parts[1], "/") {
		return nil, fmt.Errorf("%w: %q: path is not absolute", ErrBadDescription, s)
	}
	var out []Description
	// parts[1:i] is the path, parts[i] the size, parts[i+1] the mtime and
	// parts[i+2:] the user description.
	for i := 2; i+2 < len(parts); i++ {
		size, ok := parsePythonInt(parts[i])
		if !ok {
			continue
		}
		mtime, ok := parsePythonFloat(parts[i+1])
		if !ok {
			continue
		}
		d := Description{
			Path:  strings.Join(parts[1:i], "|"),
			Size:  size,
			MTime: mtime,
		}
		if desc := strings.Join(parts[i+2:], "|"); desc != noUserDesc {
			d.UserDesc, d.HasUserDesc = desc, true
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %q: no |<size>|<mtime>| fields after the path", ErrBadDescription, s)
	}
	if len(out) > 1 {
		for i := range out {
			out[i].Ambiguous = true
		}
	}
	return out, nil
}

// parsePythonInt accepts what str() of a non-negative Python int gives: "0"
// or decimal digits without a leading zero, within int64.
func parsePythonInt(s string) (int64, bool) {
	if !isDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parsePythonFloat accepts what repr() of a finite Python float gives:
// "-"? then either digits "." digits (no leading zero but "0"), or one
// non-zero digit, an optional "." digits, "e", a sign and two or three
// exponent digits.
func parsePythonFloat(s string) (float64, bool) {
	t := strings.TrimPrefix(s, "-")
	var ok bool
	if mant, exp, found := strings.Cut(t, "e"); found {
		ok = isPythonMantissa(mant) && isPythonExponent(exp)
	} else {
		whole, frac, dot := strings.Cut(t, ".")
		ok = dot && isDigits(whole) && isDigits(frac) && (len(whole) == 1 || whole[0] != '0')
	}
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// isPythonMantissa: one non-zero digit, optionally "." and digits.
func isPythonMantissa(s string) bool {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return false
	}
	if len(s) == 1 {
		return true
	}
	return s[1] == '.' && isDigits(s[2:])
}

// isPythonExponent: a sign and two or three digits.
func isPythonExponent(s string) bool {
	return len(s) >= 3 && len(s) <= 4 && (s[0] == '+' || s[0] == '-') && isDigits(s[1:])
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
