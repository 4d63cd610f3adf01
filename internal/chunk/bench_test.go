package chunk

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math"
	"strings"
	"testing"
)

// The figures these report are in docs/DESIGN.md ("Chunking"):
//
//	go test ./internal/chunk -run XXX -bench . -benchtime 3x

func benchChunker(b *testing.B, p Params, hash bool) {
	data := randomData(20, 256*mib)
	r := bytes.NewReader(data)
	c := New(r, p)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		r.Reset(data)
		c.Reset(r)
		for {
			ch, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if hash {
				sha256.Sum256(ch.Data)
			}
		}
	}
}

// BenchmarkChunker: chunking alone, on random data.
func BenchmarkChunker(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchChunker(b, Default(), false) })
	b.Run("keyed", func(b *testing.B) { benchChunker(b, keyed(b, testKey()), false) })
}

// BenchmarkChunkerSHA256: chunking and hashing every chunk, the pass a sync
// makes over a large file.
func BenchmarkChunkerSHA256(b *testing.B) {
	benchChunker(b, keyed(b, testKey()), true)
}

// BenchmarkSHA256: one SHA-256 pass over the same data, for comparison.
func BenchmarkSHA256(b *testing.B) {
	data := randomData(20, 256*mib)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := sha256.New()
		h.Write(data)
		h.Sum(nil)
	}
}

// BenchmarkSizes1GiB reports the chunk size distribution of 1 GiB of random
// data (the last chunk, cut by the end of the input, left out).
func BenchmarkSizes1GiB(b *testing.B) {
	data := randomData(1, 1024*mib)
	for b.Loop() {
		sizes := sizesOf(b, data, keyed(b, testKey()))
		sizes = sizes[:len(sizes)-1]
		lo, hi, sum := math.MaxInt, 0, 0
		atMax := 0
		for _, n := range sizes {
			lo, hi, sum = min(lo, n), max(hi, n), sum+n
			if n == MaxSize {
				atMax++
			}
		}
		mean := float64(sum) / float64(len(sizes))
		var sq float64
		for _, n := range sizes {
			sq += (float64(n) - mean) * (float64(n) - mean)
		}
		b.ReportMetric(float64(len(sizes)), "chunks")
		b.ReportMetric(float64(lo)/kib, "KiB-min")
		b.ReportMetric(mean/kib, "KiB-mean")
		b.ReportMetric(float64(hi)/kib, "KiB-max")
		b.ReportMetric(math.Sqrt(sq/float64(len(sizes)))/kib, "KiB-stddev")
		b.ReportMetric(float64(atMax), "chunks-at-MaxSize")
	}
}

// BenchmarkEdits1GiB reports what the four edits of the design document make
// new in a 1 GiB random file (keyed): chunks, and MiB.
func BenchmarkEdits1GiB(b *testing.B) {
	for b.Loop() {
		for _, c := range editCosts(b, 1024*mib, keyed(b, testKey())) {
			name := strings.Join(strings.Fields(c.name)[:3], "-")
			b.ReportMetric(float64(c.chunks), "chunks-new-"+name)
			b.ReportMetric(float64(c.bytes)/mib, "MiB-new-"+name)
		}
	}
}
