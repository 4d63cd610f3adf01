package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/testutil/tools"
)

// resumeContent is half random, half compressible, so that zstd both
// stores raw blocks and compresses.
func resumeContent(n int, seed uint64) []byte {
	b := randomBytes(n, seed)
	text := []byte("the quick brown fox jumps over the lazy dog; ")
	for i := n / 2; i < n; i++ {
		b[i] = text[i%len(text)]
	}
	return b
}

// encodeStep writes content as an archive in writes of step bytes and
// returns it with the writer's stream state, checking that the state was
// available, and its header written to dst, when NewWriter returned.
func encodeStep(t testing.TB, fi FileInfo, content []byte, opt Options, step int) ([]byte, StreamState) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fi, opt)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := w.StreamState()
	if !ok {
		t.Fatal("encrypting writer has no stream state")
	}
	if !bytes.Equal(buf.Bytes(), st.Header) {
		t.Fatalf("when NewWriter returned, dst held %d bytes, not the %d-byte header and nonce", buf.Len(), len(st.Header))
	}
	for rest := content; len(rest) > 0; {
		n := min(step, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

// TestContinueReproducesArchive is the promise resumed uploads rely on: a
// Writer continuing a captured StreamState writes the same bytes as the
// Writer that captured it, and both are valid archives.
func TestContinueReproducesArchive(t *testing.T) {
	k := testKey(t)
	id := k.AgeIdentity()
	sizes := []int{0, 1, 511, 512, 65535, 65536, 65537, 2 * 65536,
		// Content sizes that make the uncompressed tar stream, hence the
		// age payload, exactly one and two 64 KiB chunks.
		65536 - 2560, 2*65536 - 2560,
		5<<20 + 3}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		sizes = append(sizes, rng.IntN(3<<20))
	}
	if raceEnabled {
		sizes[len(sizes)-5] = 1<<20 + 3
	}
	for _, compress := range []bool{false, true} {
		for i, size := range sizes {
			t.Run(fmt.Sprintf("compress=%v/size=%d", compress, size), func(t *testing.T) {
				content := resumeContent(size, uint64(i)+100)
				fi := testInfo(size)
				opt := Options{Compress: compress, Recipient: id.Recipient()}
				first, st := encodeStep(t, fi, content, opt, 1<<20)

				// A resumed run: other write sizes, Recipient not set.
				again, st2 := encodeStep(t, fi, content, Options{Compress: compress, Continue: &st}, 4093)
				if !bytes.Equal(first, again) {
					t.Fatalf("continued archive differs: %d and %d bytes, first difference at %d",
						len(first), len(again), firstDiff(first, again))
				}
				if !bytes.Equal(st2.Header, st.Header) || st2.FileKey != st.FileKey {
					t.Error("the continuing writer reports another stream state")
				}

				for name, archive := range map[string][]byte{"first": first, "continued": again} {
					got, data, err := decode(archive, id)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !bytes.Equal(data, content) || !sameInfo(got, fi) {
						t.Fatalf("%s: decoded %d bytes as %+v, want %d bytes as %+v", name, len(data), got, len(content), fi)
					}
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestStreamWriterMatchesAge compares the continuation stream with age's own
// at payload sizes around the 64 KiB chunk boundaries, written in pieces of
// several sizes.
func TestStreamWriterMatchesAge(t *testing.T) {
	id := testKey(t).AgeIdentity()
	const c = ageChunkSize
	for _, size := range []int{0, 1, c - 1, c, c + 1, 2*c - 1, 2 * c, 2*c + 1, 3*c + 17} {
		payload := randomBytes(size, uint64(size))
		var ref bytes.Buffer
		aw, st, err := encryptCapture(&ref, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := aw.Write(payload); err != nil {
			t.Fatal(err)
		}
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
		for _, step := range []int{1, 1000, c - 1, c, c + 1, 1 << 20} {
			if step == 1 && size > 2*c {
				continue
			}
			var buf bytes.Buffer
			sw, err := continueStream(&buf, st)
			if err != nil {
				t.Fatal(err)
			}
			for rest := payload; len(rest) > 0; {
				n := min(step, len(rest))
				if k, err := sw.Write(rest[:n]); err != nil || k != n {
					t.Fatalf("write: %d, %v", k, err)
				}
				rest = rest[n:]
			}
			if err := sw.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), ref.Bytes()) {
				t.Fatalf("payload %d in writes of %d: %d bytes differ from age's %d at %d",
					size, step, buf.Len(), ref.Len(), firstDiff(buf.Bytes(), ref.Bytes()))
			}
			if _, err := sw.Write([]byte{1}); err == nil {
				t.Fatal("write after Close succeeded")
			}
		}
		r, err := age.Decrypt(bytes.NewReader(ref.Bytes()), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("age decrypts payload %d to %d bytes, %v", size, len(got), err)
		}
	}
}

// labelRecipient has labels, so age calls WrapWithLabels and never Wrap.
type labelRecipient struct {
	age.Recipient
	calls *int
}

func (r labelRecipient) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	*r.calls++
	s, err := r.Recipient.Wrap(fileKey)
	return s, []string{"grsync-test"}, err
}

func TestCaptureForwardsLabels(t *testing.T) {
	k := testKey(t)
	calls := 0
	fi := testInfo(100)
	content := resumeContent(100, 3)
	first, st := encodeStep(t, fi, content, Options{Recipient: labelRecipient{k.AgeIdentity().Recipient(), &calls}}, 100)
	if calls != 1 {
		t.Fatalf("WrapWithLabels called %d times, want 1", calls)
	}
	again, _ := encodeStep(t, fi, content, Options{Continue: &st}, 7)
	if !bytes.Equal(first, again) {
		t.Fatal("continued archive differs")
	}
	if _, data, err := decode(again, k.AgeIdentity()); err != nil || !bytes.Equal(data, content) {
		t.Fatalf("decode: %v", err)
	}
}

func TestStreamStateOfWriter(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, testInfo(0), o.options(k))
		if err != nil {
			t.Fatal(err)
		}
		st, ok := w.StreamState()
		if ok != o.encrypt {
			t.Errorf("%s: StreamState ok = %v", o.name, ok)
		}
		if !ok && (st.Header != nil || st.FileKey != [16]byte{}) {
			t.Errorf("%s: not encrypting, but state %+v", o.name, st)
		}
		if ok {
			st.Header[0] ^= 1 // must not change the writer's copy
			if st2, _ := w.StreamState(); st2.Header[0] != ageMagic[0] {
				t.Errorf("%s: StreamState shares memory with the writer", o.name)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Fresh randomness each time: the capture is what makes runs equal.
	fi := testInfo(10)
	opt := Options{Recipient: k.AgeIdentity().Recipient()}
	a, sa := encodeStep(t, fi, []byte("0123456789"), opt, 10)
	b, sb := encodeStep(t, fi, []byte("0123456789"), opt, 10)
	if bytes.Equal(a, b) || sa.FileKey == sb.FileKey || bytes.Equal(sa.Header, sb.Header) {
		t.Fatal("two encrypting writers drew the same randomness")
	}
	if Encoding(Options{Continue: &sa}) != "grsync1+age" || Encoding(Options{Compress: true, Continue: &sa}) != "grsync1+zstd+age" {
		t.Error("Encoding ignores Continue")
	}

	// The caller's state is copied: changing it after NewWriter changes nothing.
	var buf bytes.Buffer
	st := sa.clone()
	w, err := NewWriter(&buf, fi, Options{Continue: &st})
	if err != nil {
		t.Fatal(err)
	}
	st.Header[len(st.Header)-1] ^= 1
	st.FileKey[0] ^= 1
	w.Write([]byte("0123456789"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), a) {
		t.Fatal("the writer used the caller's StreamState after NewWriter returned")
	}
}

// TestContinueWithOtherState: a state that does not belong together is
// refused, and another payload nonce gives another (valid) archive.
func TestContinueWithOtherState(t *testing.T) {
	k := testKey(t)
	fi := testInfo(70000)
	content := resumeContent(70000, 5)
	opt := Options{Compress: true, Recipient: k.AgeIdentity().Recipient()}
	a, sa := encodeStep(t, fi, content, opt, 1<<20)
	_, sb := encodeStep(t, fi, content, opt, 1<<20)

	bad := map[string]StreamState{
		"other file key":      {Header: sa.Header, FileKey: sb.FileKey},
		"other header":        {Header: sb.Header, FileKey: sa.FileKey},
		"flipped key bit":     {Header: sa.Header, FileKey: flipKey(sa.FileKey)},
		"flipped header byte": {Header: flip(sa.Header, len(ageMagic)+5), FileKey: sa.FileKey},
		"flipped MAC byte":    {Header: flip(sa.Header, len(sa.Header)-ageNonceSize-5), FileKey: sa.FileKey},
		"no nonce":            {Header: sa.Header[:len(sa.Header)-ageNonceSize], FileKey: sa.FileKey},
		"empty":               {FileKey: sa.FileKey},
		"magic only":          {Header: []byte(ageMagic), FileKey: sa.FileKey},
		"too long":            {Header: append(bytes.Clone(sa.Header), make([]byte, maxStreamHeader)...), FileKey: sa.FileKey},
	}
	for name, st := range bad {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, fi, Options{Compress: true, Continue: &st})
		if err == nil {
			w.Close()
			t.Errorf("%s: NewWriter accepted the state", name)
			continue
		}
		if !errors.Is(err, ErrStreamState) {
			t.Errorf("%s: %v, want ErrStreamState", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written before the refusal", name, buf.Len())
		}
	}

	// The payload nonce is not covered by the header MAC: another nonce
	// gives a valid archive that differs from the first after the header.
	other := StreamState{Header: flip(sa.Header, len(sa.Header)-1), FileKey: sa.FileKey}
	c, _ := encodeStep(t, fi, content, Options{Compress: true, Continue: &other}, 1<<20)
	if d := firstDiff(a, c); d != len(sa.Header)-1 || bytes.Equal(a[len(sa.Header):len(sa.Header)+64], c[len(sa.Header):len(sa.Header)+64]) {
		t.Fatalf("another nonce: first difference at %d (header is %d bytes), or payload equal", d, len(sa.Header))
	}
	if _, data, err := decode(c, k.AgeIdentity()); err != nil || !bytes.Equal(data, content) {
		t.Fatalf("another nonce: decode: %v", err)
	}
	// Splicing the first archive's payload after that nonce fails to decrypt.
	spliced := append(bytes.Clone(c[:len(sa.Header)]), a[len(sa.Header):]...)
	if _, _, err := decode(spliced, k.AgeIdentity()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("payload under another nonce: %v, want ErrCorrupt", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func flipKey(k [16]byte) [16]byte {
	k[3] ^= 0x80
	return k
}

// TestContinuedArchiveWithAgeCLI decrypts a continued archive with stock
// age; what comes out is the inner grsync archive.
func TestContinuedArchiveWithAgeCLI(t *testing.T) {
	tools.Require(t, "age")
	k := testKey(t)
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id.txt")
	if err := os.WriteFile(idFile, []byte(k.AgeIdentityString()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, compress := range []bool{false, true} {
		content := resumeContent(3*ageChunkSize+5, 9)
		fi := testInfo(len(content))
		_, st := encodeStep(t, fi, content, Options{Compress: compress, Recipient: k.AgeIdentity().Recipient()}, 1<<20)
		again, _ := encodeStep(t, fi, content, Options{Compress: compress, Continue: &st}, 1<<20)
		archive := filepath.Join(dir, "archive")
		if err := os.WriteFile(archive, again, 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd := exec.Command("age", "-d", "-i", idFile, archive)
		cmd.Stderr = &stderr
		inner, err := cmd.Output()
		if err != nil {
			t.Fatalf("age -d: %v\n%s", err, stderr.String())
		}
		got, data, err := decode(inner, nil)
		if err != nil || !bytes.Equal(data, content) || !sameInfo(got, fi) {
			t.Fatalf("compress=%v: inner archive: %v", compress, err)
		}
	}
}

func testStreamState(t testing.TB) StreamState {
	t.Helper()
	var buf bytes.Buffer
	_, st, err := encryptCapture(&buf, testKey(t).AgeIdentity().Recipient())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSealStreamState(t *testing.T) {
	st := testStreamState(t)
	key := [32]byte{1, 2, 3}
	blob, err := SealStreamState(st, key, detRand(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) != sealMinLen+len(st.Header) {
		t.Errorf("sealed %d bytes, want %d", len(blob), sealMinLen+len(st.Header))
	}
	if bytes.Contains(blob, st.FileKey[:]) {
		t.Error("the sealed state holds the file key in the clear")
	}
	got, err := OpenStreamState(blob, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Header, st.Header) || got.FileKey != st.FileKey {
		t.Fatal("round trip changed the state")
	}
	if blob2, _ := SealStreamState(st, key, detRand(2)); bytes.Equal(blob, blob2) {
		t.Error("two nonces gave the same blob")
	}

	fails := func(name string, blob []byte, key [32]byte, also error) {
		t.Helper()
		_, err := OpenStreamState(blob, key)
		if !errors.Is(err, ErrStreamState) {
			t.Errorf("%s: %v, want ErrStreamState", name, err)
		} else if also != nil && !errors.Is(err, also) {
			t.Errorf("%s: %v, want also %v", name, err, also)
		}
	}
	fails("wrong key", blob, [32]byte{1, 2, 4}, nil)
	fails("empty", nil, key, nil)
	fails("version 2", append([]byte{2}, blob[1:]...), key, ErrUnsupportedVersion)
	fails("version 0", append([]byte{0}, blob[1:]...), key, ErrUnsupportedVersion)
	fails("appended byte", append(bytes.Clone(blob), 0), key, nil)
	for i := range len(blob) * 8 {
		b := bytes.Clone(blob)
		b[i/8] ^= 1 << (i % 8)
		fails(fmt.Sprintf("bit %d flipped", i), b, key, nil)
	}
	for n := range len(blob) {
		fails(fmt.Sprintf("truncated to %d", n), blob[:n], key, nil)
	}

	// Only a consistent state is sealed.
	if _, err := SealStreamState(StreamState{Header: st.Header, FileKey: flipKey(st.FileKey)}, key, detRand(1)); !errors.Is(err, ErrStreamState) {
		t.Errorf("sealed a header with another file key: %v", err)
	}
	if _, err := SealStreamState(st, key, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("sealed with a short random source")
	}
}

func TestWriterID(t *testing.T) {
	id := WriterID()
	if id == "" || id != WriterID() {
		t.Fatalf("WriterID %q is empty or changes", id)
	}
	for _, part := range []string{writerIDVersion, "go=go", "tar=" + tarLayout, "age=" + ageStream, "window=8388608"} {
		if !strings.Contains(id, part) {
			t.Errorf("WriterID %q lacks %q", id, part)
		}
	}
	// The zstd version is known in a program's build information; test
	// binaries list no dependencies, and then the ID says "unknown".
	want := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == zstdModule && m.Replace == nil {
				want = zstdModule + "@" + m.Version
			}
		}
	}
	if !strings.Contains(id, "zstd="+want+"(") {
		t.Errorf("WriterID %q does not name the zstd module as %q", id, want)
	}
	t.Logf("WriterID: %s", id)
}

func TestModuleVersionIn(t *testing.T) {
	dep := func(path, version string, replace *debug.Module) *debug.Module {
		return &debug.Module{Path: path, Version: version, Replace: replace}
	}
	for _, c := range []struct {
		deps []*debug.Module
		want string
	}{
		{nil, "unknown"},
		{[]*debug.Module{dep("example.com/other", "v1.0.0", nil)}, "unknown"},
		{[]*debug.Module{dep("example.com/other", "v1.0.0", nil), dep(zstdModule, "v1.20.4", nil)}, zstdModule + "@v1.20.4"},
		{[]*debug.Module{dep(zstdModule, "v1.20.4", dep("example.com/fork", "v1.20.5", nil))}, "example.com/fork@v1.20.5"},
		{[]*debug.Module{dep(zstdModule, "v1.20.4", dep("../compress", "", nil))}, "unknown"},
		{[]*debug.Module{dep(zstdModule, "", nil)}, "unknown"},
	} {
		if got := moduleVersionIn(&debug.BuildInfo{Deps: c.deps}, zstdModule); got != c.want {
			t.Errorf("moduleVersionIn(%v) = %q, want %q", c.deps, got, c.want)
		}
	}
}
