package vault

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
	"github.com/aws/aws-sdk-go-v2/service/glacier/types"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

func TestChunkFor(t *testing.T) {
	for _, size := range []int64{1, MiB, 3*MiB + 1, 8 * MiB, 20*MiB + 3, 100 * MiB} {
		for pos := int64(0); pos < size; pos += max(1, size/37) {
			for _, want := range []int64{pos + 1, pos + MiB, size} {
				want = min(want, size)
				start, end := chunkFor(pos, want, size)
				switch {
				case start > pos || pos >= end:
					t.Fatalf("size %d pos %d: chunk [%d, %d) does not hold pos", size, pos, start, end)
				case end-start > chunkLeaves*MiB:
					t.Fatalf("size %d pos %d: chunk [%d, %d) larger than %d MiB", size, pos, start, end, chunkLeaves)
				case !treehash.RangeAligned(start, end-start, size):
					t.Fatalf("size %d pos %d: chunk [%d, %d) is not a node of the tree", size, pos, start, end)
				case want-pos <= MiB-pos%MiB && end-start > MiB:
					t.Fatalf("size %d pos %d want %d: chunk [%d, %d) larger than needed", size, pos, want, start, end)
				}
			}
		}
	}
}

// TestReadRangeChunks: a whole read of a 20 MiB archive takes three
// verified chunks of at most 8 MiB; a small read in the middle one leaf.
func TestReadRangeChunks(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	data := randomBytes(20*MiB+3, 11)
	a, err := s.Put(t.Context(), bytes.NewReader(data), "chunked")
	if err != nil {
		t.Fatal(err)
	}
	r := ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	e.srv.ResetStats()
	if got := readAll(t, s, r, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("whole read differs")
	}
	st := outputStats(e, int64(len(data)))
	if st.Requests != 3 || st.BytesOut != int64(len(data)) {
		t.Errorf("whole read: %d requests, %d bytes; want 3 chunks, %d bytes", st.Requests, st.BytesOut, len(data))
	}
	e.srv.ResetStats()
	if got := readAll(t, s, r, 13*MiB+5, 100); !bytes.Equal(got, data[13*MiB+5:13*MiB+105]) {
		t.Fatal("small read differs")
	}
	if st := outputStats(e, MiB); st.Requests != 1 || st.BytesOut != MiB {
		t.Errorf("100-byte read: %d requests, %d bytes; want one leaf", st.Requests, st.BytesOut)
	}
	if s.bufs.out.Load() != 0 {
		t.Errorf("%d buffers not returned", s.bufs.out.Load())
	}
}

// outputStats returns the emulator's GetJobOutput counters once they show
// at least want bytes sent, or after a second: the server counts a write
// after the client may already have read it.
func outputStats(e *emu, want int64) glacieremu.OpStats {
	deadline := time.Now().Add(time.Second)
	for {
		st := e.srv.Stats()[glacieremu.OpGetJobOutput]
		if st.BytesOut >= want || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNotReady(t *testing.T) {
	e := newEmu(t, glacieremu.Config{Delays: glacieremu.Delays{Expedited: time.Hour, Standard: time.Hour, Bulk: time.Hour, Inventory: time.Hour}})
	s := newStore(t, e, nil)
	a, err := s.Put(t.Context(), bytes.NewReader([]byte("slow")), "slow")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ready || r.JobID == "" || r.Requested.IsZero() || r.Tier != "" {
		t.Errorf("Request returned %+v, want a pending job that keeps the tier asked for", r)
	}
	if r, err = s.Poll(t.Context(), r); err != nil || r.Ready || r.Size != 4 || !r.Expires.IsZero() {
		t.Errorf("Poll: %+v, %v; want not ready, size 4, no expiry yet", r, err)
	}
	_, err = s.ReadRange(t.Context(), r, 0, -1)
	if !errors.Is(err, store.ErrNotReady) {
		t.Errorf("ReadRange of a pending job: %v, want ErrNotReady", err)
	}
	inv, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindInventory})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Inventory(t.Context(), inv, func(store.Archive) error { return nil })
	if !errors.Is(err, store.ErrNotReady) {
		t.Errorf("Inventory of a pending job: %v, want ErrNotReady", err)
	}
	// A retrieval's kind must match its job's.
	wrong := inv
	wrong.Kind = store.KindArchive
	if _, err := s.Poll(t.Context(), wrong); err == nil || !store.IsPermanent(err) {
		t.Errorf("Poll of an inventory job as an archive retrieval: %v, want a permanent error", err)
	}
}

