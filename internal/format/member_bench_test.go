package format

import (
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkMemberEncode encodes one small file member (6 KiB of text or of
// random bytes) as a pack's MemberEncoder does for each small file.
func BenchmarkMemberEncode(b *testing.B) {
	k := testKey(b)
	rnd := make([]byte, 6144)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	words := strings.Fields("the quick brown fox jumps over lazy dog alpha beta gamma delta backup restore archive glacier vault")
	var sb strings.Builder
	for sb.Len() < 6144 {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteByte(' ')
	}
	txt := []byte(sb.String()[:6144])
	for _, c := range []struct {
		name string
		data []byte
	}{{"text", txt}, {"random", rnd}} {
		for _, o := range optionSets {
			b.Run(c.name+"/"+o.name, func(b *testing.B) {
				opt := o.packOptions(k, testPackID)
				w, err := NewPackWriter(io.Discard, opt)
				if err != nil {
					b.Fatal(err)
				}
				me := w.Encoder()
				fm := FileMeta{FileInfo: testInfo(len(c.data)), Hash: make([]byte, 32)}
				var dst []byte
				for b.Loop() {
					m, err := me.File(1, fm, c.data, dst)
					if err != nil {
						b.Fatal(err)
					}
					dst = m.Bytes
				}
			})
		}
	}
}
