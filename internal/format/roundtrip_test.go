package format

import (
	"bytes"
	"fmt"
	"io/fs"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 1<<20 + 7} {
			t.Run(fmt.Sprintf("%s/%d", o.name, size), func(t *testing.T) {
				content := randomBytes(size, uint64(size))
				fi := testInfo(size)
				archive := encode(t, fi, content, o.options(k))
				got, data, err := decode(archive, o.identity(k))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, content) {
					t.Fatalf("content differs: got %d bytes, want %d", len(data), len(content))
				}
				if !sameInfo(got, fi) {
					t.Errorf("info = %+v, want %+v", got, fi)
				}
			})
		}
	}
}

func TestRoundTripEncodingAndCompressibleData(t *testing.T) {
	k := testKey(t)
	content := bytes.Repeat([]byte("all work and no play makes a dull backup\n"), 50000)
	for _, o := range optionSets {
		archive := encode(t, testInfo(len(content)), content, o.options(k))
		r, err := Open(bytes.NewReader(archive), o.identity(k))
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		if r.Encoding() != o.name || Encoding(o.options(k)) != o.name {
			t.Errorf("%s: Reader.Encoding = %q, Encoding = %q", o.name, r.Encoding(), Encoding(o.options(k)))
		}
		r.Close()
		if o.compress && len(archive) > len(content)/20 {
			t.Errorf("%s: %d bytes of text compressed to %d", o.name, len(content), len(archive))
		}
	}
}

func TestRoundTripFileInfo(t *testing.T) {
	k := testKey(t)
	for _, fi := range []FileInfo{
		{Path: "/a", Mode: 0o600, ModTime: time.Unix(0, 0)},
		{Path: "/tmp/x", Mode: 0o755 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, ModTime: time.Unix(1, 999999999)},
		{Path: "/old", Mode: 0o644, ModTime: time.Unix(-1234567890, 5)},
		{Path: "/far/future", Mode: 0o644, ModTime: time.Unix(1<<40, 1)},
		{Path: "/bad\xff\xfeutf8/na\x80me", Mode: 0o644, ModTime: time.Unix(1700000000, 0)},
		{Path: "/" + string(bytes.Repeat([]byte("long-directory-name/"), 250)) + "f", Mode: 0o644, ModTime: time.Unix(1700000000, 1)},
		{Path: "/ünïcødé/файл/文件 with spaces\nand newline", Mode: 0o444, ModTime: time.Unix(1700000000, 42)},
	} {
		for _, o := range optionSets {
			content := []byte("content of " + fi.Path)
			fi.Size = int64(len(content))
			got, data, err := decode(encode(t, fi, content, o.options(k)), o.identity(k))
			if err != nil {
				t.Fatalf("%s %q: %v", o.name, fi.Path, err)
			}
			if !bytes.Equal(data, content) || !sameInfo(got, fi) {
				t.Errorf("%s: info = %+v, want %+v", o.name, got, fi)
			}
		}
	}
}