// fakeClock is a settable clock shared by the emulator and the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestExpired runs the emulator two days in the past, so that a job
// completed there has (by the real clock) passed its 24 hours; once the
// emulator forgets it too, Poll and ReadRange report ErrExpired.
func TestExpired(t *testing.T) {
	clock := &fakeClock{t: time.Now().Add(-48 * time.Hour)}
	e := newEmu(t, glacieremu.Config{Now: clock.Now})
	s := newStore(t, e, nil)
	a, err := s.Put(t.Context(), bytes.NewReader([]byte("old")), "old")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if r, err = s.Poll(t.Context(), r); err != nil || !r.Ready {
		t.Fatalf("Poll: %+v, %v", r, err)
	}
	if want := clock.Now().Add(-time.Minute).Add(24 * time.Hour); r.Expires.Sub(want).Abs() > 2*time.Second {
		t.Errorf("Expires = %v, want completion + 24h = %v", r.Expires, want)
	}
	clock.Advance(25 * time.Hour)
	if _, err := s.Poll(t.Context(), r); !errors.Is(err, store.ErrExpired) || !strings.Contains(err.Error(), s.Location()) {
		t.Errorf("Poll of an expired job: %v, want ErrExpired naming the store", err)
	}
	if _, err := s.ReadRange(t.Context(), r, 0, -1); !errors.Is(err, store.ErrExpired) {
		t.Errorf("ReadRange of an expired job: %v, want ErrExpired", err)
	}
	// A job never completed that the service does not know is not found.
	r.Expires = time.Time{}
	if _, err := s.Poll(t.Context(), r); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Poll of an unknown job: %v, want ErrNotFound", err)
	}
	r.JobID = ""
	if _, err := s.Poll(t.Context(), r); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Poll without a job id: %v, want ErrNotFound", err)
	}
}

func TestEmptyVaultInventory(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	r, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindInventory})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Ready || r.JobID == "" || r.Requested.IsZero() || r.Expires.Sub(r.Requested) != 24*time.Hour {
		t.Errorf("inventory of a vault that never held an archive: %+v, want ready at once, expiring in 24h", r)
	}
	if again, err := s.Poll(t.Context(), r); err != nil || !again.Ready {
		t.Errorf("Poll: %+v, %v", again, err)
	}
	calls := 0
	date, err := s.Inventory(t.Context(), r, func(store.Archive) error { calls++; return nil })
	if err != nil || calls != 0 || !date.Equal(r.Requested) {
		t.Errorf("Inventory: %d archives, date %v, error %v; want none, dated when requested", calls, date, err)
	}
	if _, err := s.ReadRange(t.Context(), r, 0, -1); err == nil || !store.IsPermanent(err) {
		t.Errorf("ReadRange of an inventory: %v, want a permanent error", err)
	}
	r.Expires = time.Now().Add(-time.Minute)
	if _, err := s.Poll(t.Context(), r); !errors.Is(err, store.ErrExpired) {
		t.Errorf("Poll after 24h: %v, want ErrExpired", err)
	}

	// The vault is deleted: that is a configuration error, not an empty vault.
	if _, err := e.client().DeleteVault(t.Context(), &glacier.DeleteVaultInput{AccountId: aws.String("-"), VaultName: aws.String(testVault)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Request(t.Context(), store.Retrieval{Kind: store.KindInventory})
	var ce *store.ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("inventory of a deleted vault: %v, want a ConfigError", err)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	for _, r := range []store.Retrieval{
		{Kind: store.KindArchive},
		{Kind: store.KindArchive, ArchiveID: "x", Tier: "Glacial"},
		{Kind: store.KindInventory, ArchiveID: "x"},
		{Kind: 7},
	} {
		if _, err := s.Request(t.Context(), r); err == nil || !store.IsPermanent(err) {
			t.Errorf("Request(%+v): %v, want a permanent error", r, err)
		}
	}
	if n := e.srv.Stats()[glacieremu.OpInitiateJob].Requests; n != 0 {
		t.Errorf("%d jobs initiated for invalid requests", n)
	}
	_, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: "nonexistent"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Request of an unknown archive: %v, want ErrNotFound", err)
	}
}

