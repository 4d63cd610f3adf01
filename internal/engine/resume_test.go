package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
)

func TestDecodeResume(t *testing.T) {
	good := resumeRecord{V: resumeVersion, UploadID: "u", PartSize: 1 << 20, Description: "grsync1:e:00:0/1:x",
		Size: 5, ContentHash: "ab", Writer: "w", Encoding: "grsync1+zstd+age", State: []byte{1, 2}}
	b, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeResume(b)
	if err != nil || got.UploadID != good.UploadID || got.PartSize != good.PartSize || string(got.State) != string(good.State) {
		t.Fatalf("decodeResume(%s) = %+v, %v", b, got, err)
	}
	for name, mutate := range map[string]func(*resumeRecord){
		"other version":  func(r *resumeRecord) { r.V = 2 },
		"no upload id":   func(r *resumeRecord) { r.UploadID = "" },
		"no part size":   func(r *resumeRecord) { r.PartSize = 0 },
		"negative size":  func(r *resumeRecord) { r.Size = -1 },
		"no description": func(r *resumeRecord) { r.Description = "" },
		"no hash":        func(r *resumeRecord) { r.ContentHash = "" },
	} {
		r := good
		mutate(&r)
		b, _ := json.Marshal(r)
		if _, err := decodeResume(b); err == nil {
			t.Errorf("%s: decodeResume accepted %s", name, b)
		}
	}
	for _, bad := range []string{"", "{", "null", "[]", `{"v":"1"}`} {
		if _, err := decodeResume([]byte(bad)); err == nil {
			t.Errorf("decodeResume accepted %q", bad)
		}
	}
}

