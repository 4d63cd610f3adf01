package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

func testLocation(t *testing.T, h *harness) {
	loc := h.s.Location()
	if loc == "" || !strings.Contains(loc, ":") {
		t.Errorf("Location() = %q, want a kind-prefixed name like local:/dir", loc)
	}
	if again := h.s.Location(); again != loc {
		t.Errorf("Location() changed from %q to %q", loc, again)
	}
}

// testPutReadRanges puts a 3 MiB+1 archive (four tree hash leaves) and reads
// it whole and in ranges, through every tier.
func testPutReadRanges(t *testing.T, h *harness) {
	data := randomBytes(3<<20+1, 1)
	a := h.put(t, data, "three mebibytes and one byte")
	for _, tier := range []store.Tier{"", store.TierExpedited, store.TierStandard, store.TierBulk} {
		r := h.readyArchive(t, a, tier)
		if got := h.read(t, r, 0, -1); !bytes.Equal(got, data) {
			t.Errorf("tier %q: whole read returned %d bytes that differ from the %d put", tier, len(got), len(data))
		}
	}
	r := h.readyArchive(t, a, "")
	size := int64(len(data))
	for _, c := range []struct {
		name        string
		off, length int64
	}{
		{"start", 0, 100},
		{"middle", 1234567, 4321},
		{"across a leaf boundary", 1<<20 - 10, 20},
		{"end", size - 100, 100},
		{"last byte", size - 1, 1},
		{"whole explicit", 0, size},
		{"to the end from the middle", 2 << 20, -1},
		{"zero-length", 5000, 0},
		{"zero-length at the start", 0, 0},
	} {
		want := data[c.off:]
		if c.length >= 0 {
			want = want[:c.length]
		}
		if got := h.read(t, r, c.off, c.length); !bytes.Equal(got, want) {
			t.Errorf("%s: ReadRange(%d, %d) returned %d bytes, want %d equal ones", c.name, c.off, c.length, len(got), len(want))
		}
	}
	inv := h.inventory(t)
	if got, ok := inv[a.ID]; !ok || got.Size != a.Size || got.Description != a.Description {
		t.Errorf("inventory entry %+v, want size %d description %q", got, a.Size, a.Description)
	}
}

func testOutOfRange(t *testing.T, h *harness) {
	data := randomBytes(1000, 2)
	r := h.readyArchive(t, h.put(t, data, "out of range"), "")
	for _, c := range []struct{ off, length int64 }{
		{-1, 10},
		{1001, -1},
		{1001, 0},
		{990, 11},
		{0, 1001},
		{2000, 5},
	} {
		rc, err := h.s.ReadRange(t.Context(), r, c.off, c.length)
		if err == nil {
			rc.Close()
			t.Errorf("ReadRange(%d, %d) of a 1000-byte archive: no error", c.off, c.length)
			continue
		}
		if !store.IsPermanent(err) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadRange(%d, %d): error %q should be permanent and not 'not found'", c.off, c.length, err)
		}
	}
}

func testEmptyArchive(t *testing.T, h *harness) {
	a := h.put(t, nil, "empty")
	r := h.readyArchive(t, a, "")
	if got := h.read(t, r, 0, -1); len(got) != 0 {
		t.Errorf("empty archive read %d bytes", len(got))
	}
	if got := h.read(t, r, 0, 0); len(got) != 0 {
		t.Errorf("empty archive zero-length read %d bytes", len(got))
	}
	if inv := h.inventory(t); inv[a.ID].Size != 0 || len(inv) != 1 {
		t.Errorf("inventory = %v, want the one empty archive", inv)
	}
}

