package format

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"time"
)

// packBenchCases are the member sizes the pack format is measured with:
// small files, and content-defined chunks of about 1 MiB.
var packBenchCases = []struct {
	name  string
	kind  MemberKind
	size  int
	count int // members per pack
}{
	{"16KiB-files", KindFile, 16 << 10, 2048},
	{"1MiB-chunks", KindChunk, 1 << 20, 64},
}

// sha256MemberThroughput is the baseline: SHA-256 of each member's content
// on its own, in bytes/second, on one core.
func sha256MemberThroughput(content []byte, size int) float64 {
	best := 0.0
	for range 3 {
		start := time.Now()
		for off := 0; off+size <= len(content); off += size {
			sha256.Sum256(content[off : off+size])
		}
		if v := float64(len(content)) / time.Since(start).Seconds(); v > best {
			best = v
		}
	}
	return best
}

// BenchmarkPackWrite writes whole packs (members, index, trailer) of random
// content to io.Discard, in the caller's goroutine, and reports MB/s of
// content, members/s and xSHA256 (throughput over SHA-256's on the same
// members).
func BenchmarkPackWrite(b *testing.B) {
	k := testKey(b)
	for _, c := range packBenchCases {
		content := randomBytes(c.size*c.count, 11)
		base := sha256MemberThroughput(content, c.size)
		for _, o := range optionSets {
			b.Run(c.name+"/"+packEncodingName(o), func(b *testing.B) {
				opt := o.packOptions(k, testPackID)
				fm := FileMeta{FileInfo: testInfo(c.size), Hash: make([]byte, 32)}
				r := bytes.NewReader(nil)
				b.SetBytes(int64(len(content)))
				b.ReportAllocs()
				var total time.Duration
				for b.Loop() {
					start := time.Now()
					opt.Rand = detRand(1)
					w, err := NewPackWriter(io.Discard, opt)
					if err != nil {
						b.Fatal(err)
					}
					for off := 0; off < len(content); off += c.size {
						m := content[off : off+c.size]
						if c.kind == KindChunk {
							_, err = w.AddChunk(ChunkMeta{Hash: fm.Hash}, m)
						} else {
							r.Reset(m)
							_, err = w.AddFile(fm, r)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					if _, err := w.Close(); err != nil {
						b.Fatal(err)
					}
					total += time.Since(start)
				}
				b.ReportMetric(float64(c.count*b.N)/total.Seconds(), "members/s")
				b.ReportMetric(float64(len(content))*float64(b.N)/total.Seconds()/base, "xSHA256")
			})
		}
	}
}

// BenchmarkPackRead reads every member of a pack, as a restore of all of
// them would, with one X25519 operation per pack.
func BenchmarkPackRead(b *testing.B) {
	k := testKey(b)
	for _, c := range packBenchCases {
		content := randomBytes(c.size*c.count, 12)
		base := sha256MemberThroughput(content, c.size)
		var members []testMember
		for off := 0; off < len(content); off += c.size {
			if c.kind == KindChunk {
				members = append(members, chunkMember(content[off:off+c.size]))
			} else {
				members = append(members, fileMember(testInfo(0).Path, content[off:off+c.size]))
			}
		}
		for _, o := range optionSets {
			b.Run(c.name+"/"+packEncodingName(o), func(b *testing.B) {
				pack, idx, _ := buildPack(b, o.packOptions(k, testPackID), members)
				out := make([]byte, 256<<10)
				b.SetBytes(int64(len(content)))
				b.ReportAllocs()
				var total time.Duration
				for b.Loop() {
					start := time.Now()
					id := o.identity(k)
					if id != nil {
						id = NewPackIdentity(id)
					}
					for _, e := range idx.Members {
						r, err := OpenMember(bytes.NewReader(pack[e.Offset:e.Offset+e.Length]), id, e.Ref(testPackID))
						if err != nil {
							b.Fatal(err)
						}
						if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, out); err != nil {
							b.Fatal(err)
						}
						r.Close()
					}
					total += time.Since(start)
				}
				b.ReportMetric(float64(c.count*b.N)/total.Seconds(), "members/s")
				b.ReportMetric(float64(len(content))*float64(b.N)/total.Seconds()/base, "xSHA256")
			})
		}
	}
}
