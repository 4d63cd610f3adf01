package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/store/retry"
)

var errFlaky = errors.New("connection reset")

// fake is a local store whose calls can be made to fail by hooks, and
// which counts its calls.
type fake struct {
	*local.Store
	mu    sync.Mutex
	calls map[string]int
	// Hooks get the call's number (from 1) and may fail it.
	put       func(n int, body io.Reader) error
	read      func(n int, off, length int64, rc io.ReadCloser) io.ReadCloser
	delete    func(n int) error
	inventory func(n int, fn func(store.Archive) error) error
}

func newFake(t *testing.T) *fake {
	l, err := local.New(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &fake{Store: l, calls: map[string]int{}}
}

func (f *fake) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	return f.calls[op]
}

func (f *fake) Put(ctx context.Context, body io.Reader, d string) (store.Archive, error) {
	n := f.count("put")
	if f.put != nil {
		if err := f.put(n, body); err != nil {
			return store.Archive{}, err
		}
	}
	return f.Store.Put(ctx, body, d)
}

func (f *fake) ReadRange(ctx context.Context, r store.Retrieval, off, length int64) (io.ReadCloser, error) {
	n := f.count("read")
	rc, err := f.Store.ReadRange(ctx, r, off, length)
	if err != nil || f.read == nil {
		return rc, err
	}
	return f.read(n, off, length, rc), nil
}

func (f *fake) Delete(ctx context.Context, id string) error {
	n := f.count("delete")
	if f.delete != nil {
		if err := f.delete(n); err != nil {
			return err
		}
	}
	return f.Store.Delete(ctx, id)
}

func (f *fake) Inventory(ctx context.Context, r store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	n := f.count("inventory")
	if f.inventory != nil {
		if err := f.inventory(n, fn); err != nil {
			return time.Time{}, err
		}
	}
	return f.Store.Inventory(ctx, r, fn)
}

// quick retries fast and records its pauses and notifications.
type quick struct {
	mu       sync.Mutex
	pauses   []time.Duration
	notified []string
}

func (q *quick) policy(attempts int) retry.Policy {
	return retry.Policy{
		MaxAttempts: attempts, Initial: time.Millisecond, Max: 8 * time.Millisecond, MaxElapsed: time.Minute,
		Sleep: func(ctx context.Context, d time.Duration) error {
			q.mu.Lock()
			q.pauses = append(q.pauses, d)
			q.mu.Unlock()
			return ctx.Err()
		},
		Notify: func(op string, attempt int, err error) {
			q.mu.Lock()
			q.notified = append(q.notified, fmt.Sprintf("%s#%d", op, attempt))
			q.mu.Unlock()
		},
	}
}

