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
// on its own, in bytes per CPU second (per second where CPU time is not
// available), on one core.
func sha256MemberThroughput(content []byte, size int) float64 {
	best := 0.0
	for range 3 {
		m := startMeter()
		for off := 0; off+size <= len(content); off += size {
			sha256.Sum256(content[off : off+size])
		}
		if v := float64(len(content)) / m.stop().Seconds(); v > best {
			best = v
		}
	}
	return best
}

// meter measures the CPU time of the process, or wall time where that is
// not available. The machines grsync is benchmarked on are shared: CPU time
// is what the format costs, whatever else runs.
type meter struct {
	wall time.Time
	cpu  time.Duration
	ok   bool
}

func startMeter() meter {
	cpu, ok := processCPU()
	return meter{wall: time.Now(), cpu: cpu, ok: ok}
}

func (m meter) stop() time.Duration {
	if cpu, ok := processCPU(); ok && m.ok {
		return cpu - m.cpu
	}
	return time.Since(m.wall)
}

// reportPack reports members and bytes per CPU second, and the ratio to
// SHA-256 of the same members (xSHA256).
func reportPack(b *testing.B, members, bytes int, spent time.Duration, base float64) {
	b.ReportMetric(float64(members*b.N)/spent.Seconds(), "members/cpu-s")
	b.ReportMetric(float64(bytes*b.N)/spent.Seconds()/1e6, "MB/cpu-s")
	b.ReportMetric(float64(bytes*b.N)/spent.Seconds()/base, "xSHA256")
}

// BenchmarkPackWrite writes whole packs (members, index, trailer) of random
// content to io.Discard, in the caller's goroutine, and reports MB/s of
// content per wall second (MB/s, distorted when the machine is shared), and
// members and MB per CPU second and xSHA256 (throughput over SHA-256's on
// the same members, both per CPU second).
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
					m := startMeter()
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
					total += m.stop()
				}
				reportPack(b, c.count, len(content), total, base)
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
					m := startMeter()
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
					total += m.stop()
				}
				reportPack(b, c.count, len(content), total, base)
			})
		}
	}
}
