package format

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzPacks are small packs of every encoding, seeds for the fuzz targets.
func fuzzPacks(f *testing.F) [][]byte {
	k := testKey(f)
	var packs [][]byte
	for _, o := range optionSets {
		p, _, _ := buildPack(f, o.packOptions(k, testPackID), []testMember{
			fileMember("/a", []byte("hello")), chunkMember(randomBytes(300, 1)), fileMember("/b\xff", nil)})
		packs = append(packs, p)
	}
	return packs
}

func FuzzParsePackTrailer(f *testing.F) {
	for _, p := range fuzzPacks(f) {
		f.Add(p[len(p)-PackTrailerSize:])
	}
	f.Add(appendTrailer(nil, PackTrailer{IndexOffset: 1<<63 - 1, IndexLength: 1<<63 - 1}))
	f.Add(bytes.Repeat([]byte{'0'}, PackTrailerSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ParsePackTrailer(b)
		if err != nil {
			return
		}
		if tr.IndexOffset < 0 || tr.IndexLength < 0 {
			t.Fatalf("negative position %+v", tr)
		}
		if !bytes.Equal(appendTrailer(nil, tr), b) {
			t.Fatalf("trailer %q parses as %+v, which writes differently", b, tr)
		}
	})
}

func FuzzParsePackIndex(f *testing.F) {
	f.Add(appendIndexJSON(nil, exampleIndex()), int64(1331))
	f.Add(appendIndexJSON(nil, &PackIndex{Pack: testPackID, Created: testCreated}), int64(0))
	f.Add([]byte(`{"format":2}`), int64(0))
	f.Add([]byte(`{"format":3}`), int64(0))
	f.Fuzz(func(t *testing.T, doc []byte, indexOffset int64) {
		idx, err := parseIndex(doc, testPackID, indexOffset)
		if err != nil {
			return
		}
		if idx.Pack != testPackID {
			t.Fatalf("index of pack %s accepted", idx.Pack)
		}
		var next int64
		for i, e := range idx.Members {
			if e.Number != uint32(i) || e.Offset != next || e.Length <= 0 {
				t.Fatalf("member %d: %+v does not follow %d", i, e, next)
			}
			if e.Kind == KindFile && checkPath(e.Path) != nil {
				t.Fatalf("member %d: path %q accepted", i, e.Path)
			}
			next += e.Length
		}
		if next != indexOffset {
			t.Fatalf("members end at %d, the index is at %d", next, indexOffset)
		}
		if !bytes.Equal(appendIndexJSON(nil, idx), doc) {
			t.Fatal("accepted an index that encodes differently")
		}
	})
}

func FuzzOpenMember(f *testing.F) {
	k := testKey(f)
	for i, p := range fuzzPacks(f) {
		idx, err := ReadPackIndex(bytes.NewReader(p), int64(len(p)), optionSets[i].identity(k), testPackID)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range idx.Members {
			f.Add(p[e.Offset:e.Offset+e.Length], optionSets[i].encrypt, e.Number, string(e.Kind))
		}
		f.Add(p[idx.Offset:idx.Offset+idx.Length], optionSets[i].encrypt, uint32(IndexNumber), string(KindIndex))
	}
	f.Add([]byte{}, false, uint32(0), "file")
	id := k.AgeIdentity()
	f.Fuzz(func(t *testing.T, data []byte, withKey bool, number uint32, kind string) {
		ref := MemberRef{Pack: testPackID, Number: number, Kind: MemberKind(kind)}
		var r *Reader
		var err error
		if withKey {
			r, err = OpenMember(bytes.NewReader(data), id, ref)
		} else {
			r, err = OpenMember(bytes.NewReader(data), nil, ref)
		}
		if err != nil {
			return
		}
		defer r.Close()
		if ref.check() != nil {
			t.Fatalf("opened a member with impossible expectations %+v", ref)
		}
		if kind == string(KindFile) && checkPath(r.Info().Path) != nil {
			t.Fatalf("file member with path %q", r.Info().Path)
		}
		// Decompression can expand a small input a lot; stop at 64 MiB.
		n, err := io.CopyN(io.Discard, r, 64<<20)
		if errors.Is(err, io.EOF) && n != r.Info().Size {
			t.Fatalf("clean end after %d bytes, header says %d", n, r.Info().Size)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, io.EOF) {
			if _, err2 := r.Read(make([]byte, 1)); err2 == nil || err2 == io.EOF {
				t.Fatalf("error %v was followed by %v", err, err2)
			}
		}
	})
}

// FuzzReadPackIndex feeds whole objects to the index reader: trailer,
// member and document parsing together.
func FuzzReadPackIndex(f *testing.F) {
	for i, p := range fuzzPacks(f) {
		f.Add(p, optionSets[i].encrypt)
	}
	id := testKey(f).AgeIdentity()
	f.Fuzz(func(t *testing.T, pack []byte, withKey bool) {
		var idx *PackIndex
		var err error
		if withKey {
			idx, err = ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), id, testPackID)
		} else {
			idx, err = ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), nil, testPackID)
		}
		if err != nil {
			return
		}
		if idx.Size != int64(len(pack)) || idx.Offset+idx.Length+PackTrailerSize != idx.Size {
			t.Fatalf("index at %d+%d in a pack of %d", idx.Offset, idx.Length, len(pack))
		}
	})
}

func FuzzOpenPackState(f *testing.F) {
	k := testKey(f)
	key := k.ResumeKey()
	for _, o := range optionSets {
		var buf bytes.Buffer
		w, err := NewPackWriter(&buf, o.packOptions(k, testPackID))
		if err != nil {
			f.Fatal(err)
		}
		blob, err := SealPackState(w.State(), key, detRand(1))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob)
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		st, err := OpenPackState(blob, key)
		if err != nil {
			if !errors.Is(err, ErrStreamState) {
				t.Fatalf("error %v does not wrap ErrStreamState", err)
			}
			return
		}
		if _, err := NewPackWriter(io.Discard, PackOptions{Continue: &st}); err != nil {
			t.Fatalf("an opened state does not start a writer: %v", err)
		}
	})
}
