package format

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/grsync/grsync/internal/keys"
)

var testPackID = PackID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

var testCreated = time.Date(2024, 5, 1, 10, 20, 30, 500000000, time.UTC)

func (o optionSet) packOptions(k keys.Key, pack PackID) PackOptions {
	opt := PackOptions{Pack: pack, Created: testCreated, Compress: o.compress, Rand: detRand(7)}
	if o.encrypt {
		opt.Recipient = k.AgeIdentity().Recipient()
	}
	return opt
}

// testMember is a member to add to a test pack.
type testMember struct {
	kind    MemberKind
	fi      FileInfo // files only; Size is set from content
	content []byte
}

func fileMember(path string, content []byte) testMember {
	return testMember{kind: KindFile, content: content,
		fi: FileInfo{Path: path, Mode: 0o640, ModTime: time.Unix(1700000000, 123456789)}}
}

func chunkMember(content []byte) testMember { return testMember{kind: KindChunk, content: content} }

func (m testMember) hash() []byte {
	h := sha256.Sum256(m.content)
	return h[:]
}

// add adds m to w, reading files through a reader that returns uneven
// pieces, as files do.
func (m testMember) add(w *PackWriter) (IndexEntry, error) {
	if m.kind == KindChunk {
		return w.AddChunk(ChunkMeta{Hash: m.hash()}, m.content)
	}
	fi := m.fi
	fi.Size = int64(len(m.content))
	return w.AddFile(FileMeta{FileInfo: fi, Hash: m.hash()}, &unevenReader{b: m.content})
}

// unevenReader returns its bytes in reads of varying length.
type unevenReader struct {
	b []byte
	i int
}

func (r *unevenReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	steps := []int{1, 7, 512, 4096, 65535, 65536, 200 << 10, 3}
	r.i++
	n := copy(p[:min(len(p), steps[r.i%len(steps)])], r.b)
	r.b = r.b[n:]
	return n, nil
}

// buildPack writes a pack of members and returns it with the index Close
// returned and the writer's state.
func buildPack(t testing.TB, opt PackOptions, members []testMember) ([]byte, *PackIndex, PackState) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPackWriter(&buf, opt)
	if err != nil {
		t.Fatal(err)
	}
	st := w.State()
	if buf.Len() != 0 {
		t.Fatalf("NewPackWriter wrote %d bytes", buf.Len())
	}
	for i, m := range members {
		e, err := m.add(w)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if e.Number != uint32(i) || e.Kind != m.kind || e.Size != int64(len(m.content)) {
			t.Fatalf("member %d: entry %+v", i, e)
		}
		if e.Offset+e.Length != w.Size() {
			t.Fatalf("member %d ends at %d, the writer is at %d", i, e.Offset+e.Length, w.Size())
		}
	}
	idx, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if idx.Size != int64(buf.Len()) {
		t.Fatalf("index says the pack is %d bytes, %d were written", idx.Size, buf.Len())
	}
	return buf.Bytes(), idx, st
}

// readMember opens and reads member e of pack whole.
func readMember(pack []byte, id age.Identity, packID PackID, e IndexEntry) (FileInfo, []byte, error) {
	r, err := OpenMember(bytes.NewReader(pack[e.Offset:e.Offset+e.Length]), id, e.Ref(packID))
	if err != nil {
		return FileInfo{}, nil, err
	}
	defer r.Close()
	content, err := io.ReadAll(r)
	return r.Info(), content, err
}

// checkPack reads pack's index and every member and compares them with
// members and with want, the index Close returned.
func checkPack(t *testing.T, o optionSet, k keys.Key, pack []byte, want *PackIndex, members []testMember) {
	t.Helper()
	id := NewPackIdentity(k.AgeIdentity())
	if !o.encrypt {
		id = nil
	}
	idx, err := ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), id, want.Pack)
	if err != nil {
		t.Fatalf("%s: %v", o.name, err)
	}
	if !sameIndex(idx, want) {
		t.Fatalf("%s: index read back differs:\n got %+v\nwant %+v", o.name, idx, want)
	}
	if len(idx.Members) != len(members) {
		t.Fatalf("%s: %d members in the index, %d added", o.name, len(idx.Members), len(members))
	}
	for i, e := range idx.Members {
		m := members[i]
		if !bytes.Equal(e.Hash, m.hash()) {
			t.Errorf("%s: member %d: hash not recorded", o.name, i)
		}
		info, content, err := readMember(pack, id, want.Pack, e)
		if err != nil {
			t.Fatalf("%s: member %d: %v", o.name, i, err)
		}
		if !bytes.Equal(content, m.content) {
			t.Fatalf("%s: member %d: %d bytes read back differ from the %d added", o.name, i, len(content), len(m.content))
		}
		wantInfo := FileInfo{Size: int64(len(m.content))}
		if m.kind == KindFile {
			wantInfo = m.fi
			wantInfo.Size = int64(len(m.content))
			if e.Path != m.fi.Path || e.Mode != m.fi.Mode || !e.ModTime.Equal(m.fi.ModTime) {
				t.Errorf("%s: member %d: index has %q %v %v", o.name, i, e.Path, e.Mode, e.ModTime)
			}
		}
		if !sameInfo(info, wantInfo) {
			t.Errorf("%s: member %d: info %+v, want %+v", o.name, i, info, wantInfo)
		}
	}
}

