package engine

import (
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/catalog"
)

// A piece that decodes to more than the catalogue recorded fails, and is
// read no further than one byte past that size (decodeAhead holds pieces
// in memory).
func TestCopyPieceStopsPastTheRecordedSize(t *testing.T) {
	p := catalog.Piece{Blob: catalog.Blob{Size: 10, Kind: catalog.BlobFile}, Object: &catalog.Object{ArchiveID: "a"}}
	var out strings.Builder
	n, err := copyPiece(sha256.New(), p, &out, io.NopCloser(strings.NewReader(strings.Repeat("x", 1<<20))))
	if err == nil || !strings.Contains(err.Error(), "more than the 10 bytes") {
		t.Fatalf("err %v, want one saying the piece gave more than 10 bytes", err)
	}
	if n != 11 || out.Len() != 11 {
		t.Errorf("read %d bytes, wrote %d; want 11 (the recorded size and one)", n, out.Len())
	}
}
