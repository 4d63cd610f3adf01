package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
)

type recorder struct {
	NopObserver
	mu      sync.Mutex
	notices []string
}

func (r *recorder) Notice(path, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, msg)
}

func (r *recorder) saw(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.notices {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// setup returns a config over a fresh catalogue and a local store whose
// retrievals take delay, like a cold store.
func setup(t *testing.T, delay time.Duration) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	cat, err := catalog.Open(filepath.Join(dir, "c.db"), catalog.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	st, err := local.New(filepath.Join(dir, "store"), local.Options{RetrievalDelay: delay})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := cat.EnsureTarget(st.Location())
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Config{Store: st, Catalog: cat, Target: tg, Key: &k, Encrypt: true, Compress: true, Jobs: 2}, dir
}

func TestColdRestoreWaitsReusesJobsAndResumesDownloads(t *testing.T) {
	cfg, dir := setup(t, 300*time.Millisecond)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20+12345)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || res.Uploaded != 1 {
		t.Fatalf("sync: %+v %v", res, err)
	}

	out := filepath.Join(dir, "out")
	opt := RestoreOptions{Output: out, Poll: 50 * time.Millisecond}
	plan, err := PlanRestore(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	// Without waiting: pending, and the job is recorded.
	r1, err := Restore(ctx, cfg, opt, plan)
	if err != nil || r1.Pending != 1 || r1.Restored != 0 {
		t.Fatalf("first restore should be pending: %+v %v", r1, err)
	}
	job, ok, err := cfg.Catalog.Retrieval(cfg.Target.ID, "archive", plan.Items[0].ArchiveID)
	if err != nil || !ok || job.JobID == "" {
		t.Fatalf("the retrieval job must be recorded: %+v %v %v", job, ok, err)
	}

	// A partial download left by an interrupted run: 1 MiB + a torn tail.
	time.Sleep(350 * time.Millisecond)
	r := store.Retrieval{Kind: store.KindArchive, ArchiveID: job.ArchiveID, JobID: job.JobID, Size: -1}
	r, err = cfg.Store.Poll(ctx, r)
	if err != nil || !r.Ready {
		t.Fatalf("poll: %+v %v", r, err)
	}
	rc, err := cfg.Store.ReadRange(ctx, r, 0, 1<<20+777)
	if err != nil {
		t.Fatal(err)
	}
	var partial bytes.Buffer
	partial.ReadFrom(rc)
	rc.Close()
	dest := Destination(opt, filepath.Join(src, "big"))
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(filepath.Dir(dest), downloadName(job.ArchiveID))
	tail := append(partial.Bytes()[:1<<20:1<<20], bytes.Repeat([]byte{0xff}, 777)...) // torn, wrong tail
	if err := os.WriteFile(part, tail, 0o600); err != nil {
		t.Fatal(err)
	}

	// The second run reuses the recorded job (no new request) and resumes.
	rec := &recorder{}
	cfg.Observer = rec
	plan, _ = PlanRestore(cfg, opt)
	opt.Wait = true
	r2, err := Restore(ctx, cfg, opt, plan)
	if err != nil || r2.Restored != 1 || len(r2.Failures) > 0 {
		t.Fatalf("second restore: %+v %v", r2, err)
	}
	if !plan.Items[0].Reused || plan.Items[0].Retrieval.JobID != job.JobID {
		t.Errorf("the recorded job should be reused, got %+v", plan.Items[0].Retrieval)
	}
	if !rec.saw("resuming download") {
		t.Errorf("the download should resume from the partial file: %v", rec.notices)
	}
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("restored file differs: %v", err)
	}
	if _, err := os.Stat(part); err == nil {
		t.Error("the download file must be removed after the restore")
	}
}

func TestChangedWhileReadingIsNotRecorded(t *testing.T) {
	cfg, dir := setup(t, 0)
	p := filepath.Join(dir, "growing")
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	// The store's Put appends to the file while it is being read.
	cfg.Store = &mutatingStore{Store: cfg.Store, path: p}
	res, err := Sync(context.Background(), cfg, SyncOptions{Sources: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 0 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Err.Error(), "changed while it was being read") {
		t.Fatalf("a file changed during the read must be reported, not recorded: %+v", res)
	}
	if _, ok, _ := cfg.Catalog.Latest(cfg.Target.ID, p); ok {
		t.Error("the changed file was recorded")
	}
	// And the uploaded archive was removed again.
	n := 0
	cfg.Store.Inventory(context.Background(), store.Retrieval{Kind: store.KindInventory, Ready: true}, func(store.Archive) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d archives left in the store for a file not recorded", n)
	}
}

type mutatingStore struct {
	store.Store
	path string
	once sync.Once
}

// Put changes the source file as soon as the upload starts reading.
func (m *mutatingStore) Put(ctx context.Context, body io.Reader, desc string) (store.Archive, error) {
	m.once.Do(func() {
		f, err := os.OpenFile(m.path, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			f.Write([]byte("more"))
			f.Close()
		}
	})
	return m.Store.Put(ctx, body, desc)
}