func sameIndex(a, b *PackIndex) bool {
	if a.Pack != b.Pack || !a.Created.Equal(b.Created) || a.Offset != b.Offset || a.Length != b.Length ||
		a.Size != b.Size || len(a.Members) != len(b.Members) {
		return false
	}
	for i := range a.Members {
		x, y := a.Members[i], b.Members[i]
		if x.Number != y.Number || x.Offset != y.Offset || x.Length != y.Length || x.Kind != y.Kind ||
			x.Size != y.Size || !bytes.Equal(x.Hash, y.Hash) || x.Path != y.Path || x.Mode != y.Mode || !x.ModTime.Equal(y.ModTime) {
			return false
		}
	}
	return true
}

// mixedMembers covers the cases of the round trip: empty file and chunk,
// a non-UTF-8 path, several 64 KiB age chunks, a file streamed rather than
// read whole, compressible and random content.
func mixedMembers() []testMember {
	big := resumeContent(smallFileMax+300<<10, 3)
	return []testMember{
		fileMember("/empty", nil),
		fileMember("/home/ann/docs/report.txt", randomBytes(1<<10, 1)),
		fileMember("/data/bad\xff\xfename.bin", []byte("hello")),
		chunkMember(nil),
		chunkMember(resumeContent(200<<10, 4)),
		fileMember("/home/ann/big.bin", big),
		chunkMember(randomBytes(1<<20, 5)),
		fileMember("/home/ann/"+strings.Repeat("long name ", 30), []byte("a long path")),
	}
}

func TestPackRoundTrip(t *testing.T) {
	k := testKey(t)
	members := mixedMembers()
	for _, o := range optionSets {
		pack, idx, _ := buildPack(t, o.packOptions(k, testPackID), members)
		checkPack(t, o, k, pack, idx, members)
		r, err := OpenMember(bytes.NewReader(pack[:idx.Members[0].Length]), o.identity(k), idx.Members[0].Ref(testPackID))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Encoding(), PackEncoding(o.compress, o.encrypt); got != want {
			t.Errorf("%s: encoding %q, want %q", o.name, got, want)
		}
		r.Close()
	}
}

func TestPackOneMemberAndNone(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		for _, members := range [][]testMember{nil, {fileMember("/a", []byte("x"))}} {
			pack, idx, _ := buildPack(t, o.packOptions(k, testPackID), members)
			checkPack(t, o, k, pack, idx, members)
		}
	}
}

// countingIdentity counts the unwraps of an identity: X25519 operations.
type countingIdentity struct {
	id age.Identity
	n  int
}

func (c *countingIdentity) Unwrap(s []*age.Stanza) ([]byte, error) {
	c.n++
	return c.id.Unwrap(s)
}

// countingRecipient counts the wraps of a recipient: X25519 operations.
type countingRecipient struct {
	r age.Recipient
	n int
}

func (c *countingRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	c.n++
	return c.r.Wrap(fileKey)
}

