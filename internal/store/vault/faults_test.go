package vault

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
)

// TestFaultsEveryOperation runs 50 Puts and reads against an emulator that
// fails 30% of all requests (10% each: 500 errors, throttling, dropped
// connections, uploads cut off halfway and downloads cut off halfway):
// every one must succeed with identical bytes.
func TestFaultsEveryOperation(t *testing.T) {
	e := newEmu(t, glacieremu.Config{Seed: 42})
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 12 })
	if err := e.srv.SetFault(glacieremu.AllOps, glacieremu.Fault{ErrorRate: 0.1, ThrottleRate: 0.1, DropRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	const n = 50
	datas := make([][]byte, n)
	for i := range datas {
		size := []int{0, 1000, 300 << 10, MiB, 2*MiB + 17, 9*MiB + 3}[i%6]
		datas[i] = randomBytes(size, uint64(i))
	}
	archives := make([]store.Archive, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			a, err := s.Put(t.Context(), bytes.NewReader(datas[i]), fmt.Sprintf("faulty %d", i))
			if err != nil {
				errs <- fmt.Errorf("Put %d (%d bytes): %w", i, len(datas[i]), err)
				return
			}
			archives[i] = a
			r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Tier: store.TierExpedited})
			rc, err := s.ReadRange(t.Context(), r, 0, -1)
			if err != nil {
				errs <- fmt.Errorf("ReadRange %d: %w", i, err)
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, datas[i]) {
				errs <- fmt.Errorf("archive %d: read %d bytes (error %v), want the %d put", i, len(got), err, len(datas[i]))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	inv := inventory(t, s)
	for i, a := range archives {
		if got := inv[a.ID]; got.Size != a.Size || got.TreeHash != a.TreeHash {
			t.Errorf("archive %d: inventory %+v, want %+v", i, got, a)
		}
	}
	if len(inv) != n {
		t.Errorf("inventory lists %d archives, want %d (a retried upload must not duplicate one)", len(inv), n)
	}
	// The test means something only if every kind of request met faults.
	st := e.srv.Stats()
	for _, op := range []glacieremu.Op{glacieremu.OpUploadArchive, glacieremu.OpInitiateMultipartUpload,
		glacieremu.OpUploadMultipartPart, glacieremu.OpCompleteMultipartUpload, glacieremu.OpInitiateJob,
		glacieremu.OpDescribeJob, glacieremu.OpGetJobOutput} {
		if st[op].Faults == 0 {
			t.Errorf("no faults were injected into %s", op)
		}
	}
	t.Logf("faults injected: parts %d/%d, outputs %d/%d, single uploads %d/%d",
		st[glacieremu.OpUploadMultipartPart].Faults, st[glacieremu.OpUploadMultipartPart].Requests,
		st[glacieremu.OpGetJobOutput].Faults, st[glacieremu.OpGetJobOutput].Requests,
		st[glacieremu.OpUploadArchive].Faults, st[glacieremu.OpUploadArchive].Requests)
}

// TestPutGivesUp: with every part upload failing, Put stops after
// MaxAttempts per part, reports it, and aborts the upload.
func TestPutGivesUp(t *testing.T) {
	for _, f := range []glacieremu.Fault{{ErrorRate: 1}, {ThrottleRate: 1}, {DropRate: 1}} {
		// A fresh emulator for each case: a part request the previous
		// case cancelled may still be arriving at its server.
		e := newEmu(t, glacieremu.Config{})
		s := newStore(t, e, func(c *Config) { c.MaxAttempts = 4; c.Concurrency = 2 })
		if err := e.srv.SetFault(glacieremu.OpUploadMultipartPart, f); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := s.Put(t.Context(), bytes.NewReader(randomBytes(5*MiB, 5)), "doomed")
		if err == nil {
			t.Fatalf("fault %+v: Put succeeded", f)
		}
		if !strings.Contains(err.Error(), "gave up after 4 attempts") || !strings.Contains(err.Error(), s.Location()) {
			t.Errorf("fault %+v: error %q should say it gave up after 4 attempts and name the store", f, err)
		}
		if store.IsPermanent(err) {
			t.Errorf("fault %+v: error %q is permanent; a later retry might succeed", f, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("fault %+v: Put took %v to give up", f, d)
		}
		// Up to Concurrency parts fail 4 times each; no more parts start.
		if n := e.srv.Stats()[glacieremu.OpUploadMultipartPart].Requests; n > 2*4 {
			t.Errorf("fault %+v: %d part requests, want at most 8", f, n)
		}
		if n := e.uploadsLeft(t); n != 0 {
			t.Errorf("fault %+v: %d uploads left behind", f, n)
		}
	}
}

// TestPutServiceDown: with every request failing, Put fails within the
// bound and nothing is left once the service is back.
func TestPutServiceDown(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 3 })
	if err := e.srv.SetFault(glacieremu.AllOps, glacieremu.Fault{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{10, 3 * MiB} {
		_, err := s.Put(t.Context(), bytes.NewReader(randomBytes(size, 6)), "down")
		if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Errorf("Put of %d bytes: error %v, want one saying it gave up", size, err)
		}
	}
	e.srv.ClearFault(glacieremu.AllOps)
	if n := e.uploadsLeft(t); n != 0 {
		t.Errorf("%d uploads left behind", n)
	}
	if inv := inventory(t, s); len(inv) != 0 {
		t.Errorf("inventory lists %d archives", len(inv))
	}
}

// TestReadResumes cuts half of all downloads off in the middle: reads
// resume where they stopped and return the right bytes.
func TestReadResumes(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 20 })
	data := randomBytes(20*MiB+3, 8)
	a, err := s.Put(t.Context(), bytes.NewReader(data), "resumed")
	if err != nil {
		t.Fatal(err)
	}
	r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err := e.srv.SetFault(glacieremu.OpGetJobOutput, glacieremu.Fault{DropRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetStats()
	for _, c := range []struct{ off, n int64 }{{0, -1}, {5*MiB + 7, 4 * MiB}, {int64(len(data)) - 10, -1}} {
		want := data[c.off:]
		if c.n >= 0 {
			want = want[:c.n]
		}
		if got := readAll(t, s, r, c.off, c.n); !bytes.Equal(got, want) {
			t.Errorf("ReadRange(%d, %d): %d bytes differ from the %d expected", c.off, c.n, len(got), len(want))
		}
	}
	if st := e.srv.Stats()[glacieremu.OpGetJobOutput]; st.Faults == 0 {
		t.Error("no download was cut off; the test proves nothing")
	}
}

// TestReadGivesUp: with every download failing, the reader reports it
// after MaxAttempts.
func TestReadGivesUp(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 3 })
	data := randomBytes(3*MiB, 9)
	a, err := s.Put(t.Context(), bytes.NewReader(data), "unreadable")
	if err != nil {
		t.Fatal(err)
	}
	r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	for _, f := range []glacieremu.Fault{{ErrorRate: 1}, {DropRate: 1}} {
		if err := e.srv.SetFault(glacieremu.OpGetJobOutput, f); err != nil {
			t.Fatal(err)
		}
		rc, err := s.ReadRange(t.Context(), r, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), s.Location()) {
			t.Errorf("fault %+v: read error %v, want one that gave up after 3 attempts and names the store", f, err)
		}
		if len(got) != 0 {
			t.Errorf("fault %+v: %d bytes of an unverified chunk were returned", f, len(got))
		}
	}
}

