package keys

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/testutil/tools"
)

// Known answers for vectorKey. The age identity and recipient were checked
// with the real tools: `age-keygen -y` on the identity prints the recipient,
// and the Python program in docs/FORMAT.md prints the identity.
const (
	vectorAgeIdentity  = "AGE-SECRET-KEY-1YNZAVVE4XQA2SQHWY7SHELCE80T7PR3DELXKAR2G0FFWW5Y93CJS9FC7XF"
	vectorAgeRecipient = "age1g639dqyqxquac9l48yx9640c4szzqhmy6c0plyfvearewtflrvmsmuu4qp"
	vectorFingerprint  = "k1:7f0ec113dcbb1946"
	vectorMetadataKey  = "8cf227beab5cd622d2f7249fb81eb0beb32c3c720d1e9812551b9e8ed92e7f34"
	vectorHashOfHello  = "84910b26838d58855b36e9dcd10386630efb1e1ccd71a1cce9dceb4e9a7c5478" // content "hello\n"
	// Computed with Python's hmac module from the two-HMAC formula of
	// docs/FORMAT.md section 1.2.
	vectorChunkerKey  = "19e33db392faba3a68db5f96712bac91cd8cd1cd8e2d8456efeaa95714d36220"
	vectorMarkerKey   = "2ec846203305acc0e88ddddb99d5d2539c171aa6bbd1b517b15e48a6b4523c19"
	vectorMarkerID    = "000102030405060708090a0b0c0d0e0f"
	vectorMarkerProof = "Vv3zai-o7pHylhBEyHKCHw" // checked with Python's hmac and hashlib
)

func mustParse(t testing.TB, s string) Key {
	t.Helper()
	k, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDerivedVectors(t *testing.T) {
	k := mustParse(t, vectorKey)
	if got := k.AgeIdentityString(); got != vectorAgeIdentity {
		t.Errorf("AgeIdentityString = %s, want %s", got, vectorAgeIdentity)
	}
	if got := k.AgeIdentity().Recipient().String(); got != vectorAgeRecipient {
		t.Errorf("recipient = %s, want %s", got, vectorAgeRecipient)
	}
	if got := k.Fingerprint(); got != vectorFingerprint {
		t.Errorf("Fingerprint = %s, want %s", got, vectorFingerprint)
	}
	mk := k.MetadataKey()
	if got := hex.EncodeToString(mk[:]); got != vectorMetadataKey {
		t.Errorf("MetadataKey = %s, want %s", got, vectorMetadataKey)
	}
	ck := k.ChunkerKey()
	if got := hex.EncodeToString(ck[:]); got != vectorChunkerKey {
		t.Errorf("ChunkerKey = %s, want %s", got, vectorChunkerKey)
	}
	h := k.ContentHash()
	h.Write([]byte("hello\n"))
	if got := hex.EncodeToString(h.Sum(nil)); got != vectorHashOfHello {
		t.Errorf("ContentHash(hello) = %s, want %s", got, vectorHashOfHello)
	}
	mak := k.MarkerKey()
	if got := hex.EncodeToString(mak[:]); got != vectorMarkerKey {
		t.Errorf("MarkerKey = %s, want %s", got, vectorMarkerKey)
	}
	if got := k.MarkerProof(vectorMarkerID); got != vectorMarkerProof {
		t.Errorf("MarkerProof(%s) = %s, want %s", vectorMarkerID, got, vectorMarkerProof)
	}
}

// TestMarkerProofVectorInFormatDoc checks that docs/FORMAT.md section 10
// shows the marker key and the marker of the test vector.
func TestMarkerProofVectorInFormatDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{vectorMarkerKey, "grsync-store 1 id=" + vectorMarkerID + " key=" + vectorMarkerProof} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/FORMAT.md does not show %q", want)
		}
	}
}

// TestMarkerProof checks the proof's form, and that it depends on the key
// and on the store id (so that proofs do not link stores).
func TestMarkerProof(t *testing.T) {
	k := mustParse(t, vectorKey)
	other := mustParse(t, "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	p := k.MarkerProof(vectorMarkerID)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(p) || len(p) != MarkerProofLen {
		t.Errorf("proof %q is not 22 characters of unpadded base64url", p)
	}
	if other.MarkerProof(vectorMarkerID) == p || k.MarkerProof("ffeeddccbbaa99887766554433221100") == p {
		t.Error("the proof does not depend on both the key and the store id")
	}
	mak := k.MarkerKey()
	if mk := k.MetadataKey(); mak == mk || hex.EncodeToString(mak[:]) == hex.EncodeToString(k.Raw()) {
		t.Error("the marker key equals another key")
	}
}

