package format

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestObjectDescriptionRoundTrip(t *testing.T) {
	var key MetaKey
	copy(key[:], "0123456789abcdef0123456789abcdef")
	m := ObjectMeta{Kind: ObjectPack, ID: [16]byte{1, 2, 3}, Created: time.Unix(1700000000, 5), Encoding: "grsync2+zstd+age"}
	for _, k := range []*MetaKey{nil, &key} {
		desc, withGroup, err := EncodeObjectDescription(m, k, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(desc) > maxDescription || !strings.HasPrefix(desc, "grsync2:") {
			t.Fatalf("description %q", desc)
		}
		if g, ok := IsObjectDescription(desc); !ok || g != withGroup.Group {
			t.Fatalf("IsObjectDescription(%q) = %q %v", desc, g, ok)
		}
		got, err := ParseObjectDescription(desc, k)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != m.Kind || got.ID != m.ID || !got.Created.Equal(m.Created) || got.Encoding != m.Encoding || got.Group != withGroup.Group {
			t.Fatalf("read back %+v, want %+v", got, withGroup)
		}
		if k != nil {
			if strings.Contains(desc, "pack") || strings.Contains(desc, "grsync2+") {
				t.Fatalf("encrypted description shows its content: %q", desc)
			}
			if _, err := ParseObjectDescription(desc, nil); !errors.Is(err, ErrKeyRequired) {
				t.Fatalf("without the key: %v", err)
			}
			other := key
			other[0] ^= 1
			if _, err := ParseObjectDescription(desc, &other); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("with another key: %v", err)
			}
		} else if _, err := ParseObjectDescription(desc, &key); !errors.Is(err, ErrNotEncrypted) {
			t.Fatalf("a plain description read with a key: %v", err)
		}
	}
	if _, err := ParseObjectDescription("grsync1:p:0e42d4cae8864908:0/1:AAEG", nil); !errors.Is(err, ErrNotGrsync) {
		t.Fatalf("a v1 description: %v", err)
	}
	if _, _, err := EncodeObjectDescription(ObjectMeta{Kind: "tarball", Encoding: "x"}, nil, rand.Reader); err == nil {
		t.Fatal("an unknown kind was encoded")
	}
}

func FuzzParseObjectDescription(f *testing.F) {
	var key MetaKey
	m := ObjectMeta{Kind: ObjectRecords, Created: time.Unix(1, 0), Encoding: "grsync2+zstd"}
	plain, _, _ := EncodeObjectDescription(m, nil, bytes.NewReader(make([]byte, 64)))
	enc, _, _ := EncodeObjectDescription(m, &key, bytes.NewReader(make([]byte, 64)))
	f.Add(plain)
	f.Add(enc)
	f.Add("grsync2:p:0000000000000000:AA")
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []*MetaKey{nil, &key} {
			m, err := ParseObjectDescription(s, k)
			if err != nil {
				continue
			}
			again, _, err := EncodeObjectDescription(m, k, rand.Reader)
			if err != nil {
				t.Fatalf("%q parsed as %+v, which does not encode: %v", s, m, err)
			}
			if m2, err := ParseObjectDescription(again, k); err != nil || m2.Kind != m.Kind || m2.ID != m.ID {
				t.Fatalf("re-encoded %+v does not read back: %v", m, err)
			}
		}
	})
}