func readArchive(t *testing.T, s store.Store, id string) string {
	t.Helper()
	r, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: id})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadRange(t.Context(), r, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPutRewindsSeekableBody(t *testing.T) {
	f := newFake(t)
	f.put = func(n int, body io.Reader) error {
		if n < 3 {
			_, _ = io.CopyN(io.Discard, body, 4) // consume some, then fail
			return errFlaky
		}
		return nil
	}
	q := &quick{}
	s := retry.New(f, q.policy(5))
	body := strings.NewReader("hdr:the payload")
	body.Seek(4, io.SeekStart) // Put starts where the body is, not at 0
	a, err := s.Put(t.Context(), body, "d")
	if err != nil {
		t.Fatal(err)
	}
	if got := readArchive(t, f, a.ID); got != "the payload" {
		t.Errorf("archive holds %q after two rewound retries, want %q", got, "the payload")
	}
	if f.calls["put"] != 3 || strings.Join(q.notified, ",") != "put#1,put#2" {
		t.Errorf("%d Put calls, notified %v; want 3 calls and notices for attempts 1 and 2", f.calls["put"], q.notified)
	}
}

func TestPutWithoutRewindIsNotRetried(t *testing.T) {
	f := newFake(t)
	f.put = func(int, io.Reader) error { return errFlaky }
	s := retry.New(f, (&quick{}).policy(5))

	pr, pw, err := os.Pipe() // an *os.File whose Seek fails
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	pw.Write([]byte("from a pipe"))
	pw.Close()
	if _, err := s.Put(t.Context(), pr, "d"); !errors.Is(err, errFlaky) {
		t.Errorf("Put from a pipe: %v", err)
	}
	if _, err := s.Put(t.Context(), io.LimitReader(strings.NewReader("x"), 1), "d"); !errors.Is(err, errFlaky) {
		t.Errorf("Put from a plain reader: %v", err)
	}
	if f.calls["put"] != 2 {
		t.Errorf("%d Put calls for two unseekable bodies, want 2", f.calls["put"])
	}
}

// brokenBody is a seekable body that fails to read.
type brokenBody struct{ *bytes.Reader }

var errDisk = errors.New("input/output error")

func (brokenBody) Read([]byte) (int, error) { return 0, errDisk }

func TestPutBodyFailureIsNotRetried(t *testing.T) {
	f := newFake(t)
	s := retry.New(f, (&quick{}).policy(5))
	_, err := s.Put(t.Context(), brokenBody{bytes.NewReader(nil)}, "d")
	if !errors.Is(err, errDisk) || f.calls["put"] != 1 {
		t.Errorf("Put with a failing body: %d calls, %v; want 1 call and the body's error", f.calls["put"], err)
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	f := newFake(t)
	q := &quick{}
	s := retry.New(f, q.policy(5))
	err := s.Delete(t.Context(), "no-such-archive")
	if !errors.Is(err, store.ErrNotFound) || f.calls["delete"] != 1 || len(q.pauses) != 0 {
		t.Errorf("Delete of an unknown id: %d calls, %d pauses, %v", f.calls["delete"], len(q.pauses), err)
	}
	_, err = s.Put(t.Context(), strings.NewReader("x"), "not ascii: \u00e9")
	if !store.IsPermanent(err) || f.calls["put"] != 1 {
		t.Errorf("Put with a bad description: %d calls, %v", f.calls["put"], err)
	}
}

func TestContextIsCheckedFirst(t *testing.T) {
	f := newFake(t)
	s := retry.New(f, (&quick{}).policy(5))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Put(ctx, strings.NewReader("x"), "d"); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v", err)
	}
	if _, err := s.Put(ctx, io.LimitReader(strings.NewReader("x"), 1), "d"); !errors.Is(err, context.Canceled) {
		t.Errorf("Put of an unseekable body: %v", err)
	}
	if err := s.Delete(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: %v", err)
	}
	if f.calls["put"]+f.calls["delete"] != 0 {
		t.Errorf("the wrapped store was called %v with a cancelled context", f.calls)
	}
}

func TestBackoffIsJitteredAndBounded(t *testing.T) {
	f := newFake(t)
	f.delete = func(int) error { return errFlaky }
	q := &quick{}
	p := q.policy(8)
	p.Initial, p.Max = 10*time.Millisecond, 40*time.Millisecond
	s := retry.New(f, p)
	var all []time.Duration
	for range 20 {
		q.pauses = nil
		err := s.Delete(t.Context(), "x")
		if !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), "gave up after 8 attempts") {
			t.Fatalf("Delete: %v", err)
		}
		if len(q.pauses) != 7 {
			t.Fatalf("%d pauses between 8 attempts", len(q.pauses))
		}
		for i, d := range q.pauses {
			if ceiling := min(10*time.Millisecond<<i, 40*time.Millisecond); d < 0 || d > ceiling {
				t.Errorf("pause %d is %v, outside [0, %v]", i+1, d, ceiling)
			}
		}
		all = append(all, q.pauses...)
	}
	distinct := map[time.Duration]bool{}
	for _, d := range all {
		distinct[d] = true
	}
	if len(distinct) < len(all)/2 {
		t.Errorf("only %d distinct pauses among %d: not jittered", len(distinct), len(all))
	}
}

func TestCancelledWhileWaiting(t *testing.T) {
	f := newFake(t)
	f.delete = func(int) error { return errFlaky }
	ctx, cancel := context.WithCancel(t.Context())
	p := retry.Policy{MaxAttempts: 5, Initial: time.Hour, Max: time.Hour, MaxElapsed: 10 * time.Hour,
		Notify: func(string, int, error) { cancel() }}
	start := time.Now()
	err := retry.New(f, p).Delete(ctx, "x")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), errFlaky.Error()) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled during an hour's pause: %v after %v; want context.Canceled naming the last error, at once", err, time.Since(start))
	}
}

// breakAfter fails with errFlaky after n bytes, or at once if n is 0.
type breakAfter struct {
	rc io.ReadCloser
	n  int
}

