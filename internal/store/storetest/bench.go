package storetest

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

// RunBenchmarks measures Put and whole-archive read throughput on stores
// from newStore (one per sub-benchmark; the suite closes them).
func RunBenchmarks(b *testing.B, newStore func(b *testing.B) store.Store) {
	for _, size := range []int{1 << 20, 16 << 20} {
		data := randomBytes(size, 7)
		b.Run(fmt.Sprintf("Put/%dMiB", size>>20), func(b *testing.B) {
			s := newStore(b)
			b.Cleanup(func() { _ = s.Close() })
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := s.Put(b.Context(), bytes.NewReader(data), "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Read/%dMiB", size>>20), func(b *testing.B) {
			s := newStore(b)
			b.Cleanup(func() { _ = s.Close() })
			a, err := s.Put(b.Context(), bytes.NewReader(data), "bench")
			if err != nil {
				b.Fatal(err)
			}
			r, err := s.Request(b.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
			if err != nil || !r.Ready {
				b.Fatalf("Request: ready %v, err %v (benchmarks need stores that are ready at once)", r.Ready, err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				rc, err := s.ReadRange(b.Context(), r, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