// corrupter flips one byte in the middle of the first bad job-output
// responses it serves.
type corrupter struct {
	h   http.Handler
	bad atomic.Int64 // responses still to corrupt
}

func (c *corrupter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/output") || c.bad.Add(-1) < 0 {
		c.h.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if len(body) > 0 {
		body[len(body)/2] ^= 0x01
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// TestReadDetectsCorruption: a chunk whose bytes do not match the tree hash
// the service sent is fetched again, and never passed on.
func TestReadDetectsCorruption(t *testing.T) {
	srv, err := glacieremu.New(glacieremu.Config{Delays: fastDelays()})
	if err != nil {
		t.Fatal(err)
	}
	c := &corrupter{h: srv}
	ts := httptest.NewServer(c)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	e := &emu{srv: srv, url: ts.URL}
	e.createVault(t, testVault)
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 3 })
	data := randomBytes(10*MiB, 10)
	a, err := s.Put(t.Context(), bytes.NewReader(data), "corrupted in transit")
	if err != nil {
		t.Fatal(err)
	}
	r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})

	c.bad.Store(2) // two bad answers, then good ones: the read succeeds
	if got := readAll(t, s, r, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read returned wrong bytes")
	}
	if c.bad.Load() >= 0 {
		t.Fatal("nothing was corrupted; the test proves nothing")
	}

	c.bad.Store(1 << 30) // always bad: the read fails before passing anything on
	rc, err := s.ReadRange(t.Context(), r, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "tree hash") {
		t.Errorf("read of always-corrupted output: error %v, want a tree hash mismatch", err)
	}
	if len(got) != 0 {
		t.Errorf("%d corrupted bytes were passed on", len(got))
	}
}

// TestReadStalled: a download that hangs is abandoned after the stall
// timeout and asked for again; once the service answers, the read
// completes.
func TestReadStalled(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 3 })
	s.stallTimeout = 50 * time.Millisecond
	data := randomBytes(2*MiB, 12)
	a, err := s.Put(t.Context(), bytes.NewReader(data), "stalls")
	if err != nil {
		t.Fatal(err)
	}
	r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err := e.srv.SetFault(glacieremu.OpGetJobOutput, glacieremu.Fault{Latency: time.Minute}); err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadRange(t.Context(), r, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil || !strings.Contains(err.Error(), "stalled") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("read from a hanging service: error %v, want it to give up on stalled requests", err)
	}
	// The service answers after a minute: giving up sooner is possible
	// only by noticing the stall (50ms), whatever the machine's load.
	if d := time.Since(start); d >= time.Minute {
		t.Errorf("gave up after %v; the stall timeout is 50ms", d)
	}
	e.srv.ClearFault(glacieremu.OpGetJobOutput)
	if got := readAll(t, s, r, 0, -1); !bytes.Equal(got, data) {
		t.Error("read after the service recovered differs")
	}
}
