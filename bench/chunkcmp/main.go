// Command chunkcmp measures the content-defined chunkers grsync considered
// (docs/DESIGN.md, "Chunking"): throughput, chunk size distribution, and how
// many chunks and bytes are new after typical edits of a large random file.
// It is its own module so the candidates that were not chosen stay out of
// grsync's go.mod.
//
//	cd bench/chunkcmp && go run . -mib 1024
package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/jc"
	jotfs "github.com/jotfs/fastcdc-go"
	"github.com/restic/chunker"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// splitter calls emit with every chunk of r, in order, until emit returns
// false.
type splitter func(r io.Reader, emit func([]byte) bool) error

type candidate struct {
	name  string
	max   int // the configured maximum chunk size
	split splitter
}

func restic(min, max uint, avgBits int) splitter {
	// A fixed polynomial stands in for the per-repository random one.
	pol := chunker.Pol(0x3DA3358B4DC173)
	buf := make([]byte, max)
	return func(r io.Reader, emit func([]byte) bool) error {
		c := chunker.NewWithBoundaries(r, pol, min, max)
		c.SetAverageBits(avgBits)
		for {
			ch, err := c.Next(buf)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if !emit(ch.Data) {
				return nil
			}
		}
	}
}

func plakar(algo string, min, normal, max int, key []byte) splitter {
	buf := make([]byte, 2*max)
	return func(r io.Reader, emit func([]byte) bool) error {
		opts := &cdc.ChunkerOpts{MinSize: min, NormalSize: normal, MaxSize: max, Key: key}
		c, err := cdc.NewChunkerBuffer(algo, r, opts, buf)
		if err != nil {
			return err
		}
		for {
			b, err := c.Next()
			if len(b) > 0 && !emit(b) {
				return nil
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

func jot(min, avg, max, norm int) splitter {
	return func(r io.Reader, emit func([]byte) bool) error {
		// No Seed: v0.2.0 XORs the seed into its package-level table on
		// every NewChunker, so a seeded chunker changes all later ones.
		c, err := jotfs.NewChunker(r, jotfs.Options{MinSize: min, AverageSize: avg, MaxSize: max,
			Normalization: norm, DisableNormalization: norm == 0})
		if err != nil {
			return err
		}
		for {
			ch, err := c.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if !emit(ch.Data) {
				return nil
			}
		}
	}
}

type stats struct {
	n            int
	min, max     int
	mean, stddev float64
	atMax        int
	hashes       map[[32]byte]int
	total        int64
	starts       []int64 // offset of every chunk
}

func measure(s splitter, maxSize int, data []byte) stats {
	st := stats{min: math.MaxInt, hashes: map[[32]byte]int{}}
	var sizes []int
	if err := s(bytes.NewReader(data), func(b []byte) bool {
		sizes = append(sizes, len(b))
		st.hashes[sha256.Sum256(b)] = len(b)
		st.total += int64(len(b))
		st.starts = append(st.starts, st.total-int64(len(b)))
		return true
	}); err != nil {
		panic(err)
	}
	st.n = len(sizes)
	body := sizes
	if len(body) > 1 {
		body = body[:len(body)-1] // the last chunk is cut by the end of the input
	}
	var sum float64
	for _, v := range body {
		st.min = min(st.min, v)
		st.max = max(st.max, v)
		sum += float64(v)
	}
	st.mean = sum / float64(len(body))
	for _, v := range body {
		d := float64(v) - st.mean
		st.stddev += d * d
	}
	st.stddev = math.Sqrt(st.stddev / float64(len(body)))
	for _, v := range body {
		if v == maxSize {
			st.atMax++
		}
	}
	return st
}

// fresh counts the chunks of after that before does not have.
func fresh(before, after stats) (chunks int, bytes int64) {
	for h, n := range after.hashes {
		if _, ok := before.hashes[h]; !ok {
			chunks++
			bytes += int64(n)
		}
	}
	return
}

func throughput(s splitter, data []byte) float64 {
	runtime.GC()
	best := 0.0
	for range 3 {
		t := time.Now()
		if err := s(bytes.NewReader(data), func([]byte) bool { return true }); err != nil {
			panic(err)
		}
		best = max(best, float64(len(data))/1e6/time.Since(t).Seconds())
	}
	return best
}

func main() {
	size := flag.Int("mib", 1024, "size of the random test file in MiB")
	trials := flag.Int("trials", 0, "also overwrite 1 MiB, and insert 1 byte, at this many random places (one at a time)")
	only := flag.String("only", "", "measure only the candidates whose name contains this")
	flag.Parse()

	data := make([]byte, *size*mib)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)

	key := sha256.Sum256([]byte("a stand-in for the HKDF-derived chunker key"))
	const fc = "fastcdc-v1.0.0"
	cands := []candidate{
		{"restic Rabin 512K/avg 2^20 after min/8M", 8 * mib, restic(512*kib, 8*mib, 20)},
		{"restic Rabin 256K/avg 2^20 after min/4M", 4 * mib, restic(256*kib, 4*mib, 20)},
		{"plakar FastCDC keyed 256K/1M/4M", 4 * mib, plakar(fc, 256*kib, 1*mib, 4*mib, key[:])},
		{"plakar FastCDC keyed 512K/1M/8M", 8 * mib, plakar(fc, 512*kib, 1*mib, 8*mib, key[:])},
		{"plakar FastCDC keyed 512K/2M/8M", 8 * mib, plakar(fc, 512*kib, 2*mib, 8*mib, key[:])},
		{"plakar FastCDC unkeyed 256K/1M/4M", 4 * mib, plakar(fc, 256*kib, 1*mib, 4*mib, nil)},
		{"plakar JC keyed 256K/1M/4M", 4 * mib, plakar("jc-v1.0.0", 256*kib, 1*mib, 4*mib, key[:])},
		{"jotfs FastCDC unseeded, normalization 2, 256K/1M/4M", 4 * mib, jot(256*kib, 1*mib, 4*mib, 2)},
		{"jotfs FastCDC unseeded, normalization 1, 256K/1M/4M", 4 * mib, jot(256*kib, 1*mib, 4*mib, 1)},
		{"jotfs FastCDC unseeded, no normalization, 256K/1M/4M", 4 * mib, jot(256*kib, 1*mib, 4*mib, 0)},
	}

	mid := len(data) / 2
	edits := []struct {
		name string
		make func() []byte
	}{
		{"1 MiB overwritten in the middle", func() []byte {
			d := bytes.Clone(data)
			rand.NewChaCha8([32]byte{2}).Read(d[mid : mid+mib])
			return d
		}},
		{"1 MiB appended", func() []byte {
			d := make([]byte, len(data)+mib)
			copy(d, data)
			rand.NewChaCha8([32]byte{3}).Read(d[len(data):])
			return d
		}},
		{"1 byte inserted at the start", func() []byte {
			return append([]byte{0x5a}, data...)
		}},
		{"1 byte deleted in the middle", func() []byte {
			return append(bytes.Clone(data[:mid]), data[mid+1:]...)
		}},
	}

	fmt.Printf("random input: %d MiB; %s/%s, %d CPUs\n\n", *size, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	sha := func(r io.Reader, emit func([]byte) bool) error {
		h := sha256.New()
		_, err := io.Copy(h, r)
		return err
	}
	fmt.Printf("%-40s %8.0f MB/s (reference)\n\n", "SHA-256 pass", throughput(sha, data))

	for _, c := range cands {
		if !strings.Contains(c.name, *only) {
			continue
		}
		base := measure(c.split, c.max, data)
		fmt.Printf("%s\n", c.name)
		fmt.Printf("  throughput %.0f MB/s\n", throughput(c.split, data))
		fmt.Printf("  chunks %d: min %d KiB, mean %.0f KiB, max %d KiB (%d at the maximum), stddev %.0f KiB\n",
			base.n, base.min/kib, base.mean/kib, base.max/kib, base.atMax, base.stddev/kib)
		for _, e := range edits {
			d := e.make()
			after := measure(c.split, c.max, d)
			n, b := fresh(base, after)
			fmt.Printf("  %-32s %3d new chunks, %6.2f MiB new\n", e.name, n, float64(b)/mib)
		}
		if *trials > 0 {
			randomEdits(c, base, data, *trials)
		}
		fmt.Println()
	}
	fmt.Fprintln(os.Stderr, "done")
}

// randomEdits overwrites 1 MiB at random places, then inserts one byte at
// random places, one edit at a time, and prints the distribution of the bytes
// each edit makes new. Chunk boundaries depend only on the bytes since the
// previous boundary, so each edit is re-chunked from the last old boundary
// before it until a new boundary falls on an old one past the edit: from
// there on both files chunk alike, and everything before was new.
func randomEdits(c candidate, base stats, data []byte, trials int) {
	rng := rand.New(rand.NewPCG(7, 7))
	old := map[int64]bool{}
	for _, o := range base.starts {
		old[o] = true
	}
	old[int64(len(data))] = true
	// resync returns the bytes and chunks that are new when edited replaces
	// data[at:at+oldLen] with newLen bytes.
	resync := func(d []byte, at, oldLen, newLen int) (float64, int) {
		i, _ := slices.BinarySearch(base.starts, int64(at)+1)
		s := base.starts[i-1] // the last old boundary at or before the edit
		shift := int64(newLen - oldLen)
		pos, chunks := s, 0
		c.split(bytes.NewReader(d[s:]), func(b []byte) bool {
			pos += int64(len(b))
			chunks++
			return !(pos >= int64(at+newLen) && old[pos-shift])
		})
		return float64(pos-s) / mib, chunks
	}
	report := func(what string, news []float64, chunks []int) {
		slices.Sort(news)
		slices.Sort(chunks)
		var sum float64
		for _, v := range news {
			sum += v
		}
		p := func(q float64) float64 { return news[int(q*float64(len(news)-1))] }
		fmt.Printf("  %d random %-18s new MiB: mean %.2f, median %.2f, p99 %.2f, max %.2f; new chunks: median %d, max %d\n",
			len(news), what, sum/float64(len(news)), p(0.5), p(0.99), news[len(news)-1], chunks[len(chunks)/2], chunks[len(chunks)-1])
	}
	var news []float64
	var chunks []int
	d := bytes.Clone(data)
	for range trials {
		at := rng.IntN(len(data) - 64*mib)
		rand.NewChaCha8([32]byte{byte(at), byte(at >> 8), byte(at >> 16), byte(at >> 24)}).Read(d[at : at+mib])
		m, n := resync(d, at, mib, mib)
		news, chunks = append(news, m), append(chunks, n)
		copy(d[at:at+mib], data[at:at+mib])
	}
	report("1 MiB overwrites:", news, chunks)
	news, chunks = nil, nil
	d = make([]byte, len(data)+1)
	for range trials {
		at := rng.IntN(len(data) - 64*mib)
		copy(d, data[:at])
		d[at] = byte(at)
		copy(d[at+1:], data[at:])
		m, n := resync(d, at, 0, 1)
		news, chunks = append(news, m), append(chunks, n)
	}
	report("1-byte insertions:", news, chunks)
}