// TestDerivationMatchesSpec recomputes the derived keys with the two-HMAC
// formula of docs/FORMAT.md section 1.2, independently of crypto/hkdf.
func TestDerivationMatchesSpec(t *testing.T) {
	k := mustParse(t, vectorKey)
	spec := func(info string, n int) []byte {
		m := hmac.New(sha256.New, make([]byte, 32))
		m.Write(k.Raw())
		prk := m.Sum(nil)
		m = hmac.New(sha256.New, prk)
		m.Write([]byte(info))
		m.Write([]byte{1})
		return m.Sum(nil)[:n]
	}
	mk := k.MetadataKey()
	if !bytes.Equal(mk[:], spec("grsync/v1 metadata", 32)) {
		t.Error("metadata key differs from the spec formula")
	}
	rk := k.ResumeKey()
	if !bytes.Equal(rk[:], spec("grsync/v1 resume-state", 32)) || bytes.Equal(rk[:], mk[:]) {
		t.Error("resume key differs from the spec formula, or equals the metadata key")
	}
	ck := k.ChunkerKey()
	if !bytes.Equal(ck[:], spec("grsync/v1 chunker", 32)) {
		t.Error("chunker key differs from the spec formula")
	}
	mak := k.MarkerKey()
	if !bytes.Equal(mak[:], spec("grsync/v1 marker", 32)) {
		t.Error("marker key differs from the spec formula")
	}
	if k.Fingerprint() != "k1:"+hex.EncodeToString(spec("grsync/v1 fingerprint", 8)) {
		t.Error("fingerprint differs from the spec formula")
	}
	hk := hmac.New(sha256.New, spec("grsync/v1 content-hash", 32))
	hk.Write([]byte("hello\n"))
	h := k.ContentHash()
	h.Write([]byte("hello\n"))
	if !bytes.Equal(h.Sum(nil), hk.Sum(nil)) {
		t.Error("content hash differs from the spec formula")
	}
	scalar, err := bech32Encode("age-secret-key-", spec("grsync/v1 age-x25519", 32))
	if err != nil {
		t.Fatal(err)
	}
	if strings.ToUpper(scalar) != k.AgeIdentityString() {
		t.Error("age identity differs from the spec formula")
	}
}

