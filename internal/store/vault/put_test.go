package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

func TestChoosePartSize(t *testing.T) {
	const GiB = 1 << 30
	tests := []struct {
		name             string
		configured, hint int64
		want             int64
	}{
		{"no hint", MiB, -1, MiB},
		{"no hint keeps a large configured size", 64 * MiB, -1, 64 * MiB},
		{"small file", MiB, 100 * MiB, MiB},
		{"just fits 10,000 MiB parts with the margin", MiB, 9_800 * MiB, MiB},
		{"10,000 MiB needs more with the margin", MiB, 10_000 * MiB, 2 * MiB},
		{"configured size already large enough", 8 * MiB, 20_000 * MiB, 8 * MiB},
		{"100 GiB", MiB, 100 * GiB, 16 * MiB},
		{"1 TiB", MiB, 1024 * GiB, 128 * MiB},
		{"capped at 4 GiB", MiB, 39_000 * GiB, 4 * GiB},
		{"beyond what Glacier takes", MiB, 1 << 62, 4 * GiB},
		{"empty file", MiB, 0, MiB},
	}
	for _, tt := range tests {
		got := choosePartSize(tt.configured, tt.hint, MaxParts)
		if got != tt.want {
			t.Errorf("%s: choosePartSize(%d, %d) = %d, want %d", tt.name, tt.configured, tt.hint, got, tt.want)
		}
		if tt.hint >= 0 && tt.hint < 39_000*GiB {
			need := tt.hint + tt.hint/100 + 64<<10
			if parts := (need + got - 1) / got; parts > MaxParts {
				t.Errorf("%s: %d parts of %d bytes for %d bytes", tt.name, parts, got, need)
			}
		}
	}
}

// putAndRead puts data, checks the archive's tree hash, and reads it back
// through a retrieval job.
func putAndRead(t *testing.T, s *Store, ctx context.Context, data []byte, desc string) store.Archive {
	t.Helper()
	a, err := s.Put(ctx, bytes.NewReader(data), desc)
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
	if want := treehash.Sum(data).String(); a.TreeHash != want {
		t.Errorf("Put: TreeHash %s, want %s", a.TreeHash, want)
	}
	if a.Size != int64(len(data)) {
		t.Errorf("Put: Size %d, want %d", a.Size, len(data))
	}
	r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if r.Size != a.Size || r.TreeHash != a.TreeHash {
		t.Errorf("retrieval says size %d hash %s, Put said %d %s", r.Size, r.TreeHash, a.Size, a.TreeHash)
	}
	if got := readAll(t, s, r, 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d put", len(got), len(data))
	}
	return a
}

