package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
	"github.com/aws/aws-sdk-go-v2/service/glacier/types"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// sumWatcher passes requests on to h and counts the job-output responses
// that carried a tree hash, and those that did not.
type sumWatcher struct {
	h             http.Handler
	with, without atomic.Int64
}

func (w *sumWatcher) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.h.ServeHTTP(rw, r)
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/output") {
		if rw.Header().Get("x-amz-sha256-tree-hash") != "" {
			w.with.Add(1)
		} else {
			w.without.Add(1)
		}
	}
}

// watchedEmu is an emulator behind handler wrap, with an empty test vault.
func watchedEmu(t *testing.T, wrap func(http.Handler) http.Handler) *emu {
	t.Helper()
	srv, err := glacieremu.New(glacieremu.Config{Delays: fastDelays()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(wrap(srv))
	t.Cleanup(func() { ts.Close(); srv.Close() })
	e := &emu{srv: srv, url: ts.URL}
	e.createVault(t, testVault)
	return e
}

func readErr(s *Store, r store.Retrieval, off, n int64) error {
	rc, err := s.ReadRange(context.Background(), r, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	return err
}

// TestRangedRetrieval: a job retrieves only the range asked for; reads
// inside it give the archive's bytes at the archive's offsets, chunk by
// verified chunk when the range is tree-hash aligned; reads outside it are
// refused.
func TestRangedRetrieval(t *testing.T) {
	w := &sumWatcher{}
	e := watchedEmu(t, func(h http.Handler) http.Handler { w.h = h; return w })
	s := newStore(t, e, nil)
	size := 20*MiB + 3
	data := randomBytes(size, 21)
	a, err := s.Put(t.Context(), bytes.NewReader(data), "ranged")
	if err != nil {
		t.Fatal(err)
	}
	archive := func(off, n int64) store.Retrieval {
		return store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Offset: off, Length: n}
	}

	t.Run("aligned", func(t *testing.T) {
		e.srv.ResetStats()
		w.with.Store(0)
		w.without.Store(0)
		r := ready(t, s, archive(8*MiB, 8*MiB)) // a node of the tree: leaves 8-15
		if !r.Ranged() || r.Offset != 8*MiB || r.Length != 8*MiB || r.Size != int64(size) {
			t.Fatalf("ready retrieval %+v, want bytes 8-16 MiB of the %d", r, size)
		}
		if r.TreeHash != treehash.Sum(data[8*MiB:16*MiB]).String() {
			t.Errorf("TreeHash = %s, want the range's", r.TreeHash)
		}
		jobs := e.srv.Jobs(testVault)
		if j := jobs[len(jobs)-1]; !j.Ranged || j.Start != 8*MiB || j.Length != 8*MiB {
			t.Errorf("the emulator's job: %+v", j)
		}
		if got := readAll(t, s, r, 9*MiB+5, 1000); !bytes.Equal(got, data[9*MiB+5:9*MiB+1005]) {
			t.Error("read inside the range differs")
		}
		if got := readAll(t, s, r, 8*MiB, 8*MiB); !bytes.Equal(got, data[8*MiB:16*MiB]) {
			t.Error("read of the whole range differs")
		}
		if w.with.Load() != 2 || w.without.Load() != 0 {
			t.Errorf("%d chunks came with a tree hash, %d without; want 2 and 0", w.with.Load(), w.without.Load())
		}
		if out := outputStats(e, MiB+8*MiB).BytesOut; out != MiB+8*MiB {
			t.Errorf("%d bytes of job output downloaded, want %d", out, MiB+8*MiB)
		}
		for _, bad := range [][2]int64{{0, 10}, {8*MiB - 1, 2}, {16*MiB - 5, 10}, {10 * MiB, -1}} {
			err := readErr(s, r, bad[0], bad[1])
			if err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), "outside the range") {
				t.Errorf("ReadRange(%d, %d) outside the retrieved range: %v, want a permanent error", bad[0], bad[1], err)
			}
		}
	})

	t.Run("to the end", func(t *testing.T) {
		w.with.Store(0)
		w.without.Store(0)
		r := ready(t, s, archive(16*MiB, int64(size)-16*MiB)) // leaves 16-20: the right subtree
		if r.Offset != 16*MiB || r.Length != int64(size)-16*MiB || r.TreeHash != treehash.Sum(data[16*MiB:]).String() {
			t.Fatalf("ready retrieval %+v", r)
		}
		if got := readAll(t, s, r, 17*MiB, -1); !bytes.Equal(got, data[17*MiB:]) {
			t.Error("read to the end differs")
		}
		if w.with.Load() == 0 || w.without.Load() != 0 {
			t.Errorf("%d chunks came with a tree hash, %d without", w.with.Load(), w.without.Load())
		}
	})

	t.Run("megabyte aligned only", func(t *testing.T) {
		w.with.Store(0)
		w.without.Store(0)
		r := ready(t, s, archive(MiB, 2*MiB)) // leaves 1-2: no node of the tree
		if r.Offset != MiB || r.Length != 2*MiB || r.TreeHash != "" {
			t.Fatalf("ready retrieval %+v, want bytes 1-3 MiB and no tree hash", r)
		}
		if got := readAll(t, s, r, MiB, 2*MiB); !bytes.Equal(got, data[MiB:3*MiB]) {
			t.Error("read of the range differs")
		}
		// Glacier sends no tree hash for any part of such a job's output.
		if w.with.Load() != 0 || w.without.Load() == 0 {
			t.Errorf("%d chunks came with a tree hash, %d without", w.with.Load(), w.without.Load())
		}
	})

	t.Run("spanning the archive", func(t *testing.T) {
		r := ready(t, s, archive(0, int64(size)))
		if r.Ranged() || r.TreeHash != a.TreeHash {
			t.Errorf("a range spanning the archive: %+v, want a whole-archive retrieval", r)
		}
		if got := readAll(t, s, r, 0, -1); !bytes.Equal(got, data) {
			t.Error("whole read differs")
		}
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name        string
			off, n      int64
			sent        bool   // the service, not the store, refuses it
			wantMessage string // part of the error
		}{
			{"start not aligned", MiB + 1, MiB, false, "not a multiple of 1 MiB"},
			{"negative length", 0, -1, false, "negative"},
			{"offset without length", MiB, 0, false, "no length"},
			{"end not aligned", 0, MiB + 5, true, "RetrievalByteRange"},
			{"end one byte short", 0, MiB - 1, true, "RetrievalByteRange"},
			{"beyond the end", 16 * MiB, 8 * MiB, true, "RetrievalByteRange"},
		}
		for _, tt := range tests {
			e.srv.ResetStats()
			_, err := s.Request(t.Context(), archive(tt.off, tt.n))
			if err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("%s: Request error %v, want a permanent one saying %q", tt.name, err, tt.wantMessage)
			}
			if sent := e.srv.Stats()[glacieremu.OpInitiateJob].Requests; sent != map[bool]int64{false: 0, true: 1}[tt.sent] {
				t.Errorf("%s: %d InitiateJob requests sent", tt.name, sent)
			}
		}
		_, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindInventory, Length: MiB})
		if err == nil || !store.IsPermanent(err) {
			t.Errorf("inventory with a range: %v, want a permanent error", err)
		}
	})
}

