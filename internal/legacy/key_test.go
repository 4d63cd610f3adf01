package legacy

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestParseFernetKeyFixture(t *testing.T) {
	text := readTestdata(t, "python", "legacy.key")
	k, err := ParseFernetKey(text)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.URLEncoding.DecodeString(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if string(k.Signing[:]) != string(raw[:16]) || string(k.Encryption[:]) != string(raw[16:]) {
		t.Errorf("key halves do not match the raw key's first and last 16 bytes")
	}
	for _, variant := range []string{
		string(text) + "\n",
		"  " + string(text) + "\r\n",
		strings.TrimRight(string(text), "="),
	} {
		k2, err := ParseFernetKey([]byte(variant))
		if err != nil || k2 != k {
			t.Errorf("ParseFernetKey(%q) = %v, %v; want the same key", variant, k2 == k, err)
		}
	}
}

func TestParseFernetKeyRejects(t *testing.T) {
	good := base64.URLEncoding.EncodeToString(make([]byte, 32))
	for _, text := range []string{
		"",
		base64.URLEncoding.EncodeToString(make([]byte, 31)),
		base64.URLEncoding.EncodeToString(make([]byte, 33)),
		"+" + good[1:], // standard alphabet, not url-safe
		good[:20] + " " + good[20:],
		good + "x",
	} {
		if _, err := ParseFernetKey([]byte(text)); err == nil {
			t.Errorf("ParseFernetKey(%q) succeeded, want an error", text)
		}
	}
}

func TestFernetKeyFromRawLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := FernetKeyFromRaw(make([]byte, n)); err == nil {
			t.Errorf("FernetKeyFromRaw(%d bytes) succeeded, want an error", n)
		}
	}
}

func TestFernetKeyNeverPrinted(t *testing.T) {
	k := testKey(t)
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		s := fmt.Sprintf(format, k)
		for _, secret := range []string{
			string(k.Signing[:]), string(k.Encryption[:]),
			hex.EncodeToString(k.Signing[:]), hex.EncodeToString(k.Encryption[:]),
			"48 49 50", // the key's first bytes, "012", printed as a byte array
		} {
			if strings.Contains(s, secret) {
				t.Errorf("Sprintf(%q, key) = %q reveals key material %q", format, s, secret)
			}
		}
	}
}
