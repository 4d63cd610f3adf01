package local

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustPut(t *testing.T, s *Store, data, desc string) store.Archive {
	t.Helper()
	a, err := s.Put(t.Context(), strings.NewReader(data), desc)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func readAll(t *testing.T, s *Store, r store.Retrieval) string {
	t.Helper()
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

func TestNewCreatesLayoutAndReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "store")
	s, err := New(dir+"/./", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "local:" + dir; s.Location() != want {
		t.Errorf("Location() = %q, want %q", s.Location(), want)
	}
	for _, name := range []string{markerName, archivesDir, uploadsDir, jobsDir} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("layout: %v", err)
		}
	}
	a := mustPut(t, s, "hello", "greeting")

	again, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of an existing store: %v", err)
	}
	r, err := again.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err != nil || !r.Ready || r.JobID != "" || r.Size != 5 || r.TreeHash != a.TreeHash {
		t.Fatalf("Request after reopen = %+v, %v; want ready at once with size 5 and the tree hash", r, err)
	}
	if got := readAll(t, again, r); got != "hello" {
		t.Errorf("read %q after reopen", got)
	}
	if len(a.ID) < 43 {
		t.Errorf("archive id %q is shorter than 43 characters", a.ID)
	}
}

func TestNewRefusesForeignOrNewerDirectories(t *testing.T) {
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "holiday.jpg"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(foreign, Options{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("New on a directory with other content: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, markerName)); err == nil {
		t.Error("New wrote a marker into a foreign directory")
	}

	if _, err := Open(t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), markerName) {
		t.Errorf("Open of an empty directory: %v, want an error naming the marker", err)
	}

	newer := t.TempDir()
	marker := `{"format":"grsync-local-store","version":2,"created":"2030-01-01T00:00:00Z","shiny":true}`
	if err := os.WriteFile(filepath.Join(newer, markerName), []byte(marker), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(newer, Options{}); err == nil || !strings.Contains(err.Error(), "newer grsync") {
		t.Errorf("New on a version 2 store: %v, want a 'newer grsync' error", err)
	}

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, markerName), []byte(`{"format":"kopia","version":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(other, Options{}); err == nil || !strings.Contains(err.Error(), "not a grsync store marker") {
		t.Errorf("New with a foreign marker: %v", err)
	}
}

// TestRetrievalDelay checks a simulated cold store: not ready until the
// delay has passed, also for a new process that opens the store later.
func TestRetrievalDelay(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	opt := Options{RetrievalDelay: 4 * time.Hour, Now: clock.Now}
	dir := t.TempDir()
	s, err := New(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	a := mustPut(t, s, "cold bytes", "cold")
	ctx := t.Context()

	r, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Tier: store.TierBulk})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ready || r.JobID == "" || !r.Requested.Equal(clock.Now()) || r.Size != 10 {
		t.Fatalf("Request = %+v, want a pending job requested now with size 10", r)
	}
	if _, err := s.ReadRange(ctx, r, 0, -1); !errors.Is(err, store.ErrNotReady) {
		t.Errorf("ReadRange before the delay: %v, want ErrNotReady", err)
	}
	inv, err := s.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	if err != nil || inv.Ready {
		t.Fatalf("inventory Request = %+v, %v; want pending", inv, err)
	}
	if _, err := s.Inventory(ctx, inv, func(store.Archive) error { return nil }); !errors.Is(err, store.ErrNotReady) {
		t.Errorf("Inventory before the delay: %v, want ErrNotReady", err)
	}

	clock.Add(4*time.Hour - time.Second)
	restarted, err := Open(dir, opt) // as a later run would
	if err != nil {
		t.Fatal(err)
	}
	// The catalogue keeps only the job id and the archive id.
	saved := store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, JobID: r.JobID}
	if p, err := restarted.Poll(ctx, saved); err != nil || p.Ready {
		t.Fatalf("Poll a second early = %+v, %v; want not ready", p, err)
	}
	clock.Add(time.Second)
	p, err := restarted.Poll(ctx, saved)
	if err != nil || !p.Ready || !p.Requested.Equal(r.Requested) || p.Tier != store.TierBulk || p.Size != 10 {
		t.Fatalf("Poll after the delay = %+v, %v; want ready, requested %v, tier Bulk", p, err, r.Requested)
	}
	if got := readAll(t, restarted, p); got != "cold bytes" {
		t.Errorf("read %q", got)
	}
	if inv, err = restarted.Poll(ctx, inv); err != nil || !inv.Ready {
		t.Fatalf("inventory Poll = %+v, %v", inv, err)
	}
	n := 0
	if _, err := restarted.Inventory(ctx, inv, func(store.Archive) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("Inventory: %d archives, %v", n, err)
	}

	// A job is bound to what it retrieves.
	wrong := saved
	wrong.Kind = store.KindInventory
	wrong.ArchiveID = ""
	if _, err := restarted.Poll(ctx, wrong); err == nil || !store.IsPermanent(err) {
		t.Errorf("Poll of an archive job as an inventory: %v, want a permanent error", err)
	}
	if _, err := restarted.Poll(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Poll without a job id on a cold store: %v, want ErrNotFound", err)
	}
}

func TestSeed(t *testing.T) {
	s := newTestStore(t, Options{})
	glacierID := strings.Repeat("vrppj6m51-emv-vCr3rn5Z", 6) + "elF9CK" // 138 characters, like Glacier's
	created := time.Date(2024, 3, 16, 12, 0, 0, 0, time.UTC)
	if err := s.Seed(glacierID, "grsync|/home/alice/a.txt|5|1.5|None", created, strings.NewReader("seeded")); err != nil {
		t.Fatal(err)
	}
	r, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: glacierID})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, r); got != "seeded" {
		t.Errorf("read %q", got)
	}
	var listed []store.Archive
	inv, _ := s.Request(t.Context(), store.Retrieval{Kind: store.KindInventory})
	if _, err := s.Inventory(t.Context(), inv, func(a store.Archive) error { listed = append(listed, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != glacierID || !listed[0].Created.Equal(created) {
		t.Errorf("inventory = %+v, want the seeded archive created %v", listed, created)
	}

	for _, bad := range []string{"", "../escape", "a/b", "x.json", ".hidden", strings.Repeat("a", 201), "spa ce"} {
		if err := s.Seed(bad, "", time.Time{}, strings.NewReader("x")); err == nil || !store.IsPermanent(err) {
			t.Errorf("Seed(%q): %v, want a permanent error", bad, err)
		}
	}
	if err := s.Seed(glacierID, "again", time.Time{}, strings.NewReader("other")); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Seed over an existing id: %v, want 'already exists'", err)
	}
	if got := readAll(t, s, r); got != "seeded" {
		t.Errorf("existing archive changed to %q", got)
	}
	if entries, _ := os.ReadDir(s.uploadDir()); len(entries) != 0 {
		t.Errorf("failed Seeds left %d files in uploads/", len(entries))
	}
}

// TestCrashLeftovers builds the states a crash can leave and checks what
// the store makes of them.
func TestCrashLeftovers(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := t.Context()
	a := mustPut(t, s, "whole", "whole")

	// Crash between the two renames: bytes without metadata.
	orphan := newID()
	if err := os.WriteFile(s.archivePath(orphan), []byte("orphan"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Crash while writing: a .part alone, and a torn .json.
	partOnly := newID()
	if err := os.WriteFile(s.uploadPath(partOnly, ".part"), []byte("pa"), 0o600); err != nil {
		t.Fatal(err)
	}
	torn := newID()
	if err := os.WriteFile(s.uploadPath(torn, ".json"), []byte(`{"descrip`), 0o600); err != nil {
		t.Fatal(err)
	}

	inv, _ := s.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	var ids []string
	if _, err := s.Inventory(ctx, inv, func(x store.Archive) error { ids = append(ids, x.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != a.ID {
		t.Errorf("inventory = %v, want only %s (bytes without metadata are not an archive)", ids, a.ID)
	}
	if _, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: orphan}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Request of orphan bytes: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, orphan); err != nil {
		t.Errorf("Delete of orphan bytes: %v", err)
	}
	if _, err := os.Stat(s.archivePath(orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan bytes still there: %v", err)
	}

	ups, err := s.ListUploads(ctx)
	if err != nil || len(ups) != 2 {
		t.Fatalf("ListUploads = %v, %v; want the two leftovers", ups, err)
	}
	for _, u := range ups {
		if u.Created.IsZero() {
			t.Errorf("upload %s has no creation time", u.ID)
		}
		if err := s.AbortUpload(ctx, u.ID); err != nil {
			t.Errorf("AbortUpload(%s): %v", u.ID, err)
		}
	}
	if entries, _ := os.ReadDir(s.uploadDir()); len(entries) != 0 {
		t.Errorf("uploads/ still holds %d files", len(entries))
	}
}

func TestDamagedArchives(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := t.Context()
	a := mustPut(t, s, "0123456789", "damaged")
	r, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.archivePath(a.ID), 4); err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadRange(ctx, r, 2, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(got) != "23" {
		t.Errorf("reading a truncated archive: %q, %v; want the 2 bytes there and io.ErrUnexpectedEOF", got, err)
	}

	if err := os.WriteFile(s.metaPath(a.ID), []byte(`{"description":"x","size":-3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}); err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), a.ID) {
		t.Errorf("Request with corrupt metadata: %v, want a permanent error naming the archive", err)
	}
	inv, _ := s.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	if _, err := s.Inventory(ctx, inv, func(store.Archive) error { return nil }); err == nil {
		t.Error("Inventory over corrupt metadata: no error")
	}
}

func TestClosedStoreRefuses(t *testing.T) {
	s := newTestStore(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Put(t.Context(), strings.NewReader("x"), "")
	if err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Put after Close: %v", err)
	}
	if _, err := s.ListUploads(t.Context()); err == nil {
		t.Error("ListUploads after Close: no error")
	}
}

// endless yields n bytes of a repeating pattern without holding them.
type endless struct{ left int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), e.left))
	for i := range p[:n] {
		p[i] = byte(i)
	}
	e.left -= int64(n)
	return n, nil
}

// TestPutMemoryBounded puts 48 MiB and checks the heap allocated during
// the Put is a small constant, not proportional to the size.
func TestPutMemoryBounded(t *testing.T) {
	s := newTestStore(t, Options{})
	put := func(size int64) uint64 {
		before := heapAllocated()
		if _, err := s.Put(t.Context(), &endless{left: size}, "big"); err != nil {
			t.Fatal(err)
		}
		return heapAllocated() - before
	}
	small, big := put(1<<20), put(48<<20)
	if big > small+2<<20 || big > 4<<20 {
		t.Errorf("Put allocated %d bytes for 48 MiB and %d for 1 MiB; want a bound independent of size", big, small)
	}
}

func TestUnknownTierAndKind(t *testing.T) {
	s := newTestStore(t, Options{})
	a := mustPut(t, s, "x", "")
	if _, err := s.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID, Tier: "Glacial"}); err == nil || !store.IsPermanent(err) {
		t.Errorf("unknown tier: %v", err)
	}
	if _, err := s.Request(t.Context(), store.Retrieval{Kind: store.Kind(7)}); err == nil || !store.IsPermanent(err) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := s.ReadRange(t.Context(), store.Retrieval{Kind: store.KindInventory}, 0, -1); err == nil || !store.IsPermanent(err) {
		t.Errorf("ReadRange of an inventory retrieval: %v", err)
	}
}

// heapAllocated returns the cumulative bytes allocated on the heap.
func heapAllocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestObjectLockRefused checks that a local store refuses an object lock
// mode with a configuration error that says what to use instead, and
// creates nothing.
func TestObjectLockRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	_, err := New(dir, Options{ObjectLock: store.LockGovernance})
	var ce *store.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--object-lock governance") || !strings.Contains(ce.Hint, "--bucket") {
		t.Errorf("New with an object lock: %v (hint %q), want a ConfigError pointing to an S3 bucket with Object Lock", err, hintOf(ce))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused store's directory was created: %v", err)
	}
}

func hintOf(ce *store.ConfigError) string {
	if ce == nil {
		return ""
	}
	return ce.Hint
}

// An archive read once (its metadata remembered) and then deleted, by this
// store or by another process's, is not found any more.
func TestReadAfterDeleteOfAnArchiveReadBefore(t *testing.T) {
	s := newTestStore(t, Options{})
	other, err := Open(s.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, deleter := range []*Store{s, other} {
		a := mustPut(t, s, "content", "desc")
		r := store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}
		if got := readAll(t, s, r); got != "content" {
			t.Fatalf("read %q", got)
		}
		if _, ok := s.metas.get(a.ID); !ok {
			t.Fatal("the read did not remember the archive's metadata")
		}
		if err := deleter.Delete(t.Context(), a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReadRange(t.Context(), r, 0, -1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadRange of an archive deleted (by the same store: %v): %v, want ErrNotFound", deleter == s, err)
		}
	}
}