func TestDerivedKeysAreIndependent(t *testing.T) {
	k := mustParse(t, vectorKey)
	mk := k.MetadataKey()
	ck := k.ChunkerKey()
	rk := k.ResumeKey()
	h := k.ContentHash()
	plain := sha256.Sum256(nil)
	seen := map[string]string{
		"raw":           hex.EncodeToString(k.Raw()),
		"metadata":      hex.EncodeToString(mk[:]),
		"chunker":       hex.EncodeToString(ck[:]),
		"resume":        hex.EncodeToString(rk[:]),
		"hash(empty)":   hex.EncodeToString(h.Sum(nil)),
		"sha256(empty)": hex.EncodeToString(plain[:]),
		"sha256(raw)":   sha256Hex(k.Raw()),
	}
	fp := strings.TrimPrefix(k.Fingerprint(), "k1:")
	if !regexp.MustCompile(`^k1:[0-9a-f]{16}$`).MatchString(k.Fingerprint()) {
		t.Errorf("fingerprint %q has the wrong form", k.Fingerprint())
	}
	for name, v := range seen {
		if strings.Contains(v, fp) {
			t.Errorf("fingerprint %s appears in %s", fp, name)
		}
		for name2, v2 := range seen {
			if name < name2 && v == v2 {
				t.Errorf("%s and %s are the same bytes", name, name2)
			}
		}
	}
	other := mustParse(t, "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if other.Fingerprint() == k.Fingerprint() || other.AgeIdentityString() == k.AgeIdentityString() || other.MetadataKey() == k.MetadataKey() || other.ChunkerKey() == k.ChunkerKey() {
		t.Error("a different key gave the same derived value")
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestAgeIdentityEncryptsAndDecrypts(t *testing.T) {
	k := mustParse(t, vectorKey)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, k.AgeIdentity().Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "secret")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Decrypt with an identity parsed from the exported text, as age -i does.
	ids, err := age.ParseIdentities(strings.NewReader(k.AgeIdentityString() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(&buf, ids...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "secret" {
		t.Errorf("decrypted %q, %v", got, err)
	}
}

// TestBech32MatchesAge re-encodes identities that age generated and checks
// the result is byte for byte what age printed.
func TestBech32MatchesAge(t *testing.T) {
	check := func(s string) {
		t.Helper()
		scalar := decodeBech32ForTest(t, s)
		got, err := bech32Encode("age-secret-key-", scalar)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ToUpper(got) != s {
			t.Errorf("re-encoded %s as %s", s, strings.ToUpper(got))
		}
	}
	for range 200 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		check(id.String())
	}

	// A key made by the real age-keygen, stored with its comments.
	f, err := os.Open("testdata/age-keygen.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var secret, public string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "# public key: "); ok {
			public = p
		} else if strings.HasPrefix(line, "AGE-SECRET-KEY-1") {
			secret = line
		}
	}
	if secret == "" || public == "" {
		t.Fatal("testdata/age-keygen.txt lacks a key or its public key")
	}
	check(secret)
	scalar := decodeBech32ForTest(t, secret)
	enc, _ := bech32Encode("age-secret-key-", scalar)
	id, err := age.ParseX25519Identity(strings.ToUpper(enc))
	if err != nil {
		t.Fatal(err)
	}
	if id.Recipient().String() != public {
		t.Errorf("recipient %s, age-keygen said %s", id.Recipient(), public)
	}
}

func TestBech32RejectsBadHRP(t *testing.T) {
	for _, hrp := range []string{"", "AGE-SECRET-KEY-", "a b"} {
		if _, err := bech32Encode(hrp, []byte{1}); err == nil {
			t.Errorf("hrp %q accepted", hrp)
		}
	}
}

func TestAgeRejectsCorruptedIdentity(t *testing.T) {
	// age verifies the checksum we compute: changing one data character
	// must make it refuse the string.
	s := []byte(mustParse(t, vectorKey).AgeIdentityString())
	s[20] = map[bool]byte{true: 'Q', false: 'P'}[s[20] == 'P']
	if _, err := age.ParseX25519Identity(string(s)); err == nil {
		t.Error("age accepted an identity with a corrupted character")
	}
}

// decodeBech32ForTest extracts the 32 data bytes of an age secret key.
func decodeBech32ForTest(t *testing.T, s string) []byte {
	t.Helper()
	lower := strings.ToLower(s)
	sep := strings.LastIndexByte(lower, '1')
	if sep < 0 || len(lower)-sep-1 < 6 {
		t.Fatalf("not bech32: %s", s)
	}
	var acc uint32
	bits := 0
	var out []byte
	for _, c := range lower[sep+1 : len(lower)-6] {
		v := strings.IndexRune(bech32Charset, c)
		if v < 0 {
			t.Fatalf("bad bech32 character %q in %s", c, s)
		}
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if len(out) != 32 {
		t.Fatalf("%s holds %d bytes", s, len(out))
	}
	return out
}

func TestAgeKeygenAgreesOnRecipient(t *testing.T) {
	tools.Require(t, "age-keygen")
	k := mustParse(t, vectorKey)
	p := filepath.Join(t.TempDir(), "id.txt")
	if err := os.WriteFile(p, []byte(k.AgeIdentityString()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("age-keygen", "-y", p).CombinedOutput()
	if err != nil {
		t.Fatalf("age-keygen -y: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != k.AgeIdentity().Recipient().String() {
		t.Errorf("age-keygen -y = %s, want %s", got, k.AgeIdentity().Recipient())
	}
}

// TestFormatDocRecipe runs the Python program of docs/FORMAT.md section 7,
// so that the documented recovery recipe cannot drift from the code.
func TestFormatDocRecipe(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("SKIPPED: python3 is not on PATH; the documented key-derivation program was not checked")
	}
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- derive.py begin -->\\s*```python\n(.*?)```\\s*<!-- derive.py end -->").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/FORMAT.md has no derive.py block")
	}
	var prog strings.Builder
	for _, line := range strings.Split(string(m[1]), "\n") {
		prog.WriteString(strings.TrimPrefix(line, "   "))
		prog.WriteByte('\n')
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "derive.py")
	if err := os.WriteFile(script, []byte(prog.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, keyText := range []string{vectorKey + "\n", strings.TrimSuffix(vectorKey, "=")} {
		kf := filepath.Join(dir, "my.key")
		if err := os.WriteFile(kf, []byte(keyText), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("python3", script, kf).CombinedOutput()
		if err != nil {
			t.Fatalf("python3 derive.py: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != vectorAgeIdentity {
			t.Errorf("documented program printed %s, want %s", got, vectorAgeIdentity)
		}
	}
}
