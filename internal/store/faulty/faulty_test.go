package faulty_test

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/faulty"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/store/retry"
	"github.com/grsync/grsync/internal/store/storetest"
	"github.com/grsync/grsync/internal/testutil/localstore"
)

// resumePartSize is the part size of the local stores' resumable uploads.
const resumePartSize = 64 << 10

func newLocal(t *testing.T) *local.Store {
	t.Helper()
	s, err := local.New(t.TempDir(), local.Options{PartSize: resumePartSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seeded returns a source seeded from the test's name, so every subtest is
// deterministic however the parallel subtests interleave.
func seeded(t *testing.T) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return rand.New(rand.NewPCG(h.Sum64(), 42))
}

// fastPolicy retries quickly and often enough that a 30% fault rate never
// exhausts it in practice (0.3^25 per call).
func fastPolicy() retry.Policy {
	return retry.Policy{MaxAttempts: 25, Initial: 100 * time.Microsecond, Max: 2 * time.Millisecond, MaxElapsed: 30 * time.Second}
}

// TestSuiteWithRetriedFaults runs the conformance suite on
// retry(faulty(local)) with 30% of every call failing and 30% of the
// streams breaking midway. PutResumable is not retried (the caller
// continues a failed upload instead), so it gets no faults here; see
// TestResumableUnderFaults.
func TestSuiteWithRetriedFaults(t *testing.T) {
	var mu sync.Mutex
	dirs := map[store.Store]string{}
	total := map[faulty.Op]faulty.Stats{}
	t.Cleanup(func() {
		for _, op := range faulty.Ops() {
			st := total[op]
			t.Logf("%-13s %4d calls, %3d injected errors, %3d broken streams", op, st.Calls, st.Errors, st.MidStream)
			if op == faulty.OpResume {
				if st.Calls == 0 || st.Errors != 0 {
					t.Errorf("%s: %d calls and %d injected errors, want some calls and no errors", op, st.Calls, st.Errors)
				}
				continue
			}
			if op == faulty.OpLock {
				continue // local stores have no locks; TestPermanentlyDown covers the op
			}
			if st.Errors == 0 {
				t.Errorf("no error was injected into %s: the suite did not exercise retries", op)
			}
		}
		if total[faulty.OpPut].MidStream == 0 || total[faulty.OpRead].MidStream == 0 {
			t.Error("no put or read stream broke midway")
		}
	})
	cfg := faulty.Every(faulty.OpConfig{ErrorRate: 0.3, FailMidStream: 0.3, MidStreamMax: 64 << 10})
	cfg[faulty.OpResume] = faulty.OpConfig{}
	storetest.RunWithOptions(t, storetest.Options{
		PartSize: resumePartSize,
		LeaveUpload: func(t *testing.T, s store.Store, d string) string {
			mu.Lock()
			defer mu.Unlock()
			return localstore.LeaveUpload(t, dirs[s], d)
		},
	}, func(t *testing.T) store.Store {
		l := newLocal(t)
		f := faulty.New(l, faulty.Config{Ops: cfg, Rand: seeded(t)})
		for _, op := range faulty.Ops() {
			if op != faulty.OpResume {
				f.FailNext(op, 1) // so that every operation's retry is exercised
			}
		}
		f.BreakNext(faulty.OpPut, 3)
		f.BreakNext(faulty.OpRead, 3)
		s := retry.New(f, fastPolicy())
		mu.Lock()
		defer mu.Unlock()
		dirs[s] = l.Dir()
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for op, st := range f.Stats() {
				sum := total[op]
				sum.Calls += st.Calls
				sum.Errors += st.Errors
				sum.MidStream += st.MidStream
				total[op] = sum
			}
		})
		return s
	})
}

