package format

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func FuzzOpen(f *testing.F) {
	k := testKey(f)
	for _, o := range optionSets {
		f.Add(encode(f, testInfo(5), []byte("hello"), o.options(k)), o.encrypt)
		f.Add(encode(f, testInfo(1000), randomBytes(1000, 40), o.options(k)), o.encrypt)
	}
	f.Add([]byte("age-encryption.org/v1\n-> X25519 abc\n"), true)
	f.Add(append(zstdMagic[:], 0, 0, 0, 0), false)
	f.Add([]byte{}, false)
	id := k.AgeIdentity()
	f.Fuzz(func(t *testing.T, data []byte, withKey bool) {
		var r *Reader
		var err error
		if withKey {
			r, err = Open(bytes.NewReader(data), id)
		} else {
			r, err = Open(bytes.NewReader(data), nil)
		}
		if err != nil {
			return
		}
		defer r.Close()
		// Decompression can expand a small input a lot; stop at 64 MiB.
		n, err := io.CopyN(io.Discard, r, 64<<20)
		if errors.Is(err, io.EOF) && n != r.Info().Size {
			t.Fatalf("clean end after %d bytes, header says %d", n, r.Info().Size)
		}
		if err == nil {
			return // 64 MiB read, stopped early
		}
		if !errors.Is(err, io.EOF) {
			if _, err2 := r.Read(make([]byte, 1)); err2 == nil || err2 == io.EOF {
				t.Fatalf("error %v was followed by %v", err, err2)
			}
		}
	})
}

