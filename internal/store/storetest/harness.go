package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// harness bundles the store under test with the suite's options and the
// helpers every test uses.
type harness struct {
	s   store.Store
	opt Options
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// put stores data and checks what Put reports.
func (h *harness) put(t *testing.T, data []byte, desc string) store.Archive {
	t.Helper()
	a, err := h.s.Put(t.Context(), bytes.NewReader(data), desc)
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
	checkArchive(t, "Put", a, data, desc)
	return a
}

// checkArchive checks what call (Put or PutResumable) reported of the
// archive it stored from data.
func checkArchive(t *testing.T, call string, a store.Archive, data []byte, desc string) {
	t.Helper()
	if a.ID == "" {
		t.Fatalf("%s returned an empty archive id", call)
	}
	if a.Size != int64(len(data)) {
		t.Errorf("%s: Size = %d, want %d", call, a.Size, len(data))
	}
	if a.Description != desc {
		t.Errorf("%s: Description = %q, want %q", call, a.Description, desc)
	}
	if a.Created.IsZero() {
		t.Errorf("%s: Created is zero", call)
	}
	if a.TreeHash != "" && a.TreeHash != treeHash(data) {
		t.Errorf("%s: TreeHash = %s, want %s", call, a.TreeHash, treeHash(data))
	}
}

// ready requests r and polls until it is ready or the poll timeout passes.
func (h *harness) ready(t *testing.T, r store.Retrieval) store.Retrieval {
	t.Helper()
	ctx := t.Context()
	got, err := h.s.Request(ctx, r)
	if err != nil {
		t.Fatalf("Request(%+v): %v", r, err)
	}
	if got.Kind != r.Kind || got.ArchiveID != r.ArchiveID {
		t.Fatalf("Request returned kind %v archive %q, want %v %q", got.Kind, got.ArchiveID, r.Kind, r.ArchiveID)
	}
	if got.Requested.IsZero() {
		t.Error("Request: Requested is zero")
	}
	deadline := time.Now().Add(h.opt.PollTimeout)
	for !got.Ready {
		if time.Now().After(deadline) {
			t.Fatalf("retrieval %+v not ready after %v", got, h.opt.PollTimeout)
		}
		time.Sleep(h.opt.PollInterval)
		got, err = h.s.Poll(ctx, got)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	again, err := h.s.Poll(ctx, got)
	if err != nil || !again.Ready {
		t.Fatalf("Poll of a ready retrieval: ready %v, err %v", again.Ready, err)
	}
	return got
}

// readyArchive returns a ready retrieval of a, checking its size and hash.
func (h *harness) readyArchive(t *testing.T, a store.Archive, tier store.Tier) store.Retrieval {
	t.Helper()
	r := h.ready(t, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Tier: tier})
	if r.Size != a.Size {
		t.Errorf("ready retrieval: Size = %d, want %d", r.Size, a.Size)
	}
	if r.TreeHash != "" && a.TreeHash != "" && r.TreeHash != a.TreeHash {
		t.Errorf("ready retrieval: TreeHash = %s, want %s", r.TreeHash, a.TreeHash)
	}
	return r
}

// read reads a range of a ready retrieval.
func (h *harness) read(t *testing.T, r store.Retrieval, off, length int64) []byte {
	t.Helper()
	rc, err := h.s.ReadRange(t.Context(), r, off, length)
	if err != nil {
		t.Fatalf("ReadRange(%d, %d): %v", off, length, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("ReadRange(%d, %d): reading: %v", off, length, err)
	}
	return got
}

// inventory takes a fresh inventory and returns it by archive id.
func (h *harness) inventory(t *testing.T) map[string]store.Archive {
	t.Helper()
	r := h.ready(t, store.Retrieval{Kind: store.KindInventory})
	out := make(map[string]store.Archive)
	taken, err := h.s.Inventory(t.Context(), r, func(a store.Archive) error {
		if _, dup := out[a.ID]; dup {
			t.Errorf("Inventory listed %s twice", a.ID)
		}
		out[a.ID] = a
		return nil
	})
	if err != nil {
		t.Fatalf("Inventory: %v", err)
	}
	if taken.IsZero() {
		t.Error("Inventory returned a zero date")
	}
	return out
}

// uploads lists unfinished uploads.
func (h *harness) uploads(t *testing.T) []store.Upload {
	t.Helper()
	ups, err := h.s.ListUploads(t.Context())
	if err != nil {
		t.Fatalf("ListUploads: %v", err)
	}
	return ups
}

// assertNothingLeft fails if the store lists any archive or upload.
func (h *harness) assertNothingLeft(t *testing.T) {
	t.Helper()
	if inv := h.inventory(t); len(inv) != 0 {
		t.Errorf("inventory lists %d archives after failed Puts, want none: %v", len(inv), inv)
	}
	if ups := h.uploads(t); len(ups) != 0 {
		t.Errorf("ListUploads = %v after failed Puts, want none", ups)
	}
}

// wantErr checks that err wraps target and names the store.
func (h *harness) wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %v", what, target)
	case !errors.Is(err, target):
		t.Errorf("%s: error %q does not wrap %q", what, err, target)
	case !bytes.Contains([]byte(err.Error()), []byte(h.s.Location())):
		t.Errorf("%s: error %q does not name the store %s", what, err, h.s.Location())
	}
}