// TestPermanentlyDown checks that retrying a store that is down gives up
// within the policy's bounds, with an error that says so.
func TestPermanentlyDown(t *testing.T) {
	l := &memLocker{Store: newLocal(t)}
	a, err := l.Put(t.Context(), strings.NewReader("data"), "d")
	if err != nil {
		t.Fatal(err)
	}
	f := faulty.New(l, faulty.Config{})
	f.SetDown(true)
	var notified []int
	p := retry.Policy{MaxAttempts: 4, Initial: time.Millisecond, Max: 4 * time.Millisecond, MaxElapsed: 5 * time.Second,
		Notify: func(op string, attempt int, err error) { notified = append(notified, attempt) }}
	s := retry.New(f, p)
	ctx := t.Context()
	ready := store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Ready: true, Size: 4}
	calls := map[faulty.Op]func() error{
		faulty.OpPut: func() error {
			_, err := s.Put(ctx, bytes.NewReader([]byte("x")), "d")
			return err
		},
		faulty.OpRead: func() error {
			_, err := s.ReadRange(ctx, ready, 0, -1)
			return err
		},
		faulty.OpRequest: func() error { _, err := s.Request(ctx, ready); return err },
		faulty.OpPoll:    func() error { _, err := s.Poll(ctx, ready); return err },
		faulty.OpInventory: func() error {
			_, err := s.Inventory(ctx, store.Retrieval{Kind: store.KindInventory}, func(store.Archive) error { return nil })
			return err
		},
		faulty.OpDelete:  func() error { return s.Delete(ctx, a.ID) },
		faulty.OpUploads: func() error { _, err := s.ListUploads(ctx); return err },
		faulty.OpLock:    func() error { _, err := s.(store.Locker).Retention(ctx, a.ID); return err },
		faulty.OpRefs:    func() error { _, err := s.Refs(ctx); return err },
	}
	// PutResumable is not retried: one call, one fault.
	_, err = s.(store.Resumer).PutResumable(ctx, bytes.NewReader([]byte("x")), "d", store.ResumeOptions{})
	if !errors.Is(err, faulty.ErrInjected) || store.IsPermanent(err) || len(notified) != 0 {
		t.Errorf("PutResumable of a store that is down: %v after %d retries; want the transient fault, not retried", err, len(notified))
	}
	for _, op := range faulty.Ops() {
		if op == faulty.OpResume {
			continue
		}
		notified = nil
		start := time.Now()
		err := calls[op]()
		took := time.Since(start)
		if !errors.Is(err, faulty.ErrInjected) || !strings.Contains(err.Error(), "gave up after 4 attempts") || !strings.Contains(err.Error(), l.Location()) {
			t.Errorf("%s: error %v; want one saying it gave up after 4 attempts, naming the store, wrapping the fault", op, err)
		}
		if took > 3*4*time.Millisecond+time.Second {
			t.Errorf("%s: gave up after %v, beyond the policy's bounds", op, took)
		}
		if len(notified) != 3 {
			t.Errorf("%s: Notify was called for attempts %v, want 1..3", op, notified)
		}
	}
	for op, st := range f.Stats() {
		want := 4
		if op == faulty.OpResume {
			want = 1
		}
		if st.Calls != want || st.Errors != want {
			t.Errorf("%s: %d calls and %d injected errors, want %d and %d", op, st.Calls, st.Errors, want, want)
		}
	}

	// A time budget stops retrying before the attempts run out.
	p = retry.Policy{MaxAttempts: 1000, Initial: 2 * time.Millisecond, Max: 4 * time.Millisecond, MaxElapsed: 40 * time.Millisecond}
	start := time.Now()
	_, err = retry.New(f, p).ListUploads(ctx)
	if took := time.Since(start); took > 40*time.Millisecond+time.Second/2 || !strings.Contains(err.Error(), "gave up after") {
		t.Errorf("with a 40ms budget: gave up after %v with %v", took, err)
	}
	if n := f.Stats()[faulty.OpUploads].Calls; n > 4+45 {
		t.Errorf("with a 40ms budget and pauses of at least 0: %d calls is more than time allows", n-4)
	}

	f.SetDown(false)
	if _, err := s.ListUploads(ctx); err != nil {
		t.Errorf("after the store came back: %v", err)
	}
}

func TestFailNextAndStats(t *testing.T) {
	l := newLocal(t)
	f := faulty.New(l, faulty.Config{})
	f.FailNext(faulty.OpPut, 2)
	for i := range 3 {
		_, err := f.Put(t.Context(), strings.NewReader("x"), "d")
		if wantFail := i < 2; (err != nil) != wantFail || (wantFail && !errors.Is(err, faulty.ErrInjected)) {
			t.Errorf("Put %d: %v, want failure %v", i, err, wantFail)
		}
		if err != nil && store.IsPermanent(err) {
			t.Errorf("an injected fault is permanent: %v", err)
		}
	}
	if st := f.Stats()[faulty.OpPut]; st != (faulty.Stats{Calls: 3, Errors: 2}) {
		t.Errorf("stats %+v, want 3 calls and 2 errors", st)
	}
}

// TestDeterministic checks that the same seed and calls give the same faults.
func TestDeterministic(t *testing.T) {
	run := func() []bool {
		f := faulty.New(newLocal(t), faulty.Config{Ops: faulty.Every(faulty.OpConfig{ErrorRate: 0.5}), Rand: rand.New(rand.NewPCG(7, 7))})
		var out []bool
		for range 40 {
			_, err := f.ListUploads(t.Context())
			out = append(out, err != nil)
		}
		return out
	}
	a, b := run(), run()
	failures := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("call %d: %v then %v with the same seed", i, a[i], b[i])
		}
		if a[i] {
			failures++
		}
	}
	if failures < 8 || failures > 32 {
		t.Errorf("%d of 40 calls failed at a 50%% rate", failures)
	}
}

func TestBrokenStreams(t *testing.T) {
	l := newLocal(t)
	data := bytes.Repeat([]byte("0123456789"), 10000)
	f := faulty.New(l, faulty.Config{Ops: map[faulty.Op]faulty.OpConfig{
		faulty.OpPut:  {FailMidStream: 1, MidStreamMax: 50000},
		faulty.OpRead: {FailMidStream: 1, MidStreamMax: 50000},
	}})
	if _, err := f.Put(t.Context(), bytes.NewReader(data), "d"); !errors.Is(err, faulty.ErrInjected) {
		t.Errorf("Put with a breaking body: %v", err)
	}
	a, err := l.Put(t.Context(), bytes.NewReader(data), "d")
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.ReadRange(t.Context(), r, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, faulty.ErrInjected) || len(got) >= 50000 || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("read %d bytes then %v; want a correct prefix under 50000 bytes, then the fault", len(got), err)
	}
	if st := f.Stats(); st[faulty.OpPut].MidStream != 1 || st[faulty.OpRead].MidStream != 1 {
		t.Errorf("stats %+v, want one broken stream each for put and read", st)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	f := faulty.New(newLocal(t), faulty.Config{Ops: faulty.Every(faulty.OpConfig{Latency: time.Hour})})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := f.ListUploads(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call with an hour of latency and a 10ms deadline: %v", err)
	}
}