func (b *breakAfter) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errFlaky
	}
	p = p[:min(len(p), b.n)]
	n, err := b.rc.Read(p)
	b.n -= n
	return n, err
}

func (b *breakAfter) Close() error { return b.rc.Close() }

func TestReadRangeResumes(t *testing.T) {
	f := newFake(t)
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	a, err := f.Store.Put(t.Context(), bytes.NewReader(data), "d")
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	f.read = func(n int, off, length int64, rc io.ReadCloser) io.ReadCloser {
		offsets = append(offsets, off)
		if n%2 == 0 {
			return &breakAfter{rc: rc} // every other reopen fails at once
		}
		return &breakAfter{rc: rc, n: 1500}
	}
	s := retry.New(f, (&quick{}).policy(4))
	r, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, length int64 }{{0, -1}, {100, 5000}, {9000, -1}, {2000, 1500}} {
		offsets = nil
		f.calls["read"] = 0
		rc, err := s.ReadRange(t.Context(), r, c.off, c.length)
		if err != nil {
			t.Fatal(err)
		}
		want := data[c.off:]
		if c.length >= 0 {
			want = want[:c.length]
		}
		got, err := io.ReadAll(io.LimitReader(rc, int64(len(want))+1)) // bounded, should resuming repeat bytes
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("range %d+%d: %d bytes, %v; want %d correct bytes", c.off, c.length, len(got), err, len(want))
		}
		for i := 1; i < len(offsets); i++ {
			if offsets[i] < offsets[i-1] || offsets[i] > c.off+int64(len(want)) {
				t.Errorf("range %d+%d: reopened at offsets %v", c.off, c.length, offsets)
				break
			}
		}
	}

	f.read = func(_ int, _, _ int64, rc io.ReadCloser) io.ReadCloser { return &breakAfter{rc: rc} }
	rc, err := s.ReadRange(t.Context(), r, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	if !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Errorf("a stream that never delivers: %v; want it to give up after 4 attempts", err)
	}
}

func TestInventoryIsNotRetriedOnceDelivering(t *testing.T) {
	f := newFake(t)
	for i := range 3 {
		if _, err := f.Store.Put(t.Context(), strings.NewReader("x"), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	s := retry.New(f, (&quick{}).policy(5))
	r, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindInventory})
	if err != nil {
		t.Fatal(err)
	}
	f.inventory = func(n int, _ func(store.Archive) error) error {
		if n == 1 {
			return errFlaky
		}
		return nil
	}
	seen := 0
	if _, err := s.Inventory(t.Context(), r, func(store.Archive) error { seen++; return nil }); err != nil || seen != 3 || f.calls["inventory"] != 2 {
		t.Errorf("failure before delivery: %d archives, %d calls, %v; want 3 archives after 2 calls", seen, f.calls["inventory"], err)
	}

	f.calls["inventory"], seen = 0, 0
	f.inventory = func(n int, fn func(store.Archive) error) error {
		_ = fn(store.Archive{ID: "first"})
		return errFlaky
	}
	if _, err := s.Inventory(t.Context(), r, func(store.Archive) error { seen++; return nil }); !errors.Is(err, errFlaky) || seen != 1 || f.calls["inventory"] != 1 {
		t.Errorf("failure after delivery: %d archives, %d calls, %v; want 1, 1 and the error", seen, f.calls["inventory"], err)
	}

	f.calls["inventory"] = 0
	f.inventory = nil
	stop := errors.New("caller stops")
	if _, err := s.Inventory(t.Context(), r, func(store.Archive) error { return stop }); !errors.Is(err, stop) || f.calls["inventory"] != 1 {
		t.Errorf("callback error: %d calls, %v", f.calls["inventory"], err)
	}
}

func TestDeleteAfterLostAnswer(t *testing.T) {
	f := newFake(t)
	a, err := f.Store.Put(t.Context(), strings.NewReader("x"), "d")
	if err != nil {
		t.Fatal(err)
	}
	f.delete = func(n int) error {
		if n == 1 {
			_ = f.Store.Delete(context.Background(), a.ID) // done, but the answer is lost
			return errFlaky
		}
		return nil
	}
	err = retry.New(f, (&quick{}).policy(5)).Delete(t.Context(), a.ID)
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "earlier") {
		t.Errorf("Delete whose first answer was lost: %v; want not found, saying an earlier attempt may have done it", err)
	}
}
