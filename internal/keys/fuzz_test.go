package keys

import (
	"strings"
	"testing"

	"filippo.io/age"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		vectorKey, strings.TrimSuffix(vectorKey, "="), vectorKey + "\n", "", "=",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+=", "é", "gAAAAA==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), GenerateHint) {
				t.Errorf("error without hint: %v", err)
			}
			return
		}
		// Valid keys round-trip and derive usable identities.
		k2, err := Parse(k.String())
		if err != nil || k2 != k {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		if len(k.String()) != EncodedLen {
			t.Fatalf("text form %q", k.String())
		}
		if _, err := age.ParseX25519Identity(k.AgeIdentityString()); err != nil {
			t.Fatal(err)
		}
	})
}