// ready requests r and polls until it is ready.
func ready(t testing.TB, s *Store, r store.Retrieval) store.Retrieval {
	t.Helper()
	got, err := s.Request(context.Background(), r)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !got.Ready {
		if time.Now().After(deadline) {
			t.Fatalf("retrieval %+v not ready in time", got)
		}
		time.Sleep(2 * time.Millisecond)
		if got, err = s.Poll(context.Background(), got); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	return got
}

func readAll(t testing.TB, s *Store, r store.Retrieval, off, n int64) []byte {
	t.Helper()
	rc, err := s.ReadRange(context.Background(), r, off, n)
	if err != nil {
		t.Fatalf("ReadRange(%d, %d): %v", off, n, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("ReadRange(%d, %d): reading: %v", off, n, err)
	}
	return got
}

func TestPutThreeParts(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	data := randomBytes(3*MiB-100, 1)
	putAndRead(t, s, t.Context(), data, "three parts")
	st := e.srv.Stats()
	if n := st[glacieremu.OpUploadMultipartPart].Requests; n != 3 {
		t.Errorf("%d parts uploaded, want 3", n)
	}
	if n := st[glacieremu.OpCompleteMultipartUpload].Requests; n != 1 {
		t.Errorf("%d completions, want 1", n)
	}
	if n := st[glacieremu.OpUploadArchive].Requests; n != 0 {
		t.Errorf("%d single uploads, want 0", n)
	}
}

func TestPutSingleRequest(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	for _, n := range []int{0, 1, MiB - 1, MiB} {
		putAndRead(t, s, t.Context(), randomBytes(n, uint64(n)), "single")
	}
	st := e.srv.Stats()
	if n := st[glacieremu.OpUploadArchive].Requests; n != 4 {
		t.Errorf("%d single uploads, want 4 (0 bytes, 1 byte, 1 MiB - 1, exactly 1 MiB)", n)
	}
	if n := st[glacieremu.OpInitiateMultipartUpload].Requests; n != 0 {
		t.Errorf("%d multipart uploads, want 0", n)
	}
}

func TestPutEmptyArchive(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	a := putAndRead(t, s, t.Context(), nil, "empty")
	if a.TreeHash != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty archive tree hash %s, want SHA-256 of nothing", a.TreeHash)
	}
}

// TestPutPartLimit scales Glacier's 10,000-part limit down with the
// emulator's MinPartSize: 1 KiB parts stand for 1 MiB ones, so 10,001 KiB
// is the 10,001 MiB archive that does not fit in 10,000 minimum-size parts.
func TestPutPartLimit(t *testing.T) {
	t.Parallel()
	const unit = 1 << 10
	e := newEmu(t, glacieremu.Config{MinPartSize: unit})
	s := newStore(t, e, func(c *Config) { c.MinPartSize = unit; c.Concurrency = 8 })
	data := randomBytes(10_001*unit, 7)

	ctx := store.WithSizeHint(t.Context(), int64(len(data)))
	putAndRead(t, s, ctx, data, "10,001 parts' worth")
	parts := e.srv.Stats()[glacieremu.OpUploadMultipartPart].Requests
	if want := int64(len(data)+2*unit-1) / (2 * unit); parts != want {
		t.Errorf("%d parts uploaded, want %d parts of 2 KiB (the part size doubled)", parts, want)
	}

	// Without the hint (or with one too small) the part size stays at
	// 1 KiB, and Put stops at the limit by itself, leaving nothing behind.
	// The limit is lowered to 100 parts to keep the test fast.
	s.maxParts = 100
	e.srv.ResetStats()
	_, err := s.Put(t.Context(), bytes.NewReader(data[:101*unit]), "no hint")
	if err == nil || !strings.Contains(err.Error(), "more than 100 parts") || !store.IsPermanent(err) {
		t.Errorf("Put without a size hint: error %v, want a permanent one about the part limit", err)
	}
	if n := e.srv.Stats()[glacieremu.OpUploadMultipartPart].Requests; n > 100 {
		t.Errorf("%d parts sent, more than the limit", n)
	}
	if n := e.uploadsLeft(t); n != 0 {
		t.Errorf("%d uploads left behind", n)
	}
	ctx = store.WithSizeHint(t.Context(), 101*unit)
	if _, err := s.Put(ctx, bytes.NewReader(data[:101*unit]), "hinted"); err != nil {
		t.Errorf("Put of 101 parts' worth with a size hint under a 100-part limit: %v", err)
	}
}

// gauge counts the UploadMultipartPart requests being served at once.
type gauge struct {
	mu       sync.Mutex
	now, max int
}

func (g *gauge) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/multipart-uploads/") {
			g.mu.Lock()
			g.now++
			g.max = max(g.max, g.now)
			g.mu.Unlock()
			defer func() { g.mu.Lock(); g.now--; g.mu.Unlock() }()
		}
		h.ServeHTTP(w, r)
	})
}