// treeHash is the Glacier SHA-256 tree hash, computed level by level as
// Glacier documents it, to cross-check what stores report.
func treeHash(data []byte) string {
	const leaf = 1 << 20
	var level [][sha256.Size]byte
	for i := range max(1, (len(data)+leaf-1)/leaf) {
		level = append(level, sha256.Sum256(data[i*leaf:min((i+1)*leaf, len(data))]))
	}
	for len(level) > 1 {
		var next [][sha256.Size]byte
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			next = append(next, sha256.Sum256(append(level[i][:], level[i+1][:]...)))
		}
		level = next
	}
	return hex.EncodeToString(level[0][:])
}

// failingBody serves data but fails with err once pos reaches failAt. It
// offers only Read and Seek (no WriteTo or ReadAt that would bypass the
// failure), so a retry wrapper may rewind it.
type failingBody struct {
	r      *bytes.Reader
	failAt int64
	err    error
}

func (b *failingBody) Read(p []byte) (int, error) {
	pos := b.r.Size() - int64(b.r.Len())
	if pos >= b.failAt {
		return 0, b.err
	}
	if rest := b.failAt - pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	return b.r.Read(p)
}

func (b *failingBody) Seek(off int64, whence int) (int64, error) { return b.r.Seek(off, whence) }

// cancellingBody serves data in reads of at most 32 KiB and calls cancel
// once pos reaches cancelAt, then keeps serving. It offers only Read and
// Seek, so a retry wrapper may rewind it.
type cancellingBody struct {
	r        *bytes.Reader
	cancelAt int64
	cancel   context.CancelFunc
}

func (b *cancellingBody) Read(p []byte) (int, error) {
	if b.r.Size()-int64(b.r.Len()) >= b.cancelAt {
		b.cancel()
	}
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	return b.r.Read(p)
}

func (b *cancellingBody) Seek(off int64, whence int) (int64, error) { return b.r.Seek(off, whence) }

// PauseReader serves r, pausing for d once at bytes have been read (no
// Read crosses that point), for store tests that need a store to wait on
// its body there: say, to let a part it should not send reach the service.
func PauseReader(r io.Reader, at int64, d time.Duration) io.Reader {
	return &pauseReader{r: r, at: at, d: d}
}

type pauseReader struct {
	r      io.Reader
	at, n  int64
	d      time.Duration
	paused bool
}

func (p *pauseReader) Read(b []byte) (int, error) {
	if !p.paused && p.n >= p.at {
		p.paused = true
		time.Sleep(p.d)
	}
	if p.n < p.at && int64(len(b)) > p.at-p.n {
		b = b[:p.at-p.n]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}
