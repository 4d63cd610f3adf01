package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDefaultPolynomial(t *testing.T) {
	pol := Default().polynomial()
	if !pol.Irreducible() || pol.Deg() != 53 {
		t.Errorf("default polynomial %s: irreducible %v, degree %d; want irreducible of degree 53", pol, pol.Irreducible(), pol.Deg())
	}
	if (Params{}).polynomial() != pol {
		t.Error("the zero Params do not use the default polynomial")
	}
}

// TestKeyedPolynomial pins the polynomial derived from the test key, as
// docs/FORMAT.md section 1.4 describes it (the value was also computed by an
// independent Python program: HKDF-Expand, then the irreducibility test
// x^(2^53) = x mod f). A change here moves every boundary of every encrypted
// user's large files.
func TestKeyedPolynomial(t *testing.T) {
	p := keyed(t, testKey())
	if got, want := p.polynomial().String(), "0x2e5907e2fbb553"; got != want {
		t.Errorf("polynomial for the test key = %s, want %s", got, want)
	}
	if !p.polynomial().Irreducible() || p.polynomial().Deg() != 53 {
		t.Errorf("derived polynomial %s is not irreducible of degree 53", p.polynomial())
	}
	if s := fmt.Sprintf("%v %s %+v %#v %v", p, p, p, p, []Params{p}); strings.Contains(s, "2e5907e2fbb553") || strings.Contains(s, "13045739336480083") || !strings.Contains(s, "keyed") {
		t.Errorf("printing Params gave %q: it must say keyed and not show the polynomial", s)
	}
	if again := keyed(t, testKey()); again != p {
		t.Errorf("the same key gave %s, then %s", p.polynomial(), again.polynomial())
	}
	other := testKey()
	other[0] ^= 1
	if keyed(t, other) == p {
		t.Error("keys that differ in one bit gave the same polynomial")
	}
}

