package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// vectorKey is the key with bytes 0x00..0x1f; derive_test.go has its vectors.
const vectorKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func vectorBytes() []byte {
	b := make([]byte, Size)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestParseAccepts(t *testing.T) {
	for _, in := range []string{
		vectorKey,
		strings.TrimSuffix(vectorKey, "="), // unpadded form
		vectorKey + "\n",
		vectorKey + "\r\n",
		"  \t" + vectorKey + " \n\n",
	} {
		k, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if !bytes.Equal(k.Raw(), vectorBytes()) {
			t.Errorf("Parse(%q) = %x, want %x", in, k.Raw(), vectorBytes())
		}
		if got := k.String(); got != vectorKey {
			t.Errorf("Parse(%q).String() = %q, want %q", in, got, vectorKey)
		}
	}
}

func TestParseToleratesNonCanonicalLastCharacter(t *testing.T) {
	// 'f' and 'c' differ only in the two unused low bits of the last
	// character; Python's decoder accepts both, so grsync does too.
	k, err := Parse(strings.Replace(vectorKey, "Hh8=", "Hh9=", 1))
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != vectorKey {
		t.Errorf("got %q, want canonical %q", k.String(), vectorKey)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", "key is empty"},
		{" \n\t ", "key is empty"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", ""}, // control: valid
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+=", "'+' at position 43, which is standard base64"},
		{"AA/CAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "'/' at position 3, which is standard base64"},
		{"AAECAwQF!gcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "invalid character '!' at position 9"},
		{"AAECAwQFBgcICQoLDA0ODxAR EhMUFRYXGBkaGxwdHh8=", "invalid character ' ' at position 25"},
		{"éAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "invalid character 'é' at position 1"},
		{"AAECAwQFBgcI=CQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "'=' at position 13; '=' may only end a key"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", "decodes to 30 bytes, need 32 (a key is 44 characters, this one has 40)"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj", "decodes to 36 bytes, need 32"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", "decodes to 33 bytes, need 32"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==", "ends with 2 '=' characters"},
		{"gAAAAABlc2VjcmV0", "decodes to 12 bytes, need 32"},
	} {
		_, err := Parse(tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("Parse(%q): unexpected error %v", tc.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error %q does not contain %q", tc.in, err, tc.want)
		}
		if !strings.Contains(err.Error(), "grsync keygen > my.key && chmod 600 my.key") {
			t.Errorf("Parse(%q) error %q does not say how to generate a key", tc.in, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	k, err := Generate(bytes.NewReader(vectorBytes()))
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != vectorKey {
		t.Errorf("Generate = %q, want %q", k.String(), vectorKey)
	}
	if len(k.String()) != EncodedLen {
		t.Errorf("text form has %d characters, want %d", len(k.String()), EncodedLen)
	}

	_, err = Generate(bytes.NewReader(make([]byte, 31)))
	if err == nil || !strings.Contains(err.Error(), "read random bytes") {
		t.Errorf("Generate from a short reader: err = %v", err)
	}
	rerr := errors.New("entropy gone")
	if _, err := Generate(failingReader{rerr}); !errors.Is(err, rerr) {
		t.Errorf("Generate error does not wrap the reader's: %v", err)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestRawIsACopy(t *testing.T) {
	k, err := Parse(vectorKey)
	if err != nil {
		t.Fatal(err)
	}
	raw := k.Raw()
	raw[0] ^= 0xff
	if k.Raw()[0] != 0 || k.String() != vectorKey {
		t.Error("modifying Raw's result changed the key")
	}
}
