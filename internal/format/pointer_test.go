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
	want := "grsync-cat 1 snapshot 01020300000000000000000000000000 1733420572085289685 123456789 " + vaultID
	if v != want {
		t.Errorf("value %q, want %q", v, want)
	}
	if PointerSlot(7) != "cat-07" || PointerSlot(MaxPointers-1) != "cat-29" {
		t.Errorf("slots %s, %s", PointerSlot(7), PointerSlot(MaxPointers-1))
	}
	got, ok, err := ParsePointer("cat-07", v)
	if err != nil || !ok || got != p {
		t.Fatalf("parsed %+v, %v, %v; want %+v", got, ok, err, p)
	}
	if _, ok, err := ParsePointer("cat-03", ""); ok || err != nil {
		t.Errorf("an empty slot: %v %v", ok, err)
	}
}

func TestPointerRefused(t *testing.T) {
	const pack = "01020300000000000000000000000000"
	if _, _, err := ParsePointer("marker", "grsync-store 1 id=00"); !errors.Is(err, ErrNotPointer) {
		t.Errorf("another ref: %v, want ErrNotPointer", err)
	}
	for _, c := range []struct{ name, value string }{
		{"cat-1", "grsync-cat 1 snapshot " + pack + " 1 2 a"},
		{"cat-30", "grsync-cat 1 snapshot " + pack + " 1 2 a"},
		{"cat-0a", "grsync-cat 1 snapshot " + pack + " 1 2 a"},
		{"cat-00", "grsync-cat 1 snapshot " + pack + " 1 2"},
		{"cat-00", "grsync-cat 1 snapshot " + pack + " 1 2 a b"},
		{"cat-00", "grsync-cat 1 snapshot 0102 1 2 a"},
		{"cat-00", "grsync-cat 1 snapshot " + strings.ToUpper(pack) + "0A 1 2 a"},
		{"cat-00", "grsync-cat 1 pack " + pack + " 1 2 a"},
		{"cat-00", "grsync-cat 1 records " + pack + " 01 2 a"},
		{"cat-00", "grsync-cat 1 records " + pack + " 1 -2 a"},
		{"cat-00", "grsync-cat 1 records " + pack + " 0 2 a"},
		{"cat-00", "grsync-cat 1 records " + pack + " 1 2 a:b"},
		{"cat-00", "grsync-cat  1 records " + pack + " 1 2 a"},
		{"cat-00", "other 1 records " + pack + " 1 2 a"},
	} {
		if _, _, err := ParsePointer(c.name, c.value); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q %q: %v, want ErrCorrupt", c.name, c.value, err)
		}
	}
	if _, _, err := ParsePointer("cat-00", "grsync-cat 2 records "+pack+" 1 2 a"); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("version 2: %v, want ErrUnsupportedVersion", err)
	}
	if _, err := (Pointer{Kind: ObjectRecords, Created: time.Unix(1, 0), Archive: "a:b"}).Value(); err == nil {
		t.Error("an archive id with ':' cannot be a ref value")
	}
}

// FuzzParsePointer: any ref parses or is refused, never a panic, and what
// parses writes back exactly.
func FuzzParsePointer(f *testing.F) {
	f.Add("cat-00", "grsync-cat 1 snapshot 01020300000000000000000000000000 1733420572085289685 123 abc")
	f.Add("cat-29", "grsync-cat 1 records 01020300000000000000000000000000 1 0 a")
	f.Add("cat-05", "")
	f.Add("marker", "grsync-store 1")
	f.Fuzz(func(t *testing.T, name, value string) {
		p, ok, err := ParsePointer(name, value)
		if err != nil || !ok {
			return
		}
		v, err := p.Value()
		if err != nil || v != value {
			t.Fatalf("%q %q parsed to %+v, which writes back %q (%v)", name, value, p, v, err)
		}
	})
}