// TestGoldenBoundaries pins the chunk sizes of a fixed pseudo-random input,
// with and without a key. If a library upgrade or a code change moves them,
// every user's large files would be uploaded again in full: that must be a
// deliberate, documented format change, never an accident.
func TestGoldenBoundaries(t *testing.T) {
	data := randomData(42, 8*mib)
	for _, tc := range []struct {
		name string
		p    Params
		want []int
	}{
		{"default", Default(), []int{2529079, 823966, 1639019, 2493092, 903452}},
		{"keyed", keyed(t, testKey()), []int{1173247, 1506278, 1910162, 650004, 2369552, 779365}},
	} {
		if got := sizesOf(t, data, tc.p); !slices.Equal(got, tc.want) {
			t.Errorf("%s: chunk sizes %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	data := randomData(5, testSize(24*mib))
	for _, p := range []Params{Default(), keyed(t, testKey())} {
		a := sizesOf(t, data, p)
		b := sizesOf(t, data, p)
		if !slices.Equal(a, b) {
			t.Errorf("two runs over the same input: %v and %v", a, b)
		}
		if len(a) < len(data)/(3*mib) {
			t.Errorf("%d bytes of random data gave only %d chunks: %v", len(data), len(a), a)
		}
		for i, n := range a[:len(a)-1] {
			if n < MinSize || n > MaxSize {
				t.Errorf("chunk %d has %d bytes, outside [%d, %d]", i, n, MinSize, MaxSize)
			}
		}
	}
}

// boundaries returns the offsets where chunks end, the end of the input
// excluded.
func boundaries(sizes []int) map[int]bool {
	out := map[int]bool{}
	off := 0
	for _, n := range sizes[:len(sizes)-1] {
		off += n
		out[off] = true
	}
	return out
}

func TestKeysGiveDifferentBoundaries(t *testing.T) {
	data := randomData(6, max(testSize(32*mib), 16*mib))
	other := testKey()
	other[31] ^= 0x80
	sets := map[string]map[int]bool{
		"default":      boundaries(sizesOf(t, data, Default())),
		"test key":     boundaries(sizesOf(t, data, keyed(t, testKey()))),
		"another key":  boundaries(sizesOf(t, data, keyed(t, other))),
		"test key (2)": boundaries(sizesOf(t, data, keyed(t, testKey()))),
	}
	if !mapsEqual(sets["test key"], sets["test key (2)"]) {
		t.Error("the same key gave different boundaries")
	}
	for _, pair := range [][2]string{{"default", "test key"}, {"default", "another key"}, {"test key", "another key"}} {
		a, b := sets[pair[0]], sets[pair[1]]
		common := 0
		for off := range a {
			if b[off] {
				common++
			}
		}
		// Each has one boundary per 1.5 MiB; a shared one happens by chance
		// with a probability near 1e-5.
		if n := len(data) / (4 * mib); common > 0 || len(a) < n || len(b) < n {
			t.Errorf("%s and %s: %d and %d boundaries, %d in common", pair[0], pair[1], len(a), len(b), common)
		}
	}
}

func mapsEqual(a, b map[int]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestEmptyInput(t *testing.T) {
	c := New(bytes.NewReader(nil), Default())
	for range 3 {
		if ch, err := c.Next(); !errors.Is(err, io.EOF) || len(ch.Data) != 0 {
			t.Fatalf("Next on empty input = %d bytes, %v; want io.EOF", len(ch.Data), err)
		}
	}
}

func TestShortInputs(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 4096, MinSize - 1, MinSize, MinSize + 1} {
		data := randomData(7, n)
		if got := sizesOf(t, data, keyed(t, testKey())); !slices.Equal(got, []int{n}) {
			t.Errorf("%d bytes gave chunks %v, want one chunk", n, got)
		}
	}
}

// TestRunsWithoutBoundaries: a run of one byte value has the same window
// everywhere, so it either never or always qualifies as a boundary. Zeros
// always do (the Rabin fingerprint of zeros is zero): MinSize chunks. Other
// values never do for these polynomials: MaxSize chunks.
func TestRunsWithoutBoundaries(t *testing.T) {
	n := MaxSize + 3*mib
	for _, p := range []Params{Default(), keyed(t, testKey())} {
		zeros := make([]int, n/MinSize)
		for i := range zeros {
			zeros[i] = MinSize
		}
		if got := sizesOf(t, make([]byte, n), p); !slices.Equal(got, zeros) {
			t.Errorf("%d zero bytes: chunks %v, want %d of %d", n, got, n/MinSize, MinSize)
		}
		for _, b := range []byte{0xff, 0x55} {
			want := []int{MaxSize, 3 * mib}
			if got := sizesOf(t, bytes.Repeat([]byte{b}, n), p); !slices.Equal(got, want) {
				t.Errorf("%d bytes of %#x: chunks %v, want %v", n, b, got, want)
			}
		}
	}
}

// TestReadSizesDoNotMatter: boundaries depend on the bytes only, not on how
// the reader hands them out.
func TestReadSizesDoNotMatter(t *testing.T) {
	data := randomData(8, max(testSize(6*mib), 3*mib))
	p := keyed(t, testKey())
	want := sizesOf(t, data, p)
	for name, r := range map[string]io.Reader{
		"one byte at a time": iotest.OneByteReader(bytes.NewReader(data)),
		"half of each read":  iotest.HalfReader(bytes.NewReader(data)),
		"EOF with the data":  iotest.DataErrReader(bytes.NewReader(data)),
	} {
		if got := split(t, New(r, p), data); !slices.Equal(got, want) {
			t.Errorf("%s: chunks %v, want %v", name, got, want)
		}
	}
}

func TestReadErrorIsReturnedAndSticky(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(randomData(9, 3*mib)), iotest.ErrReader(boom))
	c := New(r, Default())
	var err error
	for range 100 {
		if _, err = c.Next(); err != nil {
			break
		}
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Next = %v, want the read error", err)
	}
	if _, again := c.Next(); !errors.Is(again, boom) {
		t.Errorf("Next after the error = %v, want the read error again", again)
	}
}

func TestReset(t *testing.T) {
	a, b := randomData(10, 5*mib), randomData(11, 3*mib)
	p := keyed(t, testKey())
	c := New(bytes.NewReader(a), p)
	split(t, c, a)
	c.Reset(bytes.NewReader(b))
	if got, want := split(t, c, b), sizesOf(t, b, p); !slices.Equal(got, want) {
		t.Errorf("after Reset: chunks %v, want %v", got, want)
	}
	// Reset in the middle of an input, and after an error.
	c.Reset(io.MultiReader(bytes.NewReader(a[:2*mib]), iotest.ErrReader(errors.New("x"))))
	for {
		if _, err := c.Next(); err != nil {
			break
		}
	}
	c.Reset(bytes.NewReader(a))
	if got, want := split(t, c, a), sizesOf(t, a, p); !slices.Equal(got, want) {
		t.Errorf("after an error and Reset: chunks %v, want %v", got, want)
	}
}

// TestNoAllocationPerChunk: memory is bounded by the buffers New allocates.
func TestNoAllocationPerChunk(t *testing.T) {
	data := randomData(12, testSize(32*mib))
	r := bytes.NewReader(data)
	c := New(r, keyed(t, testKey()))
	chunks := 0
	allocs := testing.AllocsPerRun(3, func() {
		r.Reset(data)
		c.Reset(r)
		chunks = 0
		for {
			if _, err := c.Next(); err != nil {
				break
			}
			chunks++
		}
	})
	if chunks < len(data)/(4*mib) || allocs > 0 {
		t.Errorf("%d chunks per run, %.0f allocations per run; want many chunks and no allocation", chunks, allocs)
	}
}
