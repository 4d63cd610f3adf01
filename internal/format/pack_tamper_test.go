package format

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// readWholePack reads the index and every non-void member of pack as
// grsync would, and returns the first error.
func readWholePack(pack []byte, id age.Identity, packID PackID) error {
	_, err := readPackContent(pack, id, packID)
	return err
}

// readPackContent reads the index and every non-void member of pack, and
// returns the index and what was read, as text to compare.
func readPackContent(pack []byte, id age.Identity, packID PackID) (string, error) {
	idx, err := ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), id, packID)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	out.Write(appendIndexJSON(nil, idx))
	for _, e := range idx.Members {
		info, content, err := readMember(pack, id, packID, e)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&out, "%+v %x\n", info, content)
	}
	return out.String(), nil
}

// TestPackTamperEveryByte flips each byte of small packs, in every member,
// the index and the trailer. Encrypted, reading the pack must fail. Without
// encryption there is no authentication, only checksums: compressed, a
// flip must fail or change nothing that is read (zstd may copy zeros of
// the tar padding from another offset); a bare tar has no checksum, so
// there only the trailer is checked.
func TestPackTamperEveryByte(t *testing.T) {
	k := testKey(t)
	small := []testMember{fileMember("/a.txt", []byte("hello")), chunkMember(randomBytes(300, 1)), fileMember("/b", nil)}
	// Several age chunks; every 509th byte hits each of them.
	large := []testMember{fileMember("/a.txt", []byte("hello")), fileMember("/b", resumeContent(150<<10, 2)), chunkMember(randomBytes(1000, 3))}
	for _, o := range optionSets {
		for _, c := range []struct {
			members []testMember
			step    int
		}{{small, 1}, {large, 509}} {
			pack, _, _ := buildPack(t, o.packOptions(k, testPackID), c.members)
			// One X25519 per pack read, as grsync reads; a flip in the
			// header changes the stanza and unwraps again.
			id := o.identity(k)
			if id != nil {
				id = NewPackIdentity(id)
			}
			want, err := readPackContent(pack, id, testPackID)
			if err != nil {
				t.Fatal(err)
			}
			from, step := 0, c.step
			if raceEnabled {
				step = step*10 + 1 // 40 times slower: a sample is enough
			}
			switch {
			case !o.encrypt && !o.compress:
				from = len(pack) - PackTrailerSize
			case !o.compress && step == 1:
				// Mostly tar padding, authenticated like the rest: every
				// 5th byte is enough, and keeps the test fast.
				step = 5
			}
			for i := from; i < len(pack); i += step {
				if i >= len(pack)-PackTrailerSize {
					step = 1 // every byte of the trailer
				}
				bad := slices.Clone(pack)
				bad[i] ^= 0x01
				got, err := readPackContent(bad, id, testPackID)
				if err == nil && (o.encrypt || got != want) {
					t.Fatalf("%s: byte %d of %d flipped, the pack still reads", o.name, i, len(pack))
				}
			}
		}
	}
}

