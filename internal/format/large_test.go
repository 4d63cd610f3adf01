package format

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestLargeStreamBoundedMemory streams a 200 MiB file through the encoder
// and straight into the decoder over a pipe, and checks that the heap stays
// far below the file size.
func TestLargeStreamBoundedMemory(t *testing.T) {
	size := int64(200 << 20)
	if raceEnabled {
		size = 32 << 20
		t.Logf("race detector on: streaming %d MiB instead of 200 MiB", size>>20)
	}
	const heapLimit = 100 << 20
	k := testKey(t)
	o := optionSets[3] // zstd+age: the most buffering
	fi := testInfo(int(size))

	runtime.GC()
	var peak uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	pr, pw := io.Pipe()
	wantSum := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		gen := rand.NewChaCha8([32]byte{99})
		buf := make([]byte, 1<<20)
		w, err := NewWriter(pw, fi, o.options(k))
		if err != nil {
			pw.CloseWithError(err)
			wantSum <- nil
			return
		}
		for left := size; left > 0; left -= int64(len(buf)) {
			b := buf[:min(int64(len(buf)), left)]
			gen.Read(b)
			h.Write(b)
			if _, err := w.Write(b); err != nil {
				pw.CloseWithError(err)
				wantSum <- nil
				return
			}
		}
		pw.CloseWithError(w.Close())
		wantSum <- h.Sum(nil)
	}()

	r, err := Open(pr, o.identity(k))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	r.Close()
	close(stop)
	sampler.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(h.Sum(nil), <-wantSum) {
		t.Fatalf("decoded %d bytes, want %d, or content differs", n, size)
	}
	t.Logf("peak heap while streaming %d MiB: %.1f MiB", size>>20, float64(peak)/(1<<20))
	if peak > heapLimit {
		t.Errorf("peak heap %d MiB, want below %d MiB", peak>>20, heapLimit>>20)
	}
}