// TestPutConcurrencyAndMemory checks that parts go out in parallel and that
// a Put never holds more than Concurrency + 1 part buffers.
func TestPutConcurrencyAndMemory(t *testing.T) {
	srv, err := glacieremu.New(glacieremu.Config{
		Delays: fastDelays(),
		Faults: map[glacieremu.Op]glacieremu.Fault{glacieremu.OpUploadMultipartPart: {Latency: 20 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var g gauge
	ts := httptest.NewServer(g.wrap(srv))
	t.Cleanup(func() { ts.Close(); srv.Close() })
	e := &emu{srv: srv, url: ts.URL}
	e.createVault(t, testVault)
	s := newStore(t, e, func(c *Config) { c.Concurrency = 3 })

	data := randomBytes(12*MiB+5, 3)
	putAndRead(t, s, t.Context(), data, "twelve parts")
	if g.max != 3 {
		t.Errorf("at most %d parts were in flight at once, want Concurrency = 3", g.max)
	}
	if peak := s.bufs.peak.Load(); peak > 4 {
		t.Errorf("Put held %d part buffers at once, want at most Concurrency + 1 = 4", peak)
	}
	if out := s.bufs.out.Load(); out != 0 {
		t.Errorf("%d buffers not returned to the pool", out)
	}
}

// TestPutCancelledMidUpload cancels a Put while parts are in flight: the
// error wraps context.Canceled and the multipart upload is aborted.
func TestPutCancelledMidUpload(t *testing.T) {
	e := newEmu(t, glacieremu.Config{Faults: map[glacieremu.Op]glacieremu.Fault{
		glacieremu.OpUploadMultipartPart: {Latency: 10 * time.Millisecond},
	}})
	s := newStore(t, e, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := &cancelAt{r: bytes.NewReader(randomBytes(10*MiB, 4)), at: 6 * MiB, cancel: cancel}
	_, err := s.Put(ctx, body, "cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: error %v, want context.Canceled", err)
	}
	if n := e.srv.Stats()[glacieremu.OpInitiateMultipartUpload].Requests; n != 1 {
		t.Fatalf("%d multipart uploads started, want 1 (the test must cancel mid-upload)", n)
	}
	if n := e.uploadsLeft(t); n != 0 {
		t.Errorf("%d uploads left after a cancelled Put", n)
	}
	if out := s.bufs.out.Load(); out != 0 {
		t.Errorf("%d buffers not returned to the pool", out)
	}
}

// cancelAt calls cancel once at bytes have been read.
type cancelAt struct {
	r      *bytes.Reader
	at     int64
	cancel context.CancelFunc
}

func (b *cancelAt) Read(p []byte) (int, error) {
	if b.r.Size()-int64(b.r.Len()) >= b.at {
		b.cancel()
	}
	return b.r.Read(p)
}

func TestPutRejectsDescriptions(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	for _, d := range []string{" leading", "trailing ", " ", "caf\xc3\xa9", strings.Repeat("x", 1025)} {
		_, err := s.Put(t.Context(), strings.NewReader("x"), d)
		if err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), s.Location()) {
			t.Errorf("Put with description %.20q: error %v, want a permanent one naming the store", d, err)
		}
	}
	if n := e.srv.Stats()[glacieremu.OpUploadArchive].Requests; n != 0 {
		t.Errorf("%d uploads sent for invalid descriptions", n)
	}
	// Spaces inside are kept.
	a, err := s.Put(t.Context(), strings.NewReader("x"), "two  spaces inside")
	if err != nil || a.Description != "two  spaces inside" {
		t.Fatalf("Put: %+v, %v", a, err)
	}
	inv := inventory(t, s)
	if inv[a.ID].Description != "two  spaces inside" {
		t.Errorf("inventory description %q", inv[a.ID].Description)
	}
}

// inventory takes a fresh inventory, by archive id.
func inventory(t testing.TB, s *Store) map[string]store.Archive {
	t.Helper()
	r := ready(t, s, store.Retrieval{Kind: store.KindInventory})
	out := map[string]store.Archive{}
	if _, err := s.Inventory(context.Background(), r, func(a store.Archive) error {
		out[a.ID] = a
		return nil
	}); err != nil {
		t.Fatalf("Inventory: %v", err)
	}
	return out
}
