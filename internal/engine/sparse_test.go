package engine

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The content written through a sparseWriter reads back identical, for
// data and zero runs of every alignment and writes of every size; long
// zero runs take no disk space.
func TestSparseWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 60; i++ {
		var want []byte
		for len(want) < 1<<20 {
			n := rng.IntN(3 * sparseBlock)
			if rng.IntN(3) == 0 {
				n = rng.IntN(40 * sparseBlock)
			}
			chunk := make([]byte, n)
			if rng.IntN(2) == 0 {
				for j := range chunk {
					chunk[j] = byte(rng.IntN(255) + 1)
				}
			}
			want = append(want, chunk...)
		}
		if i%2 == 0 { // end in a hole half of the time
			want = append(want, make([]byte, 5*sparseBlock+rng.IntN(sparseBlock))...)
		}
		got := writeSparse(t, want, func() int { return rng.IntN(100000) + 1 })
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: %d bytes read back differ from the %d written", i, len(got), len(want))
		}
	}
	// 64 MiB of zeros with a little data at both ends: almost no blocks.
	big := make([]byte, 64<<20)
	copy(big, "start")
	copy(big[len(big)-3:], "end")
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := newSparseWriter(f)
	if _, err := w.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(big)) || st.Blocks*512 > 1<<20 {
		t.Errorf("64 MiB of zeros: size %d, %d bytes allocated; want the full size and holes", st.Size, st.Blocks*512)
	}
}

func writeSparse(t *testing.T, data []byte, nextSize func() int) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := newSparseWriter(f)
	for rest := data; len(rest) > 0; {
		n := min(nextSize(), len(rest))
		if m, err := w.Write(rest[:n]); err != nil || m != n {
			t.Fatalf("Write of %d: %d, %v", n, m, err)
		}
		rest = rest[n:]
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