func FuzzParseDescription(f *testing.F) {
	mk := testKey(f).MetadataKey()
	for _, key := range []*MetaKey{nil, &mk} {
		descs, err := EncodeDescriptions(testMeta("/home/ann/"+strings.Repeat("x/", 600)), key, detRand(1))
		if err != nil {
			f.Fatal(err)
		}
		for _, d := range descs {
			f.Add(d)
		}
	}
	f.Add("grsync|/a/b|123")
	f.Add("grsync2:p:0123456789abcdef:0/1:AAEC")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseDescription(s)
		if err != nil {
			return
		}
		if got := formatPiece(p); got != s {
			t.Fatalf("ParseDescription(%q) formats back as %q", s, got)
		}
		if len(s) > 1024 {
			t.Fatalf("accepted %d characters", len(s))
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	mk := testKey(f).MetadataKey()
	for _, key := range []*MetaKey{nil, &mk} {
		for _, p := range []string{"/a", "/home/ann/" + strings.Repeat("photos/", 200) + "x.jpg"} {
			descs, err := EncodeDescriptions(testMeta(p), key, detRand(2))
			if err != nil {
				f.Fatal(err)
			}
			var blob []byte
			for _, d := range descs {
				pc, _ := ParseDescription(d)
				blob = append(blob, pc.Data...)
			}
			f.Add(blob, key != nil)
		}
	}
	f.Add([]byte{0, tagPath, 2, '/', 'a'}, false)
	f.Fuzz(func(t *testing.T, blob []byte, encrypted bool) {
		var key *MetaKey
		if encrypted {
			key = &mk
		}
		var pieces []Piece
		count := (len(blob) + maxPieceData - 1) / maxPieceData
		for i := 0; i*maxPieceData < len(blob); i++ {
			pieces = append(pieces, Piece{Group: "0123456789abcdef", Index: i, Count: count, Encrypted: encrypted,
				Data: blob[i*maxPieceData : min((i+1)*maxPieceData, len(blob))]})
		}
		m, err := DecodeMeta(pieces, key)
		if err != nil {
			return
		}
		// Whatever decodes must encode again and decode to the same thing.
		descs, err := EncodeDescriptions(m, key, detRand(3))
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", m, err)
		}
		var again []Piece
		for _, d := range descs {
			p, err := ParseDescription(d)
			if err != nil {
				t.Fatal(err)
			}
			again = append(again, p)
		}
		m2, err := DecodeMeta(again, key)
		if err != nil || !sameMeta(m, m2) {
			t.Fatalf("re-encoded metadata: %+v, %v; want %+v", m2, err, m)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("/home/ann/file.txt", []byte("content"), int64(1700000000), uint32(5), uint16(0o644), true, true, "desc", []byte{1, 2, 3})
	f.Add("/bad\xffutf8", []byte{}, int64(-1), uint32(999999999), uint16(0o7777), false, false, "", []byte(nil))
	f.Add("/"+strings.Repeat("long/", 1000)+"x", []byte{0}, int64(0), uint32(0), uint16(0), true, false, "ü", make([]byte, 64))
	k := testKey(f)
	mk := k.MetadataKey()
	ageID := k.AgeIdentity()
	f.Fuzz(func(t *testing.T, path string, content []byte, sec int64, nsec uint32, mode uint16, compress, encrypt bool, desc string, hash []byte) {
		mtime := time.Unix(sec, int64(nsec%1e9))
		fi := FileInfo{Path: path, Size: int64(len(content)), Mode: fileMode(int64(mode) & modeMask), ModTime: mtime}
		opt := Options{Compress: compress}
		var id age.Identity
		if encrypt {
			opt.Recipient = ageID.Recipient()
			id = ageID
		}

		// The archive.
		var buf bytes.Buffer
		w, err := NewWriter(&buf, fi, opt)
		if err == nil {
			if _, err := w.Write(content); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, data, err := decode(buf.Bytes(), id)
			if err != nil {
				t.Fatalf("decode %+v: %v", fi, err)
			}
			if !bytes.Equal(data, content) || !sameInfo(got, fi) {
				t.Fatalf("round trip: %+v, want %+v", got, fi)
			}
		} else if checkPath(path) == nil && !mtime.IsZero() {
			t.Fatalf("NewWriter refused a valid file: %v", err)
		}

		// Its metadata.
		m := Meta{Path: path, Size: fi.Size, ModTime: mtime, Mode: fi.Mode, ContentHash: hash, Desc: desc,
			Encoding: Encoding(opt), Created: mtime.Add(time.Second)}
		var key *MetaKey
		if encrypt {
			key = &mk
		}
		descs, err := EncodeDescriptions(m, key, detRand(4))
		if err != nil {
			return // invalid metadata (relative path, NUL, long hash...)
		}
		var pieces []Piece
		for _, d := range descs {
			for i := 0; i < len(d); i++ {
				if d[i] < 0x20 || d[i] > 0x7e || len(d) > 1024 {
					t.Fatalf("bad description %q", d)
				}
			}
			p, err := ParseDescription(d)
			if err != nil {
				t.Fatal(err)
			}
			pieces = append(pieces, p)
		}
		got, err := DecodeMeta(pieces, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.ContentHash) == 0 {
			m.ContentHash = nil
		}
		if !sameMeta(got, m) {
			t.Fatalf("metadata round trip: %+v, want %+v", got, m)
		}
	})
}

func FuzzOpenStreamState(f *testing.F) {
	var hdr bytes.Buffer
	_, st, err := encryptCapture(&hdr, testKey(f).AgeIdentity().Recipient())
	if err != nil {
		f.Fatal(err)
	}
	key := [32]byte{9}
	blob, err := SealStreamState(st, key, detRand(5))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add(blob[:len(blob)-1])
	f.Add(append([]byte{2}, blob[1:]...))
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, blob []byte) {
		st, err := OpenStreamState(blob, key)
		if err != nil {
			if !errors.Is(err, ErrStreamState) {
				t.Fatalf("error %v does not wrap ErrStreamState", err)
			}
			return
		}
		// Whatever opens is a usable state that seals and opens again.
		if err := checkStreamState(st); err != nil {
			t.Fatalf("opened an unusable state: %v", err)
		}
		again, err := SealStreamState(st, key, detRand(6))
		if err != nil {
			t.Fatal(err)
		}
		st2, err := OpenStreamState(again, key)
		if err != nil || !bytes.Equal(st2.Header, st.Header) || st2.FileKey != st.FileKey {
			t.Fatalf("re-sealed state: %+v, %v", st2, err)
		}
	})
}
