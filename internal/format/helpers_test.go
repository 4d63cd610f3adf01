package format

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/keys"
)

const testKeyText = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func testKey(t testing.TB) keys.Key {
	t.Helper()
	k, err := keys.Parse(testKeyText)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// otherKey is a key unrelated to testKey.
func otherKey(t testing.TB) keys.Key {
	t.Helper()
	k, err := keys.Generate(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// optionSet is one of the four layer combinations.
type optionSet struct {
	name     string
	compress bool
	encrypt  bool
}

var optionSets = []optionSet{
	{"grsync1", false, false},
	{"grsync1+zstd", true, false},
	{"grsync1+age", false, true},
	{"grsync1+zstd+age", true, true},
}

func (o optionSet) options(k keys.Key) Options {
	opt := Options{Compress: o.compress}
	if o.encrypt {
		opt.Recipient = k.AgeIdentity().Recipient()
	}
	return opt
}

func (o optionSet) identity(k keys.Key) age.Identity {
	if o.encrypt {
		return k.AgeIdentity()
	}
	return nil
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

func testInfo(size int) FileInfo {
	return FileInfo{
		Path:    "/home/ann/docs/report.txt",
		Size:    int64(size),
		Mode:    0o640,
		ModTime: time.Unix(1700000000, 123456789),
	}
}

// encode writes content as an archive, in uneven pieces like a real reader.
func encode(t testing.TB, fi FileInfo, content []byte, opt Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fi, opt)
	if err != nil {
		t.Fatal(err)
	}
	steps := []int{1, 7, 512, 4096, 65535, 65536, 200 << 10, 1 << 20, 3}
	for rest, i := content, 0; len(rest) > 0; i++ {
		n := min(steps[i%len(steps)], len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decode reads an archive completely; err is the first error of Open,
// Read or the end checks.
func decode(archive []byte, id age.Identity) (FileInfo, []byte, error) {
	r, err := Open(bytes.NewReader(archive), id)
	if err != nil {
		return FileInfo{}, nil, err
	}
	defer r.Close()
	content, err := io.ReadAll(r)
	return r.Info(), content, err
}

func sameInfo(a, b FileInfo) bool {
	return a.Path == b.Path && a.Size == b.Size && a.Mode == b.Mode && a.ModTime.Equal(b.ModTime)
}
