package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/grsync/grsync/internal/catalog"
)

// Members of one object are read in windows: neighbours (gaps up to
// windowGap) share one ranged read, a far member gets its own, every
// member's bytes come back exact, and a failed read is tried again by the
// next member that needs the window.
func TestWindowsReadNeighboursOnce(t *testing.T) {
	obj := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB
	piece := func(off, n int64) []*restoreFile {
		return []*restoreFile{{pieces: []catalog.Piece{{Blob: catalog.Blob{Kind: catalog.BlobFile, Offset: off, Length: n}, Object: &catalog.Object{ArchiveID: "p"}}}}}
	}
	far := int64(len(obj)) - 100 // more than windowGap after the others
	groups := [][]*restoreFile{piece(0, 100), piece(150, 50), piece(300, 1000), piece(far, 100)}
	w := planWindows(groups)
	if n := len(w.byObj["p"]); n != 2 {
		t.Fatalf("%d windows, want 2 (three neighbours, one far member)", n)
	}
	var mu sync.Mutex
	var reads []int64
	fail := true
	readRange := func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		reads = append(reads, off)
		if off == far && fail {
			fail = false
			return nil, errors.New("a transient failure")
		}
		return io.NopCloser(bytes.NewReader(obj[off : off+n])), nil
	}
	get := func(off, n int64) ([]byte, error) {
		rc, ok, err := w.read(context.Background(), "p", off, n, readRange)
		if !ok {
			t.Fatalf("no window holds %d+%d", off, n)
		}
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	for _, m := range [][2]int64{{150, 50}, {0, 100}, {300, 1000}} {
		got, err := get(m[0], m[1])
		if err != nil || !bytes.Equal(got, obj[m[0]:m[0]+m[1]]) {
			t.Fatalf("member at %d: %v, bytes equal %v", m[0], err, bytes.Equal(got, obj[m[0]:m[0]+m[1]]))
		}
	}
	if _, err := get(far, 100); err == nil {
		t.Fatal("the failed read of the far window should fail its member")
	}
	if got, err := get(far, 100); err != nil || !bytes.Equal(got, obj[far:far+100]) {
		t.Fatalf("the far member read again: %v", err)
	}
	if len(reads) != 3 || reads[0] != 0 || reads[1] != far || reads[2] != far {
		t.Errorf("ranged reads at %v, want one at 0 for the three neighbours, then the far window twice (a failure, a retry)", reads)
	}
	if w.bytes != 0 || len(w.loaded) != 0 {
		t.Errorf("%d bytes in %d windows still loaded after every member was read", w.bytes, len(w.loaded))
	}
	if _, ok, _ := w.read(context.Background(), "q", 0, 10, readRange); ok {
		t.Error("a member of an object no window covers must be read directly")
	}
}
