package format

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPointerRoundTrip(t *testing.T) {
	vaultID := strings.Repeat("aZ0-_", 27) + "xyz" // 138 characters, as a vault's ids
	p := Pointer{Kind: ObjectSnapshot, Pack: PackID{1, 2, 3}, Created: time.Unix(1733420572, 85289685).UTC(), Size: 123456789, Archive: vaultID}
	v, err := p.Value()
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 256 {
		t.Errorf("a pointer to a vault archive is %d characters; a ref value holds 256", len(v))
	}
	want := "grsync-cat 1 snapshot 1733420572085289685 123456789 " + vaultID
	if v != want {
		t.Errorf("value %q, want %q", v, want)
	}
	if p.RefName() != "cat-01020300000000000000000000000000" {
		t.Errorf("ref name %q", p.RefName())
	}
	got, err := ParsePointer(p.RefName(), v)
	if err != nil || got != p {
		t.Fatalf("parsed %+v, %v; want %+v", got, err, p)
	}
}

func TestPointerRefused(t *testing.T) {
	name := "cat-01020300000000000000000000000000"
	if _, err := ParsePointer("marker", "grsync-store 1 id=00"); !errors.Is(err, ErrNotPointer) {
		t.Errorf("another ref: %v, want ErrNotPointer", err)
	}
	for _, c := range []struct{ name, value string }{
		{"cat-0102", "grsync-cat 1 snapshot 1 2 a"},
		{"cat-0102030000000000000000000000000G", "grsync-cat 1 snapshot 1 2 a"},
		{"cat-01020300000000000000000000000000X", "grsync-cat 1 snapshot 1 2 a"},
		{name, "grsync-cat 1 snapshot 1 2"},
		{name, "grsync-cat 1 snapshot 1 2 a b"},
		{name, "grsync-cat 1 pack 1 2 a"},
		{name, "grsync-cat 1 records 01 2 a"},
		{name, "grsync-cat 1 records 1 -2 a"},
		{name, "grsync-cat 1 records 0 2 a"},
		{name, "grsync-cat 1 records 1 2 a:b"},
		{name, "grsync-cat  1 records 1 2 a"},
		{name, "other 1 records 1 2 a"},
		{name, ""},
	} {
		if _, err := ParsePointer(c.name, c.value); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q %q: %v, want ErrCorrupt", c.name, c.value, err)
		}
	}
	if _, err := ParsePointer(name, "grsync-cat 2 records 1 2 a"); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("version 2: %v, want ErrUnsupportedVersion", err)
	}
	if _, err := (Pointer{Kind: ObjectRecords, Created: time.Unix(1, 0), Archive: "a:b"}).Value(); err == nil {
		t.Error("an archive id with ':' cannot be a ref value")
	}
}

// FuzzParsePointer: any ref parses or is refused, never a panic, and what
// parses writes back exactly.
func FuzzParsePointer(f *testing.F) {
	f.Add("cat-01020300000000000000000000000000", "grsync-cat 1 snapshot 1733420572085289685 123 abc")
	f.Add("cat-01020300000000000000000000000000", "grsync-cat 1 records 1 0 a")
	f.Add("marker", "grsync-store 1")
	f.Fuzz(func(t *testing.T, name, value string) {
		p, err := ParsePointer(name, value)
		if err != nil {
			return
		}
		v, err := p.Value()
		if err != nil || v != value || p.RefName() != name {
			t.Fatalf("%q %q parsed to %+v, which writes back %q, %q (%v)", name, value, p, p.RefName(), v, err)
		}
	})
}
