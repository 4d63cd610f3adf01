package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
)

type eventRecorder struct {
	NopObserver
	mu      sync.Mutex
	notices []string
}

func (r *eventRecorder) Notice(path, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, msg)
}

func (r *eventRecorder) saw(s string) bool {
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

// putV1Archive stores content as a format v1 archive (as grsync before
// packs did) and records it as the version of path.
func putV1Archive(t *testing.T, cfg *Config, path string, content []byte) {
	t.Helper()
	var buf bytes.Buffer
	mt := time.Unix(1700000000, 0)
	w, err := format.NewWriter(&buf, format.FileInfo{Path: path, Size: int64(len(content)), Mode: 0o644, ModTime: mt},
		format.Options{Compress: true, Recipient: cfg.Key.AgeIdentity().Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := cfg.Store.Put(context.Background(), bytes.NewReader(buf.Bytes()), "v1 archive")
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Key.ContentHash()
	h.Write(content)
	if _, err := cfg.Catalog.Record(catalog.Version{TargetID: cfg.Target.ID, Path: path, Size: int64(len(content)),
		MTimeNS: mt.UnixNano(), Mode: 0o644, ArchiveID: a.ID, Checksum: a.TreeHash, StoredSize: a.Size,
		Compression: "grsync1+zstd+age", ContentHash: hex.EncodeToString(h.Sum(nil))}); err != nil {
		t.Fatal(err)
	}
}

// A whole v1 archive in cold storage: the retrieval is recorded, reused by
// the next run, and an interrupted download resumes at the last whole MiB.
func TestColdRestoreWaitsReusesJobsAndResumesDownloads(t *testing.T) {
	cfg, dir := setup(t, 300*time.Millisecond)
	src := filepath.Join(dir, "src", "big")
	big := make([]byte, 3<<20+12345)
	rand.Read(big)
	putV1Archive(t, cfg, src, big)
	ctx := context.Background()

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
	dest := Destination(opt, src)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(filepath.Dir(dest), downloadName(job.ArchiveID))
	tail := append(partial.Bytes()[:1<<20:1<<20], bytes.Repeat([]byte{0xff}, 777)...) // torn, wrong tail
	if err := os.WriteFile(part, tail, 0o600); err != nil {
		t.Fatal(err)
	}

	// The second run reuses the recorded job (no new request) and resumes.
	rec := &eventRecorder{}
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

// Packs in cold storage: one retrieval per pack, recorded and reused; the
// members are read by range once it is ready.
func TestColdRestoreOfPacks(t *testing.T) {
	cfg, dir := setup(t, 300*time.Millisecond)
	src := filepath.Join(dir, "src")
	want := map[string][]byte{}
	for i := 0; i < 20; i++ {
		b := make([]byte, 1000+i*5000)
		rand.Read(b)
		p := filepath.Join(src, fmt.Sprintf("f%02d", i))
		want[p] = b
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Jobs = 1 // one pack
	ctx := context.Background()
	res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || res.Uploaded != 20 || res.Objects != 1 {
		t.Fatalf("sync: %+v %v", res, err)
	}
	out := filepath.Join(dir, "out")
	opt := RestoreOptions{Output: out, Poll: 50 * time.Millisecond}
	plan, err := PlanRestore(cfg, opt)
	if err != nil || len(plan.Items) != 1 || plan.Files != 20 {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	r1, err := Restore(ctx, cfg, opt, plan)
	if err != nil || r1.Pending != 20 || r1.PendingArch != 1 {
		t.Fatalf("first restore should wait for one pack: %+v %v", r1, err)
	}
	plan, _ = PlanRestore(cfg, opt)
	opt.Wait = true
	r2, err := Restore(ctx, cfg, opt, plan)
	if err != nil || r2.Restored != 20 || len(r2.Failures) > 0 || !plan.Items[0].Reused {
		t.Fatalf("second restore: %+v %v (reused %v)", r2, err, plan.Items[0].Reused)
	}
	for p, b := range want {
		got, err := os.ReadFile(Destination(opt, p))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s restored differently: %v", p, err)
		}
	}
}

// A file that changes while it is read is tried again at the end of the
// run; if it changes again it is reported and not recorded, unless the
// policy is to store it as read.
func TestChangedWhileReadingIsNotRecorded(t *testing.T) {
	for _, policy := range []ChangingPolicy{ChangingFail, ChangingStore} {
		cfg, dir := setup(t, 0)
		p := filepath.Join(dir, "growing")
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 3<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		// The file grows after every read of it.
		cfg.afterRead = func(string) {
			if f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0); err == nil {
				f.Write([]byte("more"))
				f.Close()
			}
		}
		rec := &eventRecorder{}
		cfg.Observer = rec
		res, err := Sync(context.Background(), cfg, SyncOptions{Sources: []string{p}, ChangingFiles: policy})
		if err != nil {
			t.Fatal(err)
		}
		if !rec.saw("trying again at the end") {
			t.Errorf("policy %d: the first change should be retried: %v", policy, rec.notices)
		}
		v, ok, _ := cfg.Catalog.Latest(cfg.Target.ID, p)
		switch policy {
		case ChangingFail:
			if res.Uploaded != 0 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Err.Error(), "changed while it was being read, twice") {
				t.Fatalf("a file changed during both reads must be reported, not recorded: %+v", res)
			}
			if ok {
				t.Error("the changed file was recorded")
			}
		case ChangingStore:
			if res.Uploaded != 1 || res.ChangedStored != 1 || len(res.Failures) != 0 {
				t.Fatalf("with --changing-files=store the file is stored as read: %+v", res)
			}
			if !ok || v.Flags&catalog.FlagChangedWhileRead == 0 {
				t.Fatalf("the version must be flagged changed while read: %+v", v)
			}
			// The version is what was read (the size seen when the file
			// was opened the second time, before it grew again): it
			// restores, and the next run reads the file again.
			now, _ := os.ReadFile(p)
			if v.Size < 3<<20 || v.Size >= int64(len(now)) {
				t.Errorf("the version records %d bytes; the file had 3 MiB, has %d now", v.Size, len(now))
			}
			opt := RestoreOptions{Output: filepath.Join(dir, "out")}
			plan, err := PlanRestore(cfg, opt)
			if err != nil {
				t.Fatal(err)
			}
			if r, err := Restore(context.Background(), cfg, opt, plan); err != nil || r.Restored != 1 || len(r.Failures) != 0 {
				t.Fatalf("restoring a file stored as read: %+v %v", r, err)
			}
			got, _ := os.ReadFile(Destination(opt, p))
			if int64(len(got)) != v.Size || !bytes.HasPrefix(now, got) {
				t.Errorf("restored %d bytes, want the first %d of the file", len(got), v.Size)
			}
		}
		// Whatever was stored is recorded: nothing in the store is unknown.
		objs, _ := cfg.Catalog.Objects(cfg.Target.ID)
		n := 0
		cfg.Store.Inventory(context.Background(), store.Retrieval{Kind: store.KindInventory, Ready: true}, func(store.Archive) error { n++; return nil })
		if n != len(objs) {
			t.Errorf("policy %d: %d objects in the store, %d recorded", policy, n, len(objs))
		}
	}
}

// Folders get their mode and mtime after their files: a folder whose
// files wait for a retrieval is left alone until the run that restores
// them, which would otherwise move its mtime.
func TestFolderMetadataWaitsForItsFiles(t *testing.T) {
	cfg, dir := setup(t, 300*time.Millisecond)
	src := filepath.Join(dir, "src")
	for _, p := range []string{filepath.Join(src, "waiting", "f"), filepath.Join(src, "g")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o711); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, d := range []string{"waiting", "empty", "."} {
		if err := os.Chtimes(filepath.Join(src, d), old, old); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || res.Uploaded != 2 || res.Folders != 3 {
		t.Fatalf("sync: %+v %v", res, err)
	}
	out := filepath.Join(dir, "out")
	opt := RestoreOptions{Output: out, Poll: 50 * time.Millisecond}
	plan, err := PlanRestore(cfg, opt)
	if err != nil || plan.Folders != 3 {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	r1, err := Restore(ctx, cfg, opt, plan)
	if err != nil || r1.Pending != 2 || r1.Folders != 1 {
		t.Fatalf("the first restore should wait for the files and finish only the empty folder: %+v %v", r1, err)
	}
	if fi, err := os.Stat(Destination(opt, filepath.Join(src, "empty"))); err != nil || fi.Mode().Perm() != 0o711 || !fi.ModTime().Equal(old) {
		t.Fatalf("the empty folder should be restored at once: %v %v", fi, err)
	}
	opt.Wait = true
	plan, _ = PlanRestore(cfg, opt)
	r2, err := Restore(ctx, cfg, opt, plan)
	if err != nil || r2.Restored != 2 || r2.Folders != 3 || len(r2.Failures) > 0 {
		t.Fatalf("second restore: %+v %v", r2, err)
	}
	for _, d := range []string{"waiting", "empty", "."} {
		if fi, err := os.Stat(Destination(opt, filepath.Join(src, d))); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("folder %s: mtime %v, want %v (%v)", d, fi.ModTime(), old, err)
		}
	}
}