func TestPackTamperStructure(t *testing.T) {
	k := testKey(t)
	mk := func(pack PackID, seed uint64) ([]byte, *PackIndex) {
		members := []testMember{fileMember("/x/one", randomBytes(100, seed)), fileMember("/x/two", randomBytes(100, seed+1)),
			chunkMember(randomBytes(100, seed+2))}
		b, idx, _ := buildPack(t, optionSets[3].packOptions(k, pack), members)
		return b, idx
	}
	id := k.AgeIdentity()
	pack, idx := mk(testPackID, 1)
	otherID := PackID{0xee}
	other, oidx := mk(otherID, 10)
	m := func(b []byte, e IndexEntry) []byte { return b[e.Offset : e.Offset+e.Length] }

	// Members 0 and 1 have the same length: swap them in place.
	e0, e1 := idx.Members[0], idx.Members[1]
	if e0.Length != e1.Length {
		t.Fatalf("members of %d and %d bytes", e0.Length, e1.Length)
	}
	swapped := slices.Clone(pack)
	copy(swapped[e0.Offset:], m(pack, e1))
	copy(swapped[e1.Offset:], m(pack, e0))
	// The same member of another pack of the same key, spliced in.
	spliced := slices.Clone(pack)
	copy(spliced[e0.Offset:], m(other, oidx.Members[0]))

	for _, c := range []struct {
		name string
		pack []byte
		want error
	}{
		{"members swapped", swapped, ErrCorrupt},
		{"member from another pack", spliced, ErrCorrupt},
		{"truncated by one byte", pack[:len(pack)-1], ErrNotGrsync},
		{"truncated before the trailer", pack[:len(pack)-PackTrailerSize], ErrNotGrsync},
		{"truncated to nothing", nil, ErrNotGrsync},
		{"a byte appended", append(slices.Clone(pack), 0), ErrNotGrsync},
		{"a member dropped", append(slices.Clone(pack[:e1.Offset]), pack[e1.Offset+e1.Length:]...), ErrCorrupt},
	} {
		err := readWholePack(c.pack, id, testPackID)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}

	// Read with the wrong expectations, the right bytes are refused.
	for _, c := range []struct {
		name string
		e    IndexEntry
		ref  MemberRef
	}{
		{"another number", e0, MemberRef{testPackID, 1, KindFile}},
		{"another kind", idx.Members[2], MemberRef{testPackID, 2, KindFile}},
		{"another pack", e0, MemberRef{otherID, 0, KindFile}},
		{"the index as a member", IndexEntry{Offset: idx.Offset, Length: idx.Length}, MemberRef{testPackID, 0, KindFile}},
		{"a member as the index", e0, MemberRef{testPackID, IndexNumber, KindIndex}},
	} {
		r, err := OpenMember(bytes.NewReader(m(pack, c.e)), id, c.ref)
		if err == nil {
			r.Close()
			t.Errorf("%s: opened", c.name)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", c.name, err)
		}
	}
	// A trailer that points at a member instead of the index.
	bad := slices.Clone(pack)
	tr := appendTrailer(nil, PackTrailer{IndexOffset: e0.Offset, IndexLength: int64(len(pack)) - PackTrailerSize - e0.Offset})
	copy(bad[len(bad)-PackTrailerSize:], tr)
	if _, err := ReadPackIndex(bytes.NewReader(bad), int64(len(bad)), id, testPackID); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailer pointing at member 0: err = %v", err)
	}
	// The wrong key, no key, a key for an unencrypted pack.
	if _, err := ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), otherKey(t).AgeIdentity(), testPackID); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), nil, testPackID); !errors.Is(err, ErrKeyRequired) {
		t.Errorf("no key: %v", err)
	}
	plain, _, _ := buildPack(t, optionSets[1].packOptions(k, testPackID), nil)
	if _, err := ReadPackIndex(bytes.NewReader(plain), int64(len(plain)), id, testPackID); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("key for an unencrypted pack: %v", err)
	}
}

// TestMemberReaderLikeV1: a member reader closed early, fed trailing
// garbage or truncated behaves as the v1 reader does.
func TestMemberReaderLikeV1(t *testing.T) {
	k := testKey(t)
	content := resumeContent(300<<10, 5)
	for _, o := range optionSets {
		pack, idx, _ := buildPack(t, o.packOptions(k, testPackID), []testMember{fileMember("/f", content)})
		e := idx.Members[0]
		member := pack[e.Offset : e.Offset+e.Length]
		id := o.identity(k)
		ref := e.Ref(testPackID)

		r, err := OpenMember(bytes.NewReader(member), id, ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if _, err := r.Read(make([]byte, 10)); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: read after Close: %v", o.name, err)
		}

		for name, b := range map[string][]byte{
			"trailing garbage":  append(slices.Clone(member), "garbage"...),
			"trailing zeros":    append(slices.Clone(member), make([]byte, 1024)...),
			"truncated":         member[:len(member)-1],
			"truncated a lot":   member[:len(member)/2],
			"the next member":   pack[e.Offset : e.Offset+e.Length+10],
			"v1-style appended": append(slices.Clone(member), member...),
		} {
			_, got, err := func() (FileInfo, []byte, error) {
				r, err := OpenMember(bytes.NewReader(b), id, ref)
				if err != nil {
					return FileInfo{}, nil, err
				}
				defer r.Close()
				got, err := io.ReadAll(r)
				return r.Info(), got, err
			}()
			if err == nil {
				t.Errorf("%s: %s: read %d bytes without error", o.name, name, len(got))
			}
		}
	}
}