func TestMergeJob(t *testing.T) {
	hash := strings.Repeat("AB", 32)
	done := func(d glacier.DescribeJobOutput) *glacier.DescribeJobOutput {
		d.Completed = true
		d.StatusCode = types.StatusCodeSucceeded
		d.CreationDate = aws.String("2024-03-17T06:00:00.000Z")
		d.CompletionDate = aws.String("2024-03-17T10:00:00.000Z")
		return &d
	}
	arch := store.Retrieval{Kind: store.KindArchive, ArchiveID: "A", JobID: "J"}

	got, err := mergeJob(arch, done(glacier.DescribeJobOutput{Action: types.ActionCodeArchiveRetrieval, ArchiveId: aws.String("A"),
		ArchiveSizeInBytes: aws.Int64(5), ArchiveSHA256TreeHash: aws.String(hash), SHA256TreeHash: aws.String(hash), Tier: aws.String("Bulk")}))
	if err != nil || !got.Ready || got.Size != 5 || got.TreeHash != strings.ToLower(hash) || got.Tier != store.TierBulk ||
		!got.Expires.Equal(time.Date(2024, 3, 18, 10, 0, 0, 0, time.UTC)) || !got.Requested.Equal(time.Date(2024, 3, 17, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("AWS-style job: %+v, %v", got, err)
	}

	// moto: size 0 and no tree hashes whatever the archive.
	got, err = mergeJob(arch, done(glacier.DescribeJobOutput{Action: types.ActionCodeArchiveRetrieval, ArchiveId: aws.String("A"),
		ArchiveSizeInBytes: aws.Int64(0)}))
	if err != nil || got.Size != -1 || got.TreeHash != "" {
		t.Errorf("moto-style job: %+v, %v; want an unknown size", got, err)
	}

	failed := done(glacier.DescribeJobOutput{Action: types.ActionCodeArchiveRetrieval, ArchiveId: aws.String("A")})
	failed.StatusCode, failed.StatusMessage = types.StatusCodeFailed, aws.String("archive gone")
	if _, err := mergeJob(arch, failed); err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), "archive gone") {
		t.Errorf("failed job: %v, want a permanent error with the service's message", err)
	}
	other := done(glacier.DescribeJobOutput{Action: types.ActionCodeArchiveRetrieval, ArchiveId: aws.String("B")})
	if _, err := mergeJob(arch, other); err == nil || !store.IsPermanent(err) {
		t.Errorf("job of another archive: %v, want a permanent error", err)
	}
	pending := &glacier.DescribeJobOutput{Action: types.ActionCodeInventoryRetrieval, StatusCode: types.StatusCodeInProgress}
	got, err = mergeJob(store.Retrieval{Kind: store.KindInventory, JobID: "J"}, pending)
	if err != nil || got.Ready || got.Size != -1 || !got.Expires.IsZero() {
		t.Errorf("pending inventory: %+v, %v", got, err)
	}
}
