package legacy

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseDescription(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Description
	}{
		{"grsync|/a/b.txt|12|1710590400.123456|hello",
			Description{Path: "/a/b.txt", Size: 12, MTime: 1710590400.123456, UserDesc: "hello", HasUserDesc: true}},
		{"grsync|/a|0|1710590400.0|None",
			Description{Path: "/a", Size: 0, MTime: 1710590400}},
		{"grsync|/a|5|1e+16|x",
			Description{Path: "/a", Size: 5, MTime: 1e16, UserDesc: "x", HasUserDesc: true}},
		{"grsync|/a|5|1.5e-07|x",
			Description{Path: "/a", Size: 5, MTime: 1.5e-7, UserDesc: "x", HasUserDesc: true}},
		{"grsync|/old|5|-86400.5|None",
			Description{Path: "/old", Size: 5, MTime: -86400.5}},
		{"grsync|/a|5|0.0|",
			Description{Path: "/a", Size: 5, UserDesc: "", HasUserDesc: true}},
		{"grsync|/a|9223372036854775807|1.0|None",
			Description{Path: "/a", Size: math.MaxInt64, MTime: 1}},
		// '|' in the path: only one split has a number pair after it.
		{"grsync|/x/it's a \"quoted\" name|pipe.txt|27|1710601200.123456|nightly",
			Description{Path: "/x/it's a \"quoted\" name|pipe.txt", Size: 27, MTime: 1710601200.123456, UserDesc: "nightly", HasUserDesc: true}},
		{"grsync|/a|1|b|2|3.5|None",
			Description{Path: "/a|1|b", Size: 2, MTime: 3.5}},
		// '|' in the user description.
		{"grsync|/a|2|3.5|left|right",
			Description{Path: "/a", Size: 2, MTime: 3.5, UserDesc: "left|right", HasUserDesc: true}},
		{"grsync|/a|2|3.5|None|None",
			Description{Path: "/a", Size: 2, MTime: 3.5, UserDesc: "None|None", HasUserDesc: true}},
		// Truly ambiguous: the leftmost split wins.
		{"grsync|/a|1|2.0|3|4.0|d",
			Description{Path: "/a", Size: 1, MTime: 2, UserDesc: "3|4.0|d", HasUserDesc: true, Ambiguous: true}},
		// Numbers that are not Python's int or float repr do not anchor a split.
		{"grsync|/a|01|2.0|3|4.0|d",
			Description{Path: "/a|01|2.0", Size: 3, MTime: 4, UserDesc: "d", HasUserDesc: true}},
		{"grsync|/a|1|2|3|4.0|d",
			Description{Path: "/a|1|2", Size: 3, MTime: 4, UserDesc: "d", HasUserDesc: true}},
	} {
		got, err := ParseDescription(tc.in)
		if err != nil {
			t.Errorf("ParseDescription(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseDescription(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseDescriptionRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"grsync",
		"grsync|/a|1|2.0",         // no user description field
		"GRSYNC|/a|1|2.0|None",    // prefix
		"glacier|/a|1|2.0|None",   // prefix
		" grsync|/a|1|2.0|None",   // prefix
		"grsync|a/b|1|2.0|None",   // relative path
		"grsync||1|2.0|None",      // empty path
		"grsync|/a|-1|2.0|None",   // negative size
		"grsync|/a|+1|2.0|None",   // signed size
		"grsync|/a|01|2.0|None",   // leading zero
		"grsync|/a|1.0|2.0|None",  // float size
		"grsync|/a|1|2|None",      // int mtime: Python always wrote a float
		"grsync|/a|1|.5|None",     // not a repr
		"grsync|/a|1|5.|None",     // not a repr
		"grsync|/a|1|05.0|None",   // not a repr
		"grsync|/a|1|1e16|None",   // exponent without sign
		"grsync|/a|1|1e+6|None",   // one exponent digit
		"grsync|/a|1|0e+00|None",  // zero mantissa
		"grsync|/a|1|1.e+16|None", // not a repr
		"grsync|/a|1|inf|None",
		"grsync|/a|1|nan|None",
		"grsync|/a|1|1e+999|None", // overflows
		"grsync|/a|1| 2.0|None",
		"grsync|/a|99999999999999999999|2.0|None", // beyond int64
	} {
		if d, err := ParseDescription(in); !errors.Is(err, ErrBadDescription) {
			t.Errorf("ParseDescription(%q) = %+v, %v; want ErrBadDescription", in, d, err)
		}
	}
}

func TestLooksLikeDescription(t *testing.T) {
	for in, want := range map[string]bool{
		"grsync|/a|1|2.0|None":  true,
		"grsync|a/b|1|2.0|None": true, // damaged, but the Python tools' shape
		"grsync|":               true,
		"grsync":                false,
		"grsync2:e:00:xx":       false, // grsync's own
		"GRSYNC|/a|1|2.0|None":  false,
		"someone else's":        false,
	} {
		if got := LooksLikeDescription(in); got != want {
			t.Errorf("LooksLikeDescription(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDescriptionCandidates(t *testing.T) {
	all, err := DescriptionCandidates("grsync|/a|1|2.0|b|3|4.0|c|5|6.0|d")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path, desc string
		size       int64
	}{
		{"/a", "b|3|4.0|c|5|6.0|d", 1},
		{"/a|1|2.0|b", "c|5|6.0|d", 3},
		{"/a|1|2.0|b|3|4.0|c", "d", 5},
	}
	if len(all) != len(want) {
		t.Fatalf("%d candidates, want %d: %+v", len(all), len(want), all)
	}
	for i, w := range want {
		if all[i].Path != w.path || all[i].UserDesc != w.desc || all[i].Size != w.size || !all[i].Ambiguous {
			t.Errorf("candidate %d = %+v, want path %q, size %d, desc %q, ambiguous", i, all[i], w.path, w.size, w.desc)
		}
	}
}

func TestDescriptionModTime(t *testing.T) {
	d := Description{MTime: 1710590400.123456}
	want := time.Unix(1710590400, 123456000)
	if got := d.ModTime(); got.Sub(want).Abs() > time.Microsecond {
		t.Errorf("ModTime() = %v, want %v", got, want)
	}
	if got := (Description{MTime: -1.5}).ModTime(); !got.Equal(time.Unix(-2, 500000000)) {
		t.Errorf("ModTime(-1.5) = %v", got)
	}
	if got := (Description{MTime: 1e300}).ModTime(); !got.IsZero() {
		t.Errorf("ModTime(1e300) = %v, want the zero time", got)
	}
}
