package legacy

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Fernet specification's own test vectors
// (testdata/fernet-spec, from github.com/fernet/spec).

type specVector struct {
	Desc   string `json:"desc"`
	Token  string `json:"token"`
	Now    string `json:"now"`
	IVInts []int  `json:"iv"`
	Src    string `json:"src"`
	Secret string `json:"secret"`
}

func loadSpec(t *testing.T, name string) []specVector {
	t.Helper()
	var vs []specVector
	if err := json.Unmarshal(readTestdata(t, "fernet-spec", name), &vs); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return vs
}

func specKey(t *testing.T, v specVector) FernetKey {
	t.Helper()
	k, err := ParseFernetKey([]byte(v.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFernetSpecVerify(t *testing.T) {
	for _, v := range loadSpec(t, "verify.json") {
		got, err := decodeAll(fromBytes([]byte(v.Token)), specKey(t, v), fernetChunk)
		if err != nil {
			t.Fatalf("verify vector: %v", err)
		}
		if string(got) != v.Src {
			t.Errorf("verify vector decodes to %q, want %q", got, v.Src)
		}
	}
}

// TestFernetSpecGenerate checks the test-only encryptor against the spec,
// so that the tokens other tests build are real Fernet tokens.
func TestFernetSpecGenerate(t *testing.T) {
	for _, v := range loadSpec(t, "generate.json") {
		now, err := time.Parse(time.RFC3339, v.Now)
		if err != nil {
			t.Fatal(err)
		}
		p := tokenParams{key: specKey(t, v), ts: uint64(now.Unix())}
		for i, b := range v.IVInts {
			p.iv[i] = byte(b)
		}
		tok := encryptToken(t, p, []byte(v.Src))
		if string(tok) != v.Token {
			t.Errorf("test encryptor made\n%s\nwant\n%s", tok, v.Token)
		}
		got, err := decodeAll(fromBytes(tok), p.key, fernetChunk)
		if err != nil || string(got) != v.Src {
			t.Errorf("generate vector decodes to %q, %v; want %q", got, err, v.Src)
		}
	}
}

// acceptedByDesign are the invalid.json vectors that only fail because of
// the token's age or a clock skew. OpenFernet enforces no TTL, on purpose:
// backups are old by nature.
var acceptedByDesign = []string{"far-future TS (unacceptable clock skew)", "expired TTL"}

func TestFernetSpecInvalid(t *testing.T) {
	var accepted []string
	for _, v := range loadSpec(t, "invalid.json") {
		r, err := OpenFernet(fromBytes([]byte(v.Token)), specKey(t, v))
		if slices.Contains(acceptedByDesign, v.Desc) {
			if err != nil {
				t.Errorf("%s: %v; want the token accepted, as no TTL is enforced", v.Desc, err)
				continue
			}
			got, err := drain(r)
			if err != nil {
				t.Errorf("%s: read: %v", v.Desc, err)
			}
			// Both tokens hold an empty plaintext (Python's cryptography
			// package decrypts them to b'' when given no TTL).
			if len(got) != 0 {
				t.Errorf("%s: decodes to %q, want an empty plaintext", v.Desc, got)
			}
			accepted = append(accepted, v.Desc)
			continue
		}
		if err == nil {
			got, rerr := drain(r)
			t.Errorf("%s: OpenFernet accepted the token (read %q, %v); want an error before any plaintext", v.Desc, got, rerr)
			continue
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: error %v does not wrap ErrInvalidToken", v.Desc, err)
		}
		t.Logf("%s: %v", v.Desc, err)
	}
	slices.Sort(accepted)
	want := slices.Clone(acceptedByDesign)
	slices.Sort(want)
	if !slices.Equal(accepted, want) {
		t.Errorf("accepted TTL/clock vectors %q, want exactly %q", accepted, want)
	}
}

// TestFernetSpecInvalidReasons checks that each invalid vector fails for the
// reason its description gives, not merely for some reason.
func TestFernetSpecInvalidReasons(t *testing.T) {
	want := map[string]string{
		"incorrect mac":  "HMAC mismatch",
		"too short":      "too short",
		"invalid base64": "invalid base64",
		"payload size not multiple of block size": "not a multiple of 16",
		"payload padding error":                   "padding",
		"incorrect IV (causes padding error)":     "padding",
	}
	for _, v := range loadSpec(t, "invalid.json") {
		reason, ok := want[v.Desc]
		if !ok {
			if !slices.Contains(acceptedByDesign, v.Desc) {
				t.Errorf("unexpected invalid vector %q", v.Desc)
			}
			continue
		}
		_, err := OpenFernet(fromBytes([]byte(v.Token)), specKey(t, v))
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(reason)) {
			t.Errorf("%s: error %v, want one about %q", v.Desc, err, reason)
		}
	}
}