// TestPackTenThousandTinyMembers: many tiny members, every one read back,
// with one X25519 operation for the whole pack.
func TestPackTenThousandTinyMembers(t *testing.T) {
	k := testKey(t)
	o := optionSets[3]
	var members []testMember
	for i := range 10000 {
		if i%2 == 0 {
			members = append(members, fileMember(fmt.Sprintf("/srv/f/%05d.txt", i), []byte(fmt.Sprint(i))))
		} else {
			members = append(members, chunkMember(randomBytes(i%97, uint64(i))))
		}
	}
	opt := o.packOptions(k, testPackID)
	wraps := &countingRecipient{r: opt.Recipient}
	opt.Recipient = wraps
	pack, want, _ := buildPack(t, opt, members)
	if wraps.n != 1 {
		t.Errorf("%d X25519 wraps for a pack of 10,000 members, want 1", wraps.n)
	}
	counter := &countingIdentity{id: k.AgeIdentity()}
	id := NewPackIdentity(counter)
	idx, err := ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), id, testPackID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameIndex(idx, want) {
		t.Fatal("index read back differs")
	}
	// Every member; under the race detector, which makes this 40 times
	// slower, every 97th.
	step := 1
	if raceEnabled {
		step = 97
	}
	for i := 0; i < len(idx.Members); i += step {
		e := idx.Members[i]
		_, content, err := readMember(pack, id, testPackID, e)
		if err != nil || !bytes.Equal(content, members[i].content) {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	if counter.n != 1 {
		t.Errorf("%d X25519 unwraps for 10,001 age files of one pack, want 1", counter.n)
	}
	t.Logf("10,000 tiny members: pack of %d bytes, index %d bytes", len(pack), idx.Length)
}

// TestPackRecreate is the promise resumed pack uploads rely on: a writer
// given the sealed and reopened state of another writes the same bytes.
func TestPackRecreate(t *testing.T) {
	k := testKey(t)
	members := mixedMembers()
	for _, o := range optionSets {
		pack, _, st := buildPack(t, o.packOptions(k, testPackID), members)
		blob, err := SealPackState(st, k.ResumeKey(), detRand(2))
		if err != nil {
			t.Fatal(err)
		}
		st2, err := OpenPackState(blob, k.ResumeKey())
		if err != nil {
			t.Fatal(err)
		}
		// Continue overrides everything else, including a recipient.
		opt := PackOptions{Compress: o.compress, Continue: &st2, Pack: PackID{9}, Recipient: otherKey(t).AgeIdentity().Recipient()}
		again, _, _ := buildPack(t, opt, members)
		if !bytes.Equal(pack, again) {
			t.Fatalf("%s: the re-created pack differs (%d and %d bytes)", o.name, len(pack), len(again))
		}
		// A fresh writer draws new randomness: same sizes, other bytes.
		fresh, _, _ := buildPack(t, PackOptions{Pack: testPackID, Created: testCreated, Compress: o.compress,
			Recipient: o.packOptions(k, testPackID).Recipient}, members)
		if o.encrypt && bytes.Equal(pack, fresh) {
			t.Errorf("%s: two packs without a state are identical", o.name)
		}
	}
}

func TestPackStateSealing(t *testing.T) {
	k := testKey(t)
	_, _, st := buildPack(t, optionSets[3].packOptions(k, testPackID), nil)
	key := k.ResumeKey()
	blob, err := SealPackState(st, key, detRand(3))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, st.FileKey[:]) || bytes.Contains(blob, st.Seed[:8]) {
		t.Error("the sealed state holds key material in the clear")
	}
	got, err := OpenPackState(blob, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pack != st.Pack || !got.Created.Equal(st.Created) || !bytes.Equal(got.Header, st.Header) ||
		got.FileKey != st.FileKey || got.Seed != st.Seed || !got.Encrypted {
		t.Fatalf("state changed through sealing: %+v", got)
	}
	for i := range blob {
		bad := slices.Clone(blob)
		bad[i] ^= 0x40
		if _, err := OpenPackState(bad, key); !errors.Is(err, ErrStreamState) {
			t.Fatalf("byte %d flipped: err = %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, blob[:len(blob)-1], append(slices.Clone(blob), 0)} {
		if _, err := OpenPackState(bad, key); !errors.Is(err, ErrStreamState) {
			t.Errorf("%d bytes: err = %v", len(bad), err)
		}
	}
	if _, err := OpenPackState(blob, otherKey(t).ResumeKey()); !errors.Is(err, ErrStreamState) {
		t.Errorf("wrong key: err = %v", err)
	}
	// A stream state of a v1 archive is not a pack state, nor the reverse.
	if _, err := OpenStreamState(blob, key); !errors.Is(err, ErrStreamState) {
		t.Errorf("pack state opened as a stream state: %v", err)
	}
	// An unencrypted pack's state has no key material and seals too.
	_, _, plain := buildPack(t, optionSets[1].packOptions(k, testPackID), nil)
	blob, err = SealPackState(plain, key, detRand(4))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenPackState(blob, key); err != nil || got.Encrypted || got.Pack != testPackID {
		t.Errorf("unencrypted state: %+v, %v", got, err)
	}
	// A header that does not go with the file key is refused.
	st.FileKey[0] ^= 1
	if _, err := SealPackState(st, key, detRand(5)); !errors.Is(err, ErrStreamState) {
		t.Errorf("mismatched header and key sealed: %v", err)
	}
	if _, err := NewPackWriter(io.Discard, PackOptions{Continue: &st}); !errors.Is(err, ErrStreamState) {
		t.Errorf("mismatched header and key accepted by NewPackWriter: %v", err)
	}
}

// failingReader yields n bytes of its content, then err.
type failingReader struct {
	b   []byte
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestPackFileChangedWhileRead: a file that is shorter, longer or fails to
// read is reported; a small one leaves no trace, a big one a void member;
// the pack goes on and stays valid.
func TestPackFileChangedWhileRead(t *testing.T) {
	k := testKey(t)
	readErr := errors.New("disk on fire")
	for _, o := range optionSets {
		var buf bytes.Buffer
		w, err := NewPackWriter(&buf, o.packOptions(k, testPackID))
		if err != nil {
			t.Fatal(err)
		}
		ok := fileMember("/ok", []byte("fine"))
		if _, err := ok.add(w); err != nil {
			t.Fatal(err)
		}
		fi := FileInfo{Path: "/changed", Mode: 0o600, ModTime: time.Unix(1, 0)}
		small := randomBytes(1000, 1)
		big := randomBytes(smallFileMax+200<<10, 2)
		cases := []struct {
			name   string
			size   int
			r      io.Reader
			want   error
			voided bool
		}{
			{"small shrank", 1001, bytes.NewReader(small), ErrSizeMismatch, false},
			{"small grew", 999, bytes.NewReader(small), ErrSizeMismatch, false},
			{"small read error", 1000, &failingReader{small[:500], readErr}, readErr, false},
			{"big shrank", len(big) + 1, bytes.NewReader(big), ErrSizeMismatch, true},
			{"big grew", len(big) - 1, bytes.NewReader(big), ErrSizeMismatch, true},
			{"big read error", len(big), &failingReader{big[:smallFileMax], readErr}, readErr, true},
		}
		members := []testMember{ok}
		for _, c := range cases {
			before := w.Len()
			fi.Size = int64(c.size)
			e, err := w.AddFile(FileMeta{FileInfo: fi}, c.r)
			if !errors.Is(err, c.want) {
				t.Fatalf("%s %s: err = %v, want %v", o.name, c.name, err, c.want)
			}
			voided := w.Len() > before
			// Uncompressed or encrypted, the start of a big file is written
			// before it fails; compressed, the encoder may still hold it.
			if c.voided != voided && (o.encrypt || !o.compress) {
				t.Errorf("%s %s: void member: %v, want %v", o.name, c.name, voided, c.voided)
			}
			if voided && (e.Kind != KindVoid || e.Number != uint32(before)) {
				t.Errorf("%s %s: entry %+v is not the void member", o.name, c.name, e)
			}
			if voided {
				members = append(members, testMember{kind: KindVoid})
			}
			after := fileMember("/after/"+c.name, []byte(c.name))
			if _, err := after.add(w); err != nil {
				t.Fatalf("%s %s: the next member: %v", o.name, c.name, err)
			}
			members = append(members, after)
		}
		idx, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		pack := buf.Bytes()
		var id age.Identity
		if o.encrypt {
			id = k.AgeIdentity()
		}
		got, err := ReadPackIndex(bytes.NewReader(pack), int64(len(pack)), id, testPackID)
		if err != nil || !sameIndex(got, idx) {
			t.Fatalf("%s: index: %v", o.name, err)
		}
		for i, e := range got.Members {
			if e.Kind != members[i].kind {
				t.Fatalf("%s: member %d is %s, want %s", o.name, i, e.Kind, members[i].kind)
			}
			if e.Kind == KindVoid {
				continue
			}
			if _, content, err := readMember(pack, id, testPackID, e); err != nil || !bytes.Equal(content, members[i].content) {
				t.Fatalf("%s: member %d: %v", o.name, i, err)
			}
		}
	}
}

func TestPackWriterRefusesBadInput(t *testing.T) {
	k := testKey(t)
	if _, err := NewPackWriter(io.Discard, PackOptions{}); err == nil {
		t.Error("a pack without id was started")
	}
	w, err := NewPackWriter(io.Discard, optionSets[3].packOptions(k, testPackID))
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(1, 0)
	for _, fi := range []FileInfo{
		{Path: "relative", ModTime: mt},
		{Path: "/a/../b", ModTime: mt},
		{Path: "/a", Size: -1, ModTime: mt},
		{Path: "/a"},
		{Path: "/a", Mode: 0o777 | 1<<31, ModTime: mt},
	} {
		if _, err := w.AddFile(FileMeta{FileInfo: fi}, bytes.NewReader(nil)); err == nil {
			t.Errorf("%+v was added", fi)
		}
	}
	if _, err := w.AddChunk(ChunkMeta{Hash: make([]byte, 65)}, nil); err == nil {
		t.Error("a 65-byte hash was accepted")
	}
	if w.Len() != 0 || w.Size() != 0 {
		t.Errorf("refused members left %d members, %d bytes", w.Len(), w.Size())
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddChunk(ChunkMeta{}, []byte("x")); err == nil {
		t.Error("a chunk was added after Close")
	}
}

// errWriter fails every write after the first n bytes.
type errWriter struct{ n int }

func (w *errWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("store gone")
	}
	w.n -= len(b)
	return len(b), nil
}

// TestPackWriterDstFailureIsSticky: once the store fails, every call fails.
func TestPackWriterDstFailureIsSticky(t *testing.T) {
	k := testKey(t)
	w, err := NewPackWriter(&errWriter{n: 100 << 10}, optionSets[3].packOptions(k, testPackID))
	if err != nil {
		t.Fatal(err)
	}
	var failed bool
	for i := 0; i < 50 && !failed; i++ {
		_, err = w.AddChunk(ChunkMeta{}, randomBytes(20<<10, uint64(i)))
		failed = err != nil
	}
	if !failed {
		t.Fatal("writing to a failing store never failed")
	}
	if _, err := w.AddChunk(ChunkMeta{}, []byte("x")); err == nil || !strings.Contains(err.Error(), "store gone") {
		t.Errorf("after the failure, AddChunk: %v", err)
	}
	if _, err := w.Close(); err == nil {
		t.Error("Close after the failure succeeded")
	}
}

// TestPackFull: a writer refuses the member that would make the index too
// long, writes nothing for it, and the pack stays valid.
func TestPackFull(t *testing.T) {
	k := testKey(t)
	var buf bytes.Buffer
	w, err := NewPackWriter(&buf, optionSets[3].packOptions(k, testPackID))
	if err != nil {
		t.Fatal(err)
	}
	w.maxIndex = 2000
	var members []testMember
	for i := 0; ; i++ {
		m := fileMember(fmt.Sprintf("/%s%d", strings.Repeat("long/", 20), i), []byte("x"))
		size := w.Size()
		if _, err := m.add(w); err != nil {
			if !errors.Is(err, ErrPackFull) {
				t.Fatal(err)
			}
			if w.Size() != size || w.Len() != len(members) {
				t.Fatal("a refused member was written")
			}
			break
		}
		members = append(members, m)
	}
	if len(members) < 5 {
		t.Fatalf("only %d members fit", len(members))
	}
	idx, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if doc := appendIndexJSON(nil, idx); len(doc) > 2000 {
		t.Errorf("index of %d bytes, limit 2000", len(doc))
	}
	checkPack(t, optionSets[3], k, buf.Bytes(), idx, members)
}

// A member's zstd frame carries a content checksum in an unencrypted pack,
// and none in an encrypted one, whose age layer authenticates it
// (docs/FORMAT.md 8.4); both decode with the standard tools' library.
func TestMemberFrameChecksumOnlyWithoutEncryption(t *testing.T) {
	k := testKey(t)
	members := mixedMembers()
	for _, o := range optionSets {
		if !o.compress {
			continue
		}
		pack, idx, _ := buildPack(t, o.packOptions(k, testPackID), members)
		for _, e := range idx.Members {
			frame := pack[e.Offset : e.Offset+e.Length]
			if o.encrypt {
				r, err := age.Decrypt(bytes.NewReader(frame), k.AgeIdentity())
				if err != nil {
					t.Fatalf("%s: member %d: %v", o.name, e.Number, err)
				}
				if frame, err = io.ReadAll(r); err != nil {
					t.Fatalf("%s: member %d: %v", o.name, e.Number, err)
				}
			}
			if len(frame) < 5 || !bytes.Equal(frame[:4], zstdMagic[:]) {
				t.Fatalf("%s: member %d is no zstd frame", o.name, e.Number)
			}
			// Frame_Header_Descriptor, bit 2: Content_Checksum_flag.
			if got, want := frame[4]&0x04 != 0, !o.encrypt; got != want {
				t.Errorf("%s: member %d: content checksum %v, want %v", o.name, e.Number, got, want)
			}
			d, err := zstd.NewReader(bytes.NewReader(frame))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, d); err != nil {
				t.Errorf("%s: member %d does not decode: %v", o.name, e.Number, err)
			}
			d.Close()
		}
	}
}