// TestRangedReadDetectsCorruption: in a tree-hash aligned range, a chunk
// whose bytes do not match the tree hash the service sent is fetched
// again, and never passed on.
func TestRangedReadDetectsCorruption(t *testing.T) {
	c := &corrupter{}
	e := watchedEmu(t, func(h http.Handler) http.Handler { c.h = h; return c })
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 3 })
	data := randomBytes(16*MiB+100, 22)
	a, err := s.Put(t.Context(), bytes.NewReader(data), "ranged, corrupted in transit")
	if err != nil {
		t.Fatal(err)
	}
	r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Offset: 4 * MiB, Length: 4 * MiB})
	c.bad.Store(2)
	if got := readAll(t, s, r, 4*MiB, 4*MiB); !bytes.Equal(got, data[4*MiB:8*MiB]) {
		t.Fatal("read returned wrong bytes")
	}
	if c.bad.Load() >= 0 {
		t.Fatal("nothing was corrupted; the test proves nothing")
	}
	c.bad.Store(1 << 30)
	rc, err := s.ReadRange(t.Context(), r, 5*MiB, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "tree hash") || !strings.Contains(err.Error(), "bytes 4194304-8388607") {
		t.Errorf("read of always-corrupted ranged output: error %v, want a tree hash mismatch naming the range", err)
	}
	if len(got) != 0 {
		t.Errorf("%d corrupted bytes were passed on", len(got))
	}
}

func TestJobRange(t *testing.T) {
	tests := []struct {
		v       *string
		size    int64
		off, n  int64
		wantErr bool
	}{
		{nil, 100, 0, 0, false},                   // moto: no range reported
		{aws.String("0-99"), 100, 0, 0, false},    // AWS's whole-archive job
		{aws.String("0-49"), 100, 0, 50, false},   // a range from the start
		{aws.String("50-99"), 100, 50, 50, false}, // to the end
		{aws.String("0-99"), -1, 0, 100, false},   // size unknown: taken as a range
		{aws.String("0-100"), 100, 0, 0, true},    // beyond the archive
		{aws.String("9-3"), 100, 0, 0, true},
		{aws.String("a-b"), 100, 0, 0, true},
		{aws.String("17"), 100, 0, 0, true},
	}
	for _, tt := range tests {
		off, n, err := jobRange(tt.v, tt.size)
		if (err != nil) != tt.wantErr || off != tt.off || n != tt.n {
			t.Errorf("jobRange(%q, %d) = %d, %d, %v", aws.ToString(tt.v), tt.size, off, n, err)
		}
	}
	// A job whose range does not hold the range asked for is refused; one
	// without a range (a service that ignores ranges) is the whole archive.
	asked := store.Retrieval{Kind: store.KindArchive, ArchiveID: "A", JobID: "J", Offset: 2 * MiB, Length: MiB}
	d := &glacier.DescribeJobOutput{Action: types.ActionCodeArchiveRetrieval, ArchiveId: aws.String("A"),
		ArchiveSizeInBytes: aws.Int64(8 * MiB), ArchiveSHA256TreeHash: aws.String("00"),
		RetrievalByteRange: aws.String("0-1048575"), StatusCode: types.StatusCodeSucceeded, Completed: true}
	if _, err := mergeJob(asked, d); err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), "not the 2097152-3145727 asked for") {
		t.Errorf("job with another range: %v", err)
	}
	d.RetrievalByteRange = nil
	if got, err := mergeJob(asked, d); err != nil || got.Ranged() || !got.Ready {
		t.Errorf("job without a range: %+v, %v; want a ready whole-archive retrieval", got, err)
	}
	d.RetrievalByteRange = aws.String("0-4194303")
	if got, err := mergeJob(asked, d); err != nil || got.Offset != 0 || got.Length != 4*MiB {
		t.Errorf("job with a larger range: %+v, %v; want its range", got, err)
	}
	whole := asked.Whole()
	if got, err := mergeJob(whole, d); err != nil || got.Length != 4*MiB {
		t.Errorf("a retrieval that does not know its range learns it: %+v, %v", got, err)
	}
	if !errors.Is(store.CheckRange(asked), nil) {
		t.Error("CheckRange refuses an aligned range")
	}
}
