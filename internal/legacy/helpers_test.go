package legacy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testKey returns a fixed key for tokens made in tests.
func testKey(t testing.TB) FernetKey {
	t.Helper()
	k, err := FernetKeyFromRaw([]byte("0123456789abcdefFEDCBA9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testParams returns token parameters with a fixed key, timestamp and IV.
func testParams(t testing.TB) tokenParams {
	return tokenParams{key: testKey(t), ts: 499162800, iv: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}
}

// fromBytes is an open function yielding b on every call.
func fromBytes(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// fromFile is an open function yielding a file's bytes on every call.
func fromFile(path string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}

// passes is an open function yielding first on its first call and second on
// every later one: an archive whose bytes change between the two passes.
func passes(first, second []byte) func() (io.ReadCloser, error) {
	calls := 0
	return func() (io.ReadCloser, error) {
		calls++
		if calls == 1 {
			return io.NopCloser(bytes.NewReader(first)), nil
		}
		return io.NopCloser(bytes.NewReader(second)), nil
	}
}

// drain reads r to its end and returns everything it returned and the error
// that ended it (nil for io.EOF).
func drain(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 1000) // odd size, to cross chunk edges unevenly
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// decodeAll decodes one fernet token fully. It returns the plaintext only
// when the reader ended in io.EOF, and otherwise what the reader released
// before it failed.
func decodeAll(open func() (io.ReadCloser, error), k FernetKey, chunk int64) ([]byte, error) {
	r, err := openFernet(open, k, chunk)
	if err != nil {
		return nil, err
	}
	out, err := drain(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// readTestdata reads a file under testdata.
func readTestdata(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errorsIsAny reports whether err wraps any of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