// FuzzDecodeResume: any bytes in the catalogue's resume column give a
// record that passes the checks or an error, never a panic.
func FuzzDecodeResume(f *testing.F) {
	f.Add([]byte(`{"v":1,"upload":"u","part_size":1048576,"desc":"d","size":5,"hash":"ab","state":"AQI="}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResume(b)
		if err == nil && (r.V != resumeVersion || r.UploadID == "" || r.PartSize <= 0 || r.Size < 0) {
			t.Fatalf("accepted an invalid record %+v", r)
		}
	})
}

// failingBodyStore makes the body of every resumable upload fail, as a
// network gone mid-upload would, once failAt bytes have been read.
type failingBodyStore struct {
	store.Store
	failAt int64
}

var errNetworkGone = errors.New("network is unreachable")

func (f *failingBodyStore) PutResumable(ctx context.Context, body io.Reader, desc string, opt store.ResumeOptions) (store.Archive, error) {
	return f.Store.(store.Resumer).PutResumable(ctx, &failingReader{r: body, left: f.failAt}, desc, opt)
}

type failingReader struct {
	r    io.Reader
	left int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errNetworkGone
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

// A sync whose upload fails part way keeps the upload and its note; the
// next sync continues it, sending only what the store lacks, and the
// archive restores identical.
func TestSyncContinuesFailedUpload(t *testing.T) {
	cfg, dir := setup(t, 0)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 20<<20+321)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plain := cfg.Store
	cfg.Store = &failingBodyStore{Store: plain, failAt: 13 << 20}
	res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Err.Error(), "the next run continues this upload") {
		t.Fatalf("first sync: %+v %v; want one failure saying the next run continues it", res, err)
	}
	ps, err := cfg.Catalog.PendingUploads(cfg.Target.ID)
	if err != nil || len(ps) != 1 || ps[0].Resume == nil {
		t.Fatalf("the upload must stay noted with its resume record: %+v %v", ps, err)
	}
	if ups, err := plain.ListUploads(ctx); err != nil || len(ups) != 1 {
		t.Fatalf("the upload must stay in the store: %+v %v", ups, err)
	}

	cfg.Store = plain
	res, err = Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || res.Uploaded != 1 || res.Resumed != 1 || res.ResumedBytes < 8<<20 || len(res.Failures) != 0 {
		t.Fatalf("second sync: %+v %v; want the upload continued with at least one 8 MiB part skipped", res, err)
	}
	if ps, _ := cfg.Catalog.PendingUploads(cfg.Target.ID); len(ps) != 0 {
		t.Errorf("nothing should stay noted: %+v", ps)
	}
	if ups, _ := plain.ListUploads(ctx); len(ups) != 0 {
		t.Errorf("uploads left in the store: %+v", ups)
	}
	out := filepath.Join(dir, "out")
	opt := RestoreOptions{Output: out, Wait: true, Poll: 10 * time.Millisecond}
	plan, err := PlanRestore(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Restore(ctx, cfg, opt, plan); err != nil || r.Restored != 1 {
		t.Fatalf("restore: %+v %v", r, err)
	}
	got, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(src, "/"), "big"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("the continued upload restores differently (%v)", err)
	}
}

// Of two interrupted uploads noted for one path, the newer is continued;
// the older loses its resume record, so it is settled like any dead upload
// (aborted by the next sync, its archives removed by verify).
func TestOlderResumeRecordForSamePathIsForgotten(t *testing.T) {
	cfg, _ := setup(t, 0)
	rec := func(upload string) []byte {
		b, err := json.Marshal(resumeRecord{V: resumeVersion, UploadID: upload, PartSize: 1 << 20,
			Description: "d", Size: 1, ContentHash: "ab"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var ids []int64
	for _, up := range []string{"old", "new"} {
		id, err := cfg.Catalog.BeginUpload(cfg.Target.ID, "/f", "00112233aabbccdd", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Catalog.SetUploadResume(id, rec(up)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	bad, _ := cfg.Catalog.BeginUpload(cfg.Target.ID, "/g", "0011223344556677", time.Now())
	if err := cfg.Catalog.SetUploadResume(bad, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	byPath, keep, err := loadResumable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := byPath["/f"]; c == nil || c.rec.UploadID != "new" || len(byPath) != 1 || !keep["new"] || keep["old"] {
		t.Fatalf("candidates %+v, keep %v; want only the newer upload of /f", byPath, keep)
	}
	ps, _ := cfg.Catalog.PendingUploads(cfg.Target.ID)
	for _, p := range ps {
		if (p.ID == ids[0] || p.ID == bad) != (p.Resume == nil) {
			t.Errorf("intent %d (%s): resume record %q; only the newer one of /f keeps it", p.ID, p.Path, p.Resume)
		}
	}
}

// refusingStore refuses every resumable upload for good once it has
// started (leaving it in the store, as a body error does), and cannot
// abort uploads: the network to the store is down.
type refusingStore struct {
	store.Store
}

var errRefused = errors.New("upload refused")

func (r *refusingStore) PutResumable(ctx context.Context, body io.Reader, desc string, opt store.ResumeOptions) (store.Archive, error) {
	_, err := r.Store.(store.Resumer).PutResumable(ctx, &failingReader{r: body, left: 9 << 20}, desc, opt)
	if err == nil {
		return store.Archive{}, errors.New("the body should have failed")
	}
	return store.Archive{}, store.Permanent(errRefused)
}

func (r *refusingStore) AbortUpload(context.Context, string) error { return errNetworkGone }

// An upload that is not to be continued but cannot be aborted keeps its
// note, so the next sync settles it instead of leaving it billed unseen.
func TestUnabortableUploadStaysNoted(t *testing.T) {
	cfg, dir := setup(t, 0)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 20<<20)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plain := cfg.Store
	cfg.Store = &refusingStore{Store: plain}
	res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || len(res.Failures) != 1 || !errors.Is(res.Failures[0].Err, errRefused) {
		t.Fatalf("first sync: %+v %v; want the refusal reported", res, err)
	}
	if ps, _ := cfg.Catalog.PendingUploads(cfg.Target.ID); len(ps) != 1 || ps[0].Resume == nil {
		t.Fatalf("the unaborted upload must stay noted: %+v", ps)
	}
	cfg.Store = plain
	res, err = Sync(ctx, cfg, SyncOptions{Sources: []string{src}})
	if err != nil || res.Uploaded != 1 || len(res.Failures) != 0 {
		t.Fatalf("second sync: %+v %v", res, err)
	}
	if ps, _ := cfg.Catalog.PendingUploads(cfg.Target.ID); len(ps) != 0 {
		t.Errorf("nothing should stay noted: %+v", ps)
	}
	if ups, _ := plain.ListUploads(ctx); len(ups) != 0 {
		t.Errorf("uploads left in the store: %+v", ups)
	}
}
