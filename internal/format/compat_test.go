package format

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Archives written by this version, kept in testdata: every later grsync
// must still read them (docs/FORMAT.md section 4). Regenerate only for a
// deliberate format change, with -update.
var compatInfo = FileInfo{
	Path:    "/compat/vector \xe2\x9c\x93.txt",
	Size:    int64(len(compatContent)),
	Mode:    0o604,
	ModTime: time.Unix(1234567890, 123456789),
}

var compatContent = bytes.Repeat([]byte("grsync v1 compatibility vector\n"), 3000)

func TestCompatibilityVectors(t *testing.T) {
	k := testKey(t)
	for _, o := range optionSets {
		file := filepath.Join("testdata", "v1", o.name+".bin")
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, encode(t, compatInfo, compatContent, o.options(k)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		archive, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test -update once to create it)", err)
		}
		info, data, err := decode(archive, o.identity(k))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !sameInfo(info, compatInfo) || !bytes.Equal(data, compatContent) {
			t.Errorf("%s: decoded %+v and %d bytes", file, info, len(data))
		}
	}
}
