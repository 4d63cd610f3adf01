package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

// testRangedRetrieval: a retrieval asking for a byte range is either
// honoured (the returned retrieval carries that range, reads inside it
// give the archive's bytes at the archive's offsets, reads outside it are
// permanent errors) or ignored (the returned retrieval is whole and every
// read works). A range no store may honour is a permanent error.
func testRangedRetrieval(t *testing.T, h *harness) {
	const mib = store.RangeAlign
	data := randomBytes(3*mib+5, 7)
	a := h.put(t, data, "ranged")
	r := h.ready(t, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Offset: mib, Length: mib})
	if r.Size != a.Size {
		t.Errorf("ranged retrieval: Size = %d, want the archive's %d", r.Size, a.Size)
	}
	if r.Ranged() && (r.Offset != mib || r.Length != mib) {
		t.Fatalf("ranged retrieval of bytes %d-%d returned the range %d-%d", mib, 2*mib-1, r.Offset, r.Offset+r.Length-1)
	}
	if got := h.read(t, r, mib+10, 1000); !bytes.Equal(got, data[mib+10:mib+1010]) {
		t.Error("read inside the range differs")
	}
	if got := h.read(t, r, mib, mib); !bytes.Equal(got, data[mib:2*mib]) {
		t.Error("read of the whole range differs")
	}
	if !r.Covers(mib, mib) {
		t.Error("the retrieval does not cover the range it was asked for")
	}
	for _, c := range []struct{ off, length int64 }{{0, 10}, {2*mib - 5, 10}, {2 * mib, -1}} {
		rc, err := h.s.ReadRange(t.Context(), r, c.off, c.length)
		if !r.Ranged() {
			if err != nil {
				t.Errorf("ReadRange(%d, %d) of a whole-archive retrieval: %v", c.off, c.length, err)
			} else {
				rc.Close()
			}
			continue
		}
		if err == nil {
			rc.Close()
			t.Errorf("ReadRange(%d, %d) outside the retrieved range: no error", c.off, c.length)
		} else if !store.IsPermanent(err) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadRange(%d, %d) outside the retrieved range: error %q should be permanent", c.off, c.length, err)
		}
	}
	for _, bad := range []store.Retrieval{
		{Kind: store.KindArchive, ArchiveID: a.ID, Offset: 5, Length: mib},
		{Kind: store.KindArchive, ArchiveID: a.ID, Offset: 0, Length: -1},
		{Kind: store.KindArchive, ArchiveID: a.ID, Offset: mib, Length: 0},
		{Kind: store.KindInventory, Length: mib},
	} {
		if _, err := h.s.Request(t.Context(), bad); err == nil || !store.IsPermanent(err) {
			t.Errorf("Request of bytes at %d length %d (kind %d): error %v, want a permanent one", bad.Offset, bad.Length, bad.Kind, err)
		}
	}
}