func testDescriptions(t *testing.T, h *harness) {
	// Every printable character, spaces inside but not at the ends.
	var sb strings.Builder
	for i := range store.MaxDescription {
		sb.WriteByte(byte(0x21 + (i*7)%94))
		if i%9 == 4 && i < store.MaxDescription-2 {
			sb.WriteByte(' ')
		}
	}
	long := sb.String()[:store.MaxDescription]
	good := map[string]string{"longest": long, "empty": "", "pipes": "grsync|/home/a b/c|1|2.5|None"}
	ids := map[string]string{}
	for name, d := range good {
		ids[name] = h.put(t, []byte(name), d).ID
	}
	for _, bad := range []string{long + "x", "café", "line\nbreak", "tab\there", "del\x7f", " leading", "trailing "} {
		_, err := h.s.Put(t.Context(), bytes.NewReader([]byte("x")), bad)
		if err == nil || !store.IsPermanent(err) {
			t.Errorf("Put with description %.20q: error %v, want a permanent one", bad, err)
		}
	}
	inv := h.inventory(t)
	if len(inv) != len(good) {
		t.Errorf("inventory lists %d archives, want %d", len(inv), len(good))
	}
	for name, d := range good {
		if got := inv[ids[name]].Description; got != d {
			t.Errorf("%s: inventory description %.40q, want %.40q", name, got, d)
		}
	}
	if ups := h.uploads(t); len(ups) != 0 {
		t.Errorf("rejected Puts left uploads: %v", ups)
	}
}

// testUnknownID uses the id of a deleted archive, so it is well-formed for
// every store.
func testUnknownID(t *testing.T, h *harness) {
	ctx := t.Context()
	keep := h.put(t, []byte("kept"), "kept")
	gone := h.put(t, []byte("gone"), "gone")
	live := h.readyArchive(t, keep, "")
	if err := h.s.Delete(ctx, gone.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	h.wantErr(t, "Delete of a deleted archive", h.s.Delete(ctx, gone.ID), store.ErrNotFound)
	_, err := h.s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: gone.ID})
	h.wantErr(t, "Request of a deleted archive", err, store.ErrNotFound)

	// A retrieval of the deleted archive, shaped like the live one; for
	// stores with jobs, with a job id that does not exist.
	bogus := live
	bogus.ArchiveID = gone.ID
	if bogus.JobID != "" {
		bogus.JobID = otherID(bogus.JobID)
	}
	_, err = h.s.Poll(ctx, bogus)
	h.wantErr(t, "Poll of an unknown retrieval", err, store.ErrNotFound)
	rc, err := h.s.ReadRange(ctx, bogus, 0, -1)
	if err == nil {
		rc.Close()
	}
	h.wantErr(t, "ReadRange of an unknown retrieval", err, store.ErrNotFound)
	if got := h.read(t, live, 0, -1); string(got) != "kept" {
		t.Errorf("the other archive reads %q after the delete, want %q", got, "kept")
	}
}

