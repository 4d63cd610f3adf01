package vault

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
)

// BenchmarkPut measures Put against the in-process emulator, which hashes
// and stores every byte too: the figures bound the store's own overhead
// (tree hashes, signing, HTTP) from above.
func BenchmarkPut(b *testing.B) {
	data := randomBytes(16*MiB, 1)
	for _, partSize := range []int64{MiB, 4 * MiB, 16 * MiB} {
		b.Run(fmt.Sprintf("16MiB/parts=%dMiB", partSize/MiB), func(b *testing.B) {
			e := newEmu(b, glacieremu.Config{})
			s := newStore(b, e, func(c *Config) { c.PartSize = partSize })
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := s.Put(b.Context(), bytes.NewReader(data), "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead measures a whole verified read of a 16 MiB archive.
func BenchmarkRead(b *testing.B) {
	data := randomBytes(16*MiB, 2)
	e := newEmu(b, glacieremu.Config{})
	s := newStore(b, e, nil)
	a, err := s.Put(b.Context(), bytes.NewReader(data), "bench")
	if err != nil {
		b.Fatal(err)
	}
	r := ready(b, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	b.SetBytes(int64(len(data)))
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
}