// TestMemberAndArchiveNotConfused: a v1 archive is not a pack member, and a
// pack member is not a v1 archive.
func TestMemberAndArchiveNotConfused(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		archive := encode(t, testInfo(5), []byte("hello"), o.options(k))
		if _, err := OpenMember(bytes.NewReader(archive), o.identity(k), MemberRef{testPackID, 0, KindFile}); !errors.Is(err, ErrNotGrsync) {
			t.Errorf("%s: v1 archive as a member: %v", o.name, err)
		}
		pack, idx, _ := buildPack(t, o.packOptions(k, testPackID), []testMember{fileMember("/a", []byte("hello"))})
		e := idx.Members[0]
		if _, _, err := decode(pack[e.Offset:e.Offset+e.Length], o.identity(k)); !errors.Is(err, ErrNotGrsync) {
			t.Errorf("%s: member as a v1 archive: %v", o.name, err)
		}
	}
}

// memberWithHeader encodes a raw (uncompressed, unencrypted) member whose
// tar entry is hdr with content.
func memberWithHeader(t *testing.T, hdr *tar.Header, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr.Size, hdr.Format = int64(len(content)), tar.FormatPAX
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	return buf.Bytes()
}

func TestMemberHeaderChecks(t *testing.T) {
	ref := MemberRef{testPackID, 3, KindFile}
	good := memberComment(ref)
	mt := time.Unix(5, 0)
	for _, c := range []struct {
		name string
		hdr  tar.Header
		ref  MemberRef
		want error
	}{
		{"good", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": good}}, ref, nil},
		{"no comment", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt}, ref, ErrNotGrsync},
		{"other comment", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": "hello"}}, ref, ErrNotGrsync},
		{"version 3", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": strings.Replace(good, "grsync/2", "grsync/3", 1)}}, ref, ErrUnsupportedVersion},
		{"comment with extra field", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": good + " x=1"}}, ref, ErrCorrupt},
		{"leading zero", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": strings.Replace(good, "member=3", "member=03", 1)}}, ref, ErrCorrupt},
		{"upper-case id", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": strings.ToUpper(good[:30]) + good[30:]}}, ref, ErrNotGrsync},
		{"directory", tar.Header{Typeflag: tar.TypeDir, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": good}}, ref, ErrCorrupt},
		{"unclean path", tar.Header{Typeflag: tar.TypeReg, Name: "a/../b", ModTime: mt, PAXRecords: map[string]string{"comment": good}}, ref, ErrCorrupt},
		{"sparse", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": good, "GNU.sparsX.major": "1"}}, ref, ErrCorrupt},
		{"with v1 marker", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": good, paxVersionKey: "1"}}, ref, ErrNotGrsync},
		{"chunk named otherwise", tar.Header{Typeflag: tar.TypeReg, Name: "a/b", ModTime: mt, PAXRecords: map[string]string{"comment": memberComment(MemberRef{testPackID, 3, KindChunk})}}, MemberRef{testPackID, 3, KindChunk}, ErrCorrupt},
		{"index named otherwise", tar.Header{Typeflag: tar.TypeReg, Name: "chunk", ModTime: mt, PAXRecords: map[string]string{"comment": memberComment(MemberRef{testPackID, IndexNumber, KindIndex})}}, MemberRef{testPackID, IndexNumber, KindIndex}, ErrCorrupt},
		{"index number on a file", tar.Header{Typeflag: tar.TypeReg, Name: "a", ModTime: mt, PAXRecords: map[string]string{"comment": strings.Replace(good, "member=3", "member=4294967295", 1)}}, MemberRef{testPackID, 3, KindFile}, ErrCorrupt},
	} {
		b := memberWithHeader(t, &c.hdr, []byte("data"))
		// archive/tar does not write GNU.sparse records; patch one in (pax
		// records are not covered by the header checksum).
		b = bytes.Replace(b, []byte("GNU.sparsX"), []byte("GNU.sparse"), 1)
		r, err := OpenMember(bytes.NewReader(b), nil, c.ref)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(got) != "data" {
				t.Errorf("%s: read %q, %v", c.name, got, err)
			}
			continue
		}
		if err == nil {
			r.Close()
			t.Errorf("%s: opened", c.name)
		} else if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := OpenMember(bytes.NewReader(nil), nil, MemberRef{testPackID, 1, KindVoid}); err == nil {
		t.Error("a void member was opened")
	}
}
