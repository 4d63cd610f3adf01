package s3store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
)

func TestParseRestore(t *testing.T) {
	dec21 := time.Date(2012, 12, 21, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want restoreStatus
	}{
		{`ongoing-request="true"`, restoreStatus{Ongoing: true}},
		{`ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`, restoreStatus{Expiry: dec21}},
		{`ongoing-request="false",expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`, restoreStatus{Expiry: dec21}},
		{` Ongoing-Request = "FALSE" , expiry-date="2012-12-21T00:00:00Z" `, restoreStatus{Expiry: dec21}},
		{`expiry-date="Fri, 21 Dec 2012 00:00:00 GMT", ongoing-request="false"`, restoreStatus{Expiry: dec21}},
		{`ongoing-request="false"`, restoreStatus{}},
		{`ongoing-request="false", restore-type="Permanent"`, restoreStatus{}},
	} {
		got, err := parseRestore(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseRestore(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		``,
		`ongoing-request=true`,
		`ongoing-request="maybe"`,
		`ongoing-request="true`,
		`ongoing-request="true" expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`,
		`ongoing-request="true", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`,
		`ongoing-request="false", expiry-date="tomorrow"`,
		`ongoing-request="false", ongoing-request="true"`,
		`expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`,
		`ongoing-request="false",`,
		`="x"`,
		`ongoing request="true"`,
		strings.Repeat(`x="y", `, 200) + `ongoing-request="true"`,
	} {
		if got, err := parseRestore(in); !errors.Is(err, errBadRestoreHeader) {
			t.Errorf("parseRestore(%q) = %+v, %v; want an error", in, got, err)
		}
	}
}

func TestReadable(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		st   objectState
		want error
	}{
		{"standard", objectState{class: "STANDARD"}, nil},
		{"archived, no restore", objectState{needsRestore: true}, store.ErrNotReady},
		{"restoring", objectState{needsRestore: true, restore: &restoreStatus{Ongoing: true}}, store.ErrNotReady},
		{"restored", objectState{needsRestore: true, restore: &restoreStatus{Expiry: now.Add(time.Hour)}}, nil},
		{"restored, no expiry", objectState{needsRestore: true, restore: &restoreStatus{}}, nil},
		{"expired", objectState{needsRestore: true, restore: &restoreStatus{Expiry: now.Add(-time.Second)}}, store.ErrExpired},
	} {
		err := c.st.readable("id", now)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: readable = %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzParseRestore(f *testing.F) {
	for _, s := range []string{
		`ongoing-request="true"`,
		`ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`,
		`ongoing-request="false", restore-type="Permanent"`,
		`ongoing-request="false",expiry-date="2012-12-21T00:00:00Z"`,
		`a="b,c", ongoing-request="true"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		st, err := parseRestore(h)
		if err != nil {
			if !errors.Is(err, errBadRestoreHeader) {
				t.Fatalf("parseRestore(%q): error %v does not wrap errBadRestoreHeader", h, err)
			}
			return
		}
		if st.Ongoing && !st.Expiry.IsZero() {
			t.Fatalf("parseRestore(%q) = %+v: an ongoing restore with an expiry", h, st)
		}
		// What parses must survive a round trip through S3's format (to the
		// second, as HTTP dates go).
		again, err := parseRestore(formatRestore(st))
		if err != nil || again.Ongoing != st.Ongoing || !again.Expiry.Equal(st.Expiry.Truncate(time.Second)) {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", h, st, formatRestore(st), again, err)
		}
	})
}

func TestDescriptionMetadata(t *testing.T) {
	for _, d := range []string{"", "inner  spaces", "grsync|/home/a b/c|1|2.5|None", strings.Repeat("~", store.MaxDescription)} {
		m := descriptionMetadata(d)
		if v := m[descMetaKey]; strings.TrimSpace(v) != v || v == "" {
			t.Errorf("description %q encodes as %q, which an HTTP header would alter", d, v)
		}
		if len(descMetaKey)+len(m[descMetaKey]) > 2048 {
			t.Errorf("description of %d bytes takes %d bytes of metadata, over S3's 2 KB", len(d), len(m[descMetaKey]))
		}
		upper := map[string]string{"Grsync-Desc": m[descMetaKey]}
		if got, err := descriptionFrom(upper); err != nil || got != d {
			t.Errorf("descriptionFrom(descriptionMetadata(%q)) = %q, %v", d, got, err)
		}
	}
	for _, m := range []map[string]string{nil, {"other": "1:eA=="}, {descMetaKey: "eA=="}, {descMetaKey: "1:!!"}, {descMetaKey: "1:CQ=="}} {
		if _, err := descriptionFrom(m); err == nil {
			t.Errorf("descriptionFrom(%v) accepted it", m)
		}
	}
}

func FuzzDescriptionFrom(f *testing.F) {
	f.Add("1:eA==")
	f.Add("1:")
	f.Add(" 1:IGEg ")
	f.Add("2:ref")
	f.Fuzz(func(t *testing.T, v string) {
		d, err := descriptionFrom(map[string]string{descMetaKey: v})
		if err != nil {
			return
		}
		if !store.ValidDescription(d) {
			t.Fatalf("descriptionFrom(%q) = %q, not a valid description", v, d)
		}
		if again, err := descriptionFrom(descriptionMetadata(d)); err != nil || again != d {
			t.Fatalf("round trip of %q: %q, %v", d, again, err)
		}
	})
}
