package format

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// encodeAll encodes members on one goroutine each, as the sync engine
// does, and adds them in number order to a writer continuing state st.
func encodeAll(t *testing.T, compress bool, st PackState, members []testMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPackWriter(&buf, PackOptions{Compress: compress, Continue: &st})
	if err != nil {
		t.Fatal(err)
	}
	me := w.Encoder()
	enc := make([]EncodedMember, len(members))
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m.kind == KindChunk {
				enc[i], errs[i] = me.Chunk(uint32(i), ChunkMeta{Hash: m.hash()}, m.content, nil)
				return
			}
			fi := m.fi
			fi.Size = int64(len(m.content))
			enc[i], errs[i] = me.File(uint32(i), FileMeta{FileInfo: fi, Hash: m.hash()}, m.content, nil)
		}()
	}
	wg.Wait()
	for i := range members {
		if errs[i] != nil {
			t.Fatalf("member %d: %v", i, errs[i])
		}
		e, err := w.AddEncoded(enc[i])
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if e.Offset+e.Length != w.Size() || e.Number != uint32(i) {
			t.Fatalf("member %d: entry %+v, the writer is at %d", i, e, w.Size())
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Members encoded apart, on many goroutines, make the same pack, byte for
// byte, as AddFile and AddChunk: readers and the shell recipe cannot tell.
func TestEncodedMembersMakeTheSamePack(t *testing.T) {
	k := testKey(t)
	members := mixedMembers()
	for i := range 50 {
		members = append(members, fileMember("/many/f"+strings.Repeat("x", i), randomBytes(i*97, uint64(i))))
	}
	for _, o := range optionSets {
		pack, idx, st := buildPack(t, o.packOptions(k, testPackID), members)
		got := encodeAll(t, o.compress, st, members)
		if !bytes.Equal(got, pack) {
			t.Fatalf("%s: the pack of encoded members differs (%d and %d bytes)", o.name, len(got), len(pack))
		}
		checkPack(t, o, k, got, idx, members)
	}
}

func TestAddEncodedRefusesMisfits(t *testing.T) {
	k := testKey(t)
	o := optionSets[len(optionSets)-1]
	var buf bytes.Buffer
	w, err := NewPackWriter(&buf, o.packOptions(k, testPackID))
	if err != nil {
		t.Fatal(err)
	}
	me := w.Encoder()
	fm := func(data string) FileMeta {
		m := fileMember("/a", []byte(data))
		m.fi.Size = int64(len(data))
		return FileMeta{FileInfo: m.fi}
	}
	second, err := me.File(1, fm("b"), []byte("b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddEncoded(second); err == nil || !strings.Contains(err.Error(), "member 0 is next") {
		t.Errorf("member 1 added first: %v", err)
	}
	other, err := NewPackWriter(io.Discard, o.packOptions(k, PackID{9}))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Encoder().File(0, fm("c"), []byte("c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddEncoded(foreign); err == nil || !strings.Contains(err.Error(), "encoded for pack") {
		t.Errorf("another pack's member added: %v", err)
	}
	if _, err := me.File(0, fm("abc"), []byte("ab"), nil); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("content shorter than the file's size: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("refused members wrote %d bytes", buf.Len())
	}
	// A full index is refused before anything is written.
	w.maxIndex = w.indexLen + 10
	first, err := me.File(0, fm("a"), []byte("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddEncoded(first); !errors.Is(err, ErrPackFull) {
		t.Errorf("a member past the index's limit: %v", err)
	}
	if buf.Len() != 0 || w.Len() != 0 {
		t.Errorf("a refused member wrote %d bytes, %d members", buf.Len(), w.Len())
	}
}

// The bound IndexLineMax gives holds for the longest lines.
func TestIndexLineMax(t *testing.T) {
	for _, path := range []string{"/a", "/" + strings.Repeat("\x01", 4000), "/" + strings.Repeat("\xff", 4000), "/" + strings.Repeat("é", 2000)} {
		e := IndexEntry{Number: IndexNumber - 1, Offset: 1<<63 - 1, Length: 1<<63 - 1, Kind: KindFile, Size: 1<<63 - 1,
			Hash: bytes.Repeat([]byte{1}, maxHashLen), Path: path, Mode: 0o7777, ModTime: testCreated}
		if n := len(appendMemberJSON(nil, e)) + 2; n > IndexLineMax(len(path)) {
			t.Errorf("a line of %d bytes for a path of %d, bound %d", n, len(path), IndexLineMax(len(path)))
		}
	}
	e := IndexEntry{Number: IndexNumber - 1, Offset: 1<<63 - 1, Length: 1<<63 - 1, Kind: KindChunk, Size: 1<<63 - 1,
		Hash: bytes.Repeat([]byte{1}, maxHashLen)}
	if n := len(appendMemberJSON(nil, e)) + 2; n > IndexLineMax(0) {
		t.Errorf("a chunk's line of %d bytes, bound %d", n, IndexLineMax(0))
	}
}

// A frame that fits the small window is the same, byte for byte, from an
// encoder with the small window and from one with the full window: the
// pools may hand out either without changing a pack.
func TestSmallWindowSameBytes(t *testing.T) {
	for i, n := range []int{1536, 6000, 100000, 1 << 20, smallZstdWindow - 128<<10, smallZstdWindow - 1000, smallZstdWindow - 1} {
		data := randomBytes(n, uint64(i))
		if i%2 == 1 {
			data = bytes.Repeat([]byte("some text to compress "), n/22+1)[:n]
		}
		for _, raw := range []bool{false, true} {
			var small, full bytes.Buffer
			ks, kf := encoderKind{window: smallZstdWindow, rawLiterals: raw}, encoderKind{window: zstdWindow, rawLiterals: raw}
			es, err := getEncoderKind(&small, ks)
			if err != nil {
				t.Fatal(err)
			}
			ef, err := getEncoderKind(&full, kf)
			if err != nil {
				t.Fatal(err)
			}
			es.ResetContentSize(&small, int64(n))
			ef.ResetContentSize(&full, int64(n))
			es.Write(data)
			ef.Write(data)
			if err := es.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ef.Close(); err != nil {
				t.Fatal(err)
			}
			putEncoderKind(es, ks)
			putEncoderKind(ef, kf)
			if !bytes.Equal(small.Bytes(), full.Bytes()) {
				t.Errorf("%d bytes, raw literals %v: the small window wrote other bytes", n, raw)
			}
		}
	}
}

// Members whose bytes are spread evenly (random, already compressed) are
// encoded with raw literals, and are no bigger for it; members with a
// skewed distribution (text, base64) keep Huffman-coded literals.
func TestRawLiteralsOnlyForUniformContent(t *testing.T) {
	text := bytes.Repeat([]byte("a line of text, compressible enough\n"), 200)[:6144]
	b64 := make([]byte, base64.StdEncoding.EncodedLen(4608))
	base64.StdEncoding.Encode(b64, randomBytes(4608, 3))
	for _, c := range []struct {
		name    string
		content []byte
		raw     bool
	}{
		{"random 6 KiB", randomBytes(6144, 1), true},
		{"random 100 KiB", randomBytes(100<<10, 2), true},
		{"text", text, false},
		{"base64", b64, false},
		{"random but 512 bytes", randomBytes(512, 4), false},
		{"random but 200 KiB (more than a block)", randomBytes(200<<10, 5), false},
	} {
		if got := rawLiterals(c.content); got != c.raw {
			t.Errorf("%s: rawLiterals %v, want %v", c.name, got, c.raw)
		}
		sizes := map[bool]int{}
		for _, raw := range []bool{false, true} {
			var out bytes.Buffer
			k := encoderKind{window: memberWindow, rawLiterals: raw}
			e, err := getEncoderKind(&out, k)
			if err != nil {
				t.Fatal(err)
			}
			e.Write(c.content)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			putEncoderKind(e, k)
			sizes[raw] = out.Len()
		}
		if c.raw && sizes[true] > sizes[false] {
			t.Errorf("%s: %d bytes with raw literals, %d without", c.name, sizes[true], sizes[false])
		}
	}
}
