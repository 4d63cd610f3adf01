package legacy

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// largePlaintext returns a reader of n pseudo-random bytes, the same for
// the same seed.
func largePlaintext(seed byte, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)
}

// allocatedDuring returns how many bytes of heap f allocated in total.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFernetLargeTokenBoundedMemory decrypts a 50 MiB plaintext (a 67 MiB
// token, generated on the fly on each pass; less under -race) and checks
// that everything the whole operation allocated, the generator included,
// stays far below the token's size.
func TestFernetLargeTokenBoundedMemory(t *testing.T) {
	p := testParams(t)
	open := func() (io.ReadCloser, error) {
		return newTokenStream(p, largePlaintext(1, largeSize)), nil
	}
	want := sha256.New()
	io.Copy(want, largePlaintext(1, largeSize))

	got := sha256.New()
	var n int64
	var err error
	alloc := allocatedDuring(func() {
		var r io.ReadCloser
		r, err = OpenFernet(open, p.key)
		if err != nil {
			return
		}
		n, err = io.CopyBuffer(got, r, make([]byte, 32<<10))
		r.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != largeSize || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("decrypted %d bytes, want %d with the same SHA-256", n, largeSize)
	}
	t.Logf("%d MiB plaintext: %d KiB allocated in total", largeSize>>20, alloc>>10)
	if alloc > 4<<20 {
		t.Errorf("allocated %d bytes to decrypt %d; want under 4 MiB", alloc, largeSize)
	}
}

// TestDecodeLargeEncryptedZstdBoundedMemory does the same through Decode for
// an encrypted+zstd archive built in memory before the measurement.
func TestDecodeLargeEncryptedZstdBoundedMemory(t *testing.T) {
	const size = largeSize / 3
	p := testParams(t)
	var archive bytes.Buffer
	zw, err := zstd.NewWriter(&archive, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithWindowSize(2<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(zw, newTokenStream(p, largePlaintext(2, size))); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	io.Copy(want, largePlaintext(2, size))

	got := sha256.New()
	var n int64
	alloc := allocatedDuring(func() {
		var r io.ReadCloser
		r, err = Decode(CompressionEncryptedZstd, fromBytes(archive.Bytes()), &p.key)
		if err != nil {
			return
		}
		n, err = io.CopyBuffer(got, r, make([]byte, 32<<10))
		r.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("decoded %d bytes, want %d with the same SHA-256", n, size)
	}
	t.Logf("%d MiB plaintext, %d MiB archive: %d KiB allocated in total", size>>20, archive.Len()>>20, alloc>>10)
	if alloc > 8<<20 {
		t.Errorf("allocated %d bytes to decode %d; want under 8 MiB", alloc, size)
	}
}

func BenchmarkOpenFernet(b *testing.B) {
	const size = 16 << 20
	p := testParams(b)
	var plain bytes.Buffer
	io.Copy(&plain, largePlaintext(3, size))
	tok := encryptToken(b, p, plain.Bytes())
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		r, err := OpenFernet(fromBytes(tok), p.key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
