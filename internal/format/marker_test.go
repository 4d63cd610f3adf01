package format

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The test vector of docs/FORMAT.md section 10.3 (key AAECAw...Hh8=).
const vectorMarker = "grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=Vv3zai-o7pHylhBEyHKCHw"

func TestStoreMarkerParse(t *testing.T) {
	m, err := ParseStoreMarker(vectorMarker)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "000102030405060708090a0b0c0d0e0f" || m.Proof != "Vv3zai-o7pHylhBEyHKCHw" || !m.Encrypted() {
		t.Errorf("parsed %+v", m)
	}
	if m.String() != vectorMarker {
		t.Errorf("String = %q, want %q", m.String(), vectorMarker)
	}
	if !m.Proves("Vv3zai-o7pHylhBEyHKCHw") || m.Proves("Vv3zai-o7pHylhBEyHKCHA") || m.Proves("") {
		t.Error("Proves does not compare the proof")
	}
	none, err := ParseStoreMarker("grsync-store 1 id=ffeeddccbbaa99887766554433221100 key=none")
	if err != nil || none.Encrypted() || none.Proves("") || none.String() != "grsync-store 1 id=ffeeddccbbaa99887766554433221100 key=none" {
		t.Errorf("key=none: %+v, %v", none, err)
	}
	// Fields after key= are informational within version 1.
	if m, err := ParseStoreMarker(vectorMarker + " made=grsync/1.2 host-os=linux"); err != nil || m.String() != vectorMarker {
		t.Errorf("marker with extra fields: %+v, %v", m, err)
	}
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), vectorMarker) {
		t.Error("docs/FORMAT.md does not show the test vector marker")
	}
}

func TestStoreMarkerRefused(t *testing.T) {
	for _, s := range []string{
		"",
		"grsync-store",
		"grsync-store 1",
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f",
		"grsync-store 01 id=000102030405060708090a0b0c0d0e0f key=none",
		"grsync-store 1 id=000102030405060708090A0B0C0D0E0F key=none",
		"grsync-store 1 id=0001 key=none",
		"grsync-store 1 key=none id=000102030405060708090a0b0c0d0e0f",
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=None",
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=Vv3zai-o7pHylhBEyHKCHx", // non-canonical last character
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=Vv3zai-o7pHylhBEyHKCH",
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=Vv3zai+o7pHylhBEyHKCHw",
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=none extra",
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=none  two=spaces",
		"grsync-store 1 id=000102030405060708090a0b0c0d0e0f key=none Upper=x",
		"grsync-store  1 id=000102030405060708090a0b0c0d0e0f key=none",
		"grsync-stores 1 id=000102030405060708090a0b0c0d0e0f key=none",
	} {
		if m, err := ParseStoreMarker(s); !errors.Is(err, ErrBadMarker) {
			t.Errorf("ParseStoreMarker(%q) = %+v, %v; want ErrBadMarker", s, m, err)
		}
	}
	for _, s := range []string{"grsync-store 2 id=x", "grsync-store 17 whatever"} {
		if _, err := ParseStoreMarker(s); !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), "version") {
			t.Errorf("ParseStoreMarker(%q): %v, want ErrUnsupportedVersion", s, err)
		}
	}
}

func TestNewStoreID(t *testing.T) {
	a, b := NewStoreID(), NewStoreID()
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a) || a == b {
		t.Errorf("NewStoreID gave %q and %q", a, b)
	}
	if _, err := ParseStoreMarker(StoreMarker{ID: a}.String()); err != nil {
		t.Errorf("a marker with a new id does not parse: %v", err)
	}
}

func FuzzParseStoreMarker(f *testing.F) {
	f.Add(vectorMarker)
	f.Add("grsync-store 1 id=ffeeddccbbaa99887766554433221100 key=none x=y")
	f.Add("grsync-store 2 id=x")
	f.Add("grsync-store 1 id= key=")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseStoreMarker(s)
		if err != nil {
			if !errors.Is(err, ErrBadMarker) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("error %v is neither ErrBadMarker nor ErrUnsupportedVersion", err)
			}
			return
		}
		again, err := ParseStoreMarker(m.String())
		if err != nil || again != m {
			t.Fatalf("%q parsed as %+v, whose text %q parses as %+v, %v", s, m, m.String(), again, err)
		}
		if !strings.HasPrefix(s, m.String()) {
			t.Fatalf("%q parsed as %+v, which is not how it starts", s, m)
		}
		if len(m.String()) > 256 || strings.ContainsAny(m.String(), ":!\n") {
			t.Fatalf("marker text %q is not a valid ref value", m.String())
		}
	})
}
