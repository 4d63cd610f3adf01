package format

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"time"
)

// benchSize is large enough that per-archive costs (age header, goroutines)
// do not matter and small enough for -benchtime 3x on a shared machine.
const benchSize = 256 << 20

// sha256Throughput measures single-core SHA-256 over buf, in bytes/second:
// the baseline the format's speed target is stated against.
func sha256Throughput(buf []byte) float64 {
	best := 0.0
	for range 3 {
		start := time.Now()
		sha256.Sum256(buf)
		if v := float64(len(buf)) / time.Since(start).Seconds(); v > best {
			best = v
		}
	}
	return best
}

// BenchmarkSHA256 is the baseline: single-core SHA-256 of the same data.
func BenchmarkSHA256(b *testing.B) {
	buf := randomBytes(benchSize, 1)
	b.SetBytes(benchSize)
	for b.Loop() {
		sha256.Sum256(buf)
	}
}

// BenchmarkEncode reports MB/s and "xSHA256": throughput divided by the
// SHA-256 throughput over the same buffer in the same run.
func BenchmarkEncode(b *testing.B) {
	k := testKey(b)
	buf := randomBytes(benchSize, 1)
	base := sha256Throughput(buf)
	for _, o := range optionSets {
		b.Run(o.name, func(b *testing.B) {
			opt := o.options(k)
			b.SetBytes(benchSize)
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				w, err := NewWriter(io.Discard, testInfo(benchSize), opt)
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < benchSize; off += 1 << 20 {
					if _, err := w.Write(buf[off : off+1<<20]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(benchSize)*float64(b.N)/total.Seconds()/base, "xSHA256")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	k := testKey(b)
	buf := randomBytes(benchSize, 1)
	base := sha256Throughput(buf)
	for _, o := range optionSets {
		b.Run(o.name, func(b *testing.B) {
			archive := encode(b, testInfo(benchSize), buf, o.options(k))
			id := o.identity(k)
			out := make([]byte, 1<<20)
			b.SetBytes(benchSize)
			b.ResetTimer()
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				r, err := Open(bytes.NewReader(archive), id)
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Read(out)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
				total += time.Since(start)
			}
			b.ReportMetric(float64(benchSize)*float64(b.N)/total.Seconds()/base, "xSHA256")
		})
	}
}

// BenchmarkSmallFile measures the per-archive cost: a 1 KiB file encoded
// and decoded with every layer.
func BenchmarkSmallFile(b *testing.B) {
	k := testKey(b)
	content := randomBytes(1<<10, 2)
	for _, o := range optionSets {
		b.Run(o.name, func(b *testing.B) {
			opt, id := o.options(k), o.identity(k)
			b.ReportAllocs()
			for b.Loop() {
				var buf bytes.Buffer
				w, err := NewWriter(&buf, testInfo(len(content)), opt)
				if err != nil {
					b.Fatal(err)
				}
				w.Write(content)
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				r, err := Open(&buf, id)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}
