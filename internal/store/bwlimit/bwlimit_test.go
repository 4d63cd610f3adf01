package bwlimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/bwlimit"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/store/storelog"
	"github.com/grsync/grsync/internal/store/storetest"
	"github.com/grsync/grsync/internal/testutil/localstore"
)

const partSize = 64 << 10

// The wrappers grsync stacks for --bwlimit and --loglevel DEBUG keep every
// rule of the store contract, resumable uploads included (they forward
// store.Resumer).
func TestSuiteThroughLimitAndLog(t *testing.T) {
	var mu sync.Mutex
	dirs := map[store.Store]string{}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	storetest.RunWithOptions(t, storetest.Options{
		PartSize: partSize,
		LeaveUpload: func(t *testing.T, s store.Store, d string) string {
			mu.Lock()
			defer mu.Unlock()
			return localstore.LeaveUpload(t, dirs[s], d)
		},
	}, func(t *testing.T) store.Store {
		dir := t.TempDir()
		l, err := local.New(dir, local.Options{PartSize: partSize})
		if err != nil {
			t.Fatal(err)
		}
		s := bwlimit.New(storelog.New(l, log), bwlimit.NewLimiter(1<<30))
		if _, ok := s.(store.Resumer); !ok {
			t.Fatal("the wrappers must forward store.Resumer")
		}
		mu.Lock()
		dirs[s] = dir
		mu.Unlock()
		return s
	})
}

// A limited body stays seekable, so that the retry wrapper above can
// rewind it.
func TestReaderKeepsSeeker(t *testing.T) {
	l := bwlimit.NewLimiter(1 << 30)
	r := l.Reader(context.Background(), bytes.NewReader([]byte("hello")))
	s, ok := r.(io.Seeker)
	if !ok {
		t.Fatal("a limited *bytes.Reader is no longer an io.Seeker")
	}
	b, _ := io.ReadAll(r)
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r)
	if string(b) != "hello" || string(b2) != "hello" {
		t.Fatalf("read %q then %q after rewinding", b, b2)
	}
	if _, ok := l.Reader(context.Background(), strings.NewReader("x")).(io.Seeker); !ok {
		t.Fatal("strings.Reader lost its Seek")
	}
	if _, ok := l.Reader(context.Background(), io.MultiReader()).(io.Seeker); ok {
		t.Fatal("a reader that cannot seek must not claim to")
	}
}

// A reader waiting for the limiter stops when its context ends.
func TestReaderHonoursContext(t *testing.T) {
	l := bwlimit.NewLimiter(1024) // 1 KiB/s: 1 MiB would take 17 minutes
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := io.Copy(io.Discard, l.Reader(ctx, bytes.NewReader(make([]byte, 1<<20))))
	if err == nil {
		t.Fatal("reading 1 MiB at 1 KiB/s with a cancelled context succeeded")
	}
}

// fakeResumer reads a whole body and says its first half was already
// stored (as a continued upload does), before reading the rest.
type fakeResumer struct {
	store.Store
	half int64
}

func (f *fakeResumer) PutResumable(ctx context.Context, body io.Reader, _ string, opt store.ResumeOptions) (store.Archive, error) {
	first := make([]byte, 1024) // the first part: read and compared
	if _, err := io.ReadFull(body, first); err != nil {
		return store.Archive{}, err
	}
	opt.Skipped(f.half) // not sent again
	n, err := io.Copy(io.Discard, body)
	return store.Archive{Size: n + 1024}, err
}

// The bytes of parts a continued upload finds already stored are read but
// not sent: they are credited back and pass without waiting. With a
// cancelled context, any wait fails at once, so the upload succeeds only
// if no read beyond the first burst waited.
func TestSkippedPartsAreNotLimited(t *testing.T) {
	l, err := local.New(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const size = 4 << 20
	s := bwlimit.New(&fakeResumer{Store: l, half: size}, bwlimit.NewLimiter(4096))
	ctx, cancel := context.WithCancel(context.Background())
	// The first 1 KiB fits the limiter's initial burst; then the context
	// ends: every later read must be covered by the credit.
	body := &cancelAfter{r: bytes.NewReader(make([]byte, size)), n: 1024, cancel: cancel}
	a, err := s.(store.Resumer).PutResumable(ctx, body, "d", store.ResumeOptions{Skipped: func(int64) {}})
	if err != nil || a.Size != size {
		t.Fatalf("continued upload: %v, %d bytes", err, a.Size)
	}
}

type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

// Read cancels the context once n bytes have been read, before reading more.
func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// BenchmarkLimitedTransfers measures the rate that four uploads and four
// downloads at once, through one limiter, actually get: it must be the
// limit (reported as MiB/s beside limit-MiB/s), however many transfers
// share it.
//
//	go test -bench LimitedTransfers -benchtime 3x ./internal/store/bwlimit/
func BenchmarkLimitedTransfers(b *testing.B) {
	const limit = 16 << 20 // 16 MiB/s
	const size = 4 << 20   // per transfer
	const parallel = 4
	data := make([]byte, size)
	rand.Read(data)
	for _, dir := range []string{"upload", "download"} {
		b.Run(dir, func(b *testing.B) {
			l, err := local.New(b.TempDir(), local.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var stored []store.Retrieval
			if dir == "download" {
				for range parallel {
					a, err := l.Put(ctx, bytes.NewReader(data), "x")
					if err != nil {
						b.Fatal(err)
					}
					r, err := l.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
					if err != nil {
						b.Fatal(err)
					}
					stored = append(stored, r)
				}
			}
			// One limiter for the whole run, as in grsync; its first burst
			// (a quarter second's worth) is included.
			s := bwlimit.New(l, bwlimit.NewLimiter(limit))
			b.SetBytes(size * parallel)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				var wg sync.WaitGroup
				for i := range parallel {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if dir == "upload" {
							if _, err := s.Put(ctx, bytes.NewReader(data), "x"); err != nil {
								b.Error(err)
							}
							return
						}
						rc, err := s.ReadRange(ctx, stored[i], 0, -1)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, rc)
						rc.Close()
					}()
				}
				wg.Wait()
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(size*parallel*b.N)/secs/(1<<20), "MiB/s")
			b.ReportMetric(float64(limit)/(1<<20), "limit-MiB/s")
		})
	}
}
