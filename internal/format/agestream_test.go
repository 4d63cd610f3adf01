package format

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"filippo.io/age"
)

// memberPacks are encrypted packs, with and without compression, whose
// members end at every kind of age chunk edge: an empty member, short
// ones, a tar stream of exactly 64 KiB (a full last chunk) and of 128 KiB.
func memberPacks(t testing.TB) (age.Identity, [][]byte, []*PackIndex) {
	k := testKey(t)
	var packs [][]byte
	var idxs []*PackIndex
	for _, o := range []optionSet{optionSets[2], optionSets[3]} {
		p, idx, _ := buildPack(t, o.packOptions(k, testPackID), []testMember{
			fileMember("/a", []byte("hello")), fileMember("/empty", nil), chunkMember(randomBytes(300, 1)),
			// 1,536 bytes of headers, the content, 1,024 of end.
			fileMember("/x", randomBytes(65536-2560, 2)), fileMember("/y", randomBytes(131072-2560, 3)),
			fileMember("/z", randomBytes(100000, 4)),
		})
		packs, idxs = append(packs, p), append(idxs, idx)
	}
	return k.AgeIdentity(), packs, idxs
}

// memberOutcome reads the member raw whole through OpenMember: its content,
// or false when it fails at any point.
func memberOutcome(raw []byte, id age.Identity, e IndexEntry) (string, bool) {
	r, err := OpenMember(bytes.NewReader(raw), id, e.Ref(testPackID))
	if err != nil {
		return "", false
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1<<24))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// After one member of a pack, the others skip age.Decrypt, and read the
// same.
func TestPackMembersSkipTheHeaderAgeChecked(t *testing.T) {
	id, packs, idxs := memberPacks(t)
	for i, p := range packs {
		pid := NewPackIdentity(id).(*packIdentity)
		if _, ok := pid.openKnown(bufio.NewReader(bytes.NewReader(p))); ok {
			t.Fatal("a header was known before any member was read")
		}
		for j, e := range idxs[i].Members {
			raw := p[e.Offset : e.Offset+e.Length]
			want, ok := memberOutcome(raw, id, e)
			if !ok {
				t.Fatalf("pack %d member %d: age.Decrypt could not read it", i, j)
			}
			got, ok := memberOutcome(raw, pid, e)
			if !ok || got != want {
				t.Fatalf("pack %d member %d: read %v through the pack identity, %d bytes against %d", i, j, ok, len(got), len(want))
			}
			if _, ok := pid.openKnown(bufio.NewReader(bytes.NewReader(raw))); !ok {
				t.Fatalf("pack %d member %d: its header is not known after a member was read", i, j)
			}
		}
	}
}

// Whatever is done to a member's bytes, reading it with a pack identity
// that knows the header gives what age.Decrypt gives: the same content, or
// a failure.
func FuzzMemberDecrypt(f *testing.F) {
	id, packs, idxs := memberPacks(f)
	f.Add(uint8(0), uint8(0), uint32(0), byte(0), uint32(0), []byte(nil))
	f.Add(uint8(1), uint8(3), uint32(70000), byte(1), uint32(0), []byte(nil))
	f.Add(uint8(0), uint8(4), uint32(0), byte(0), uint32(16), []byte(nil))
	f.Add(uint8(1), uint8(0), uint32(0), byte(0), uint32(0), []byte("x"))
	f.Add(uint8(0), uint8(3), uint32(0), byte(0), uint32(0), []byte("x")) // after a full last chunk
	f.Add(uint8(0), uint8(4), uint32(0), byte(0), uint32(16), []byte(nil))
	f.Add(uint8(0), uint8(2), uint32(250), byte(0x80), uint32(0), []byte(nil))
	f.Fuzz(func(t *testing.T, pi, mi uint8, pos uint32, xor byte, cut uint32, extra []byte) {
		i := int(pi) % len(packs)
		p, idx := packs[i], idxs[i]
		e := idx.Members[int(mi)%len(idx.Members)]
		raw := bytes.Clone(p[e.Offset : e.Offset+e.Length])
		if len(raw) > 0 {
			raw[int(pos)%len(raw)] ^= xor
		}
		raw = raw[:len(raw)-min(int(cut), len(raw))]
		raw = append(raw, extra...)

		want, wantOK := memberOutcome(raw, id, e)
		// An identity that knows the pack's header: from another member.
		warm := NewPackIdentity(id)
		other := idx.Members[(int(mi)+1)%len(idx.Members)]
		if _, ok := memberOutcome(p[other.Offset:other.Offset+other.Length], warm, other); !ok {
			t.Fatal("an intact member could not be read")
		}
		got, gotOK := memberOutcome(raw, warm, e)
		if gotOK != wantOK || got != want {
			t.Fatalf("age.Decrypt read %v (%d bytes), the known header %v (%d bytes)", wantOK, len(want), gotOK, len(got))
		}
	})
}