// otherID changes the last character of id, keeping its alphabet.
func otherID(id string) string {
	last := id[len(id)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return id[:len(id)-1] + string(repl)
}

func testInventory(t *testing.T, h *harness) {
	if inv := h.inventory(t); len(inv) != 0 {
		t.Fatalf("a new store lists %d archives", len(inv))
	}
	var put []store.Archive
	for i := range 4 {
		put = append(put, h.put(t, randomBytes(100*i, uint64(i)), fmt.Sprintf("archive %d", i)))
	}
	if err := h.s.Delete(t.Context(), put[1].ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	inv := h.inventory(t)
	if _, ok := inv[put[1].ID]; ok {
		t.Error("inventory lists a deleted archive")
	}
	if len(inv) != 3 {
		t.Errorf("inventory lists %d archives, want 3", len(inv))
	}
	for i, a := range put {
		if i == 1 {
			continue
		}
		got, ok := inv[a.ID]
		switch {
		case !ok:
			t.Errorf("inventory misses archive %d", i)
		case got.Size != a.Size || got.Description != a.Description || (got.TreeHash != "" && got.TreeHash != a.TreeHash):
			t.Errorf("inventory entry %+v, want %+v", got, a)
		case !got.Created.Equal(a.Created) && got.Created.Sub(a.Created).Abs().Seconds() > 1:
			t.Errorf("inventory says archive %d was created %v, Put said %v", i, got.Created, a.Created)
		}
	}

	// fn's error stops the listing and comes back.
	stop := errors.New("stop here")
	r := h.ready(t, store.Retrieval{Kind: store.KindInventory})
	calls := 0
	_, err := h.s.Inventory(t.Context(), r, func(store.Archive) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Inventory with a failing callback: %d calls, error %v; want 1 call and the callback's error", calls, err)
	}
}

func testConcurrentPut(t *testing.T, h *harness) {
	const n = 8
	datas := make([][]byte, n)
	archives := make([]store.Archive, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		datas[i] = randomBytes(64<<10+i, uint64(100+i))
		wg.Go(func() {
			archives[i], errs[i] = h.s.Put(t.Context(), bytes.NewReader(datas[i]), fmt.Sprintf("concurrent %d", i))
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put %d: %v", i, errs[i])
		}
		ids[archives[i].ID] = true
	}
	if len(ids) != n {
		t.Fatalf("%d concurrent Puts returned %d distinct ids", n, len(ids))
	}
	for i, a := range archives {
		if got := h.read(t, h.readyArchive(t, a, ""), 0, -1); !bytes.Equal(got, datas[i]) {
			t.Errorf("archive %d reads back different bytes", i)
		}
	}
	if inv := h.inventory(t); len(inv) != n {
		t.Errorf("inventory lists %d archives, want %d", len(inv), n)
	}
}

func testPutBodyError(t *testing.T, h *harness) {
	errBody := errors.New("the disk went away")
	for _, at := range []int64{0, 100 << 10, 1<<20 + 5} {
		body := &failingBody{r: bytes.NewReader(randomBytes(2<<20, 3)), failAt: at, err: errBody}
		_, err := h.s.Put(t.Context(), body, "body fails")
		if !errors.Is(err, errBody) {
			t.Errorf("Put with a body failing at %d: error %v, want one wrapping the body's", at, err)
		}
	}
	h.assertNothingLeft(t)
}

func testPutCancelled(t *testing.T, h *harness) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := h.s.Put(ctx, bytes.NewReader([]byte("never")), "cancelled before")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: error %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	body := &cancellingBody{r: bytes.NewReader(randomBytes(2<<20, 4)), cancelAt: 100 << 10, cancel: cancel}
	_, err = h.s.Put(ctx, body, "cancelled midway")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put cancelled midway: error %v, want context.Canceled", err)
	}
	h.assertNothingLeft(t)
}

func testUploads(t *testing.T, h *harness) {
	ctx := t.Context()
	if ups := h.uploads(t); len(ups) != 0 {
		t.Fatalf("a new store lists uploads: %v", ups)
	}
	h.wantErr(t, "AbortUpload of an unknown upload", h.s.AbortUpload(ctx, "nOsUcHuPlOaD0123456789abcdefghijklmnopqrstu"), store.ErrNotFound)
	if h.opt.LeaveUpload == nil {
		t.Skip("storetest: Options.LeaveUpload is nil, so unfinished uploads cannot be made; listing and aborting them is untested")
	}
	id := h.opt.LeaveUpload(t, h.s, "left by a crash")
	ups := h.uploads(t)
	i := slices.IndexFunc(ups, func(u store.Upload) bool { return u.ID == id })
	if i < 0 {
		t.Fatalf("ListUploads = %v, want it to include %s", ups, id)
	}
	if ups[i].Description != "left by a crash" || ups[i].Created.IsZero() {
		t.Errorf("listed upload %+v, want description %q and a creation time", ups[i], "left by a crash")
	}
	if err := h.s.AbortUpload(ctx, id); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	if ups := h.uploads(t); len(ups) != 0 {
		t.Errorf("ListUploads after AbortUpload = %v, want none", ups)
	}
	h.wantErr(t, "AbortUpload twice", h.s.AbortUpload(ctx, id), store.ErrNotFound)
	if inv := h.inventory(t); len(inv) != 0 {
		t.Errorf("an unfinished upload shows in the inventory: %v", inv)
	}
}

func testClose(t *testing.T, h *harness) {
	h.put(t, []byte("before close"), "close")
	if err := h.s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
