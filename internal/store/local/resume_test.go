package local

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// crashedUpload writes what a resumable upload killed (kill -9) after
// written bytes of data leaves: its record and its partial file.
func crashedUpload(t *testing.T, s *Store, desc string, data []byte, written int) store.UploadRef {
	t.Helper()
	u, err := s.startUpload(uploadMeta{Description: desc, Created: s.opt.Now().UTC(), Archive: newID(), PartSize: s.opt.PartSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.f.Write(data[:written]); err != nil {
		t.Fatal(err)
	}
	if err := u.f.Close(); err != nil {
		t.Fatal(err)
	}
	return store.UploadRef{ID: u.id, PartSize: s.opt.PartSize}
}

// TestResumeAfterCrash continues an upload a killed process left with two
// and a half parts written: the two whole parts are compared and kept, the
// torn one is written again.
func TestResumeAfterCrash(t *testing.T) {
	const ps = 4 << 10
	s := newTestStore(t, Options{PartSize: ps})
	data := randomData(5*ps+17, 1)
	ref := crashedUpload(t, s, "crashed", data, 2*ps+ps/2)

	ups, err := s.ListUploads(t.Context())
	if err != nil || len(ups) != 1 || ups[0].ID != ref.ID || ups[0].PartSize != ps || ups[0].Description != "crashed" {
		t.Fatalf("ListUploads = %+v, %v; want the crashed upload with its part size", ups, err)
	}

	// A body that differs in the second part is refused, and changes
	// nothing.
	changed := bytes.Clone(data)
	changed[ps+100] ^= 1
	_, err = s.PutResumable(t.Context(), bytes.NewReader(changed), "crashed", store.ResumeOptions{Resume: &ref})
	if !errors.Is(err, store.ErrCannotResume) || !strings.Contains(err.Error(), "part 2") {
		t.Fatalf("continuing with a changed part 2: %v, want ErrCannotResume naming part 2", err)
	}
	if fi, err := os.Stat(s.uploadPath(ref.ID, ".part")); err != nil || fi.Size() != 2*ps+ps/2 {
		t.Fatalf("after the refusal the upload's file is %v, %v; want it untouched", fi, err)
	}

	var skipped int64
	a, err := s.PutResumable(t.Context(), bytes.NewReader(data), "crashed", store.ResumeOptions{Resume: &ref, Skipped: func(n int64) { skipped += n }})
	if err != nil {
		t.Fatalf("continuing: %v", err)
	}
	if skipped != 2*ps || a.Size != int64(len(data)) {
		t.Errorf("skipped %d bytes, archive of %d; want 2 parts skipped, %d bytes", skipped, a.Size, len(data))
	}
	got, err := os.ReadFile(s.archivePath(a.ID))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("the archive holds %d bytes (%v) that differ from the body", len(got), err)
	}
	if entries, _ := os.ReadDir(s.uploadDir()); len(entries) != 0 {
		t.Errorf("uploads/ still holds %d files", len(entries))
	}
}

// TestResumeCrashBeforeBytes: a process killed between recording an
// upload and creating its file leaves an upload that is listed, cannot be
// continued, and can be aborted; so is an upload made by Put.
func TestResumeCrashBeforeBytes(t *testing.T) {
	s := newTestStore(t, Options{PartSize: 4 << 10})
	ref := crashedUpload(t, s, "no bytes", randomData(10, 2), 0)
	if err := os.Remove(s.uploadPath(ref.ID, ".part")); err != nil {
		t.Fatal(err)
	}
	_, err := s.PutResumable(t.Context(), bytes.NewReader(randomData(3<<12, 2)), "no bytes", store.ResumeOptions{Resume: &ref})
	if !errors.Is(err, store.ErrCannotResume) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("continuing an upload without bytes: %v, want ErrCannotResume and ErrNotFound", err)
	}

	put := leaveUpload(t, s, "by put")
	_, err = s.PutResumable(t.Context(), strings.NewReader("half an archive and more"), "by put", store.ResumeOptions{Resume: &store.UploadRef{ID: put, PartSize: 4 << 10}})
	if !errors.Is(err, store.ErrCannotResume) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("continuing an upload of Put: %v, want ErrCannotResume", err)
	}
	for _, id := range []string{ref.ID, put} {
		if err := s.AbortUpload(t.Context(), id); err != nil {
			t.Errorf("AbortUpload(%s): %v", id, err)
		}
	}
	if entries, _ := os.ReadDir(s.uploadDir()); len(entries) != 0 {
		t.Errorf("uploads/ still holds %d files", len(entries))
	}
}

// TestPutResumableMemoryBounded: like Put, PutResumable holds one copy
// buffer (two while comparing), whatever the size.
func TestPutResumableMemoryBounded(t *testing.T) {
	s := newTestStore(t, Options{PartSize: 1 << 20})
	put := func(size int64) uint64 {
		before := heapAllocated()
		if _, err := s.PutResumable(t.Context(), &endless{left: size}, "big", store.ResumeOptions{}); err != nil {
			t.Fatal(err)
		}
		return heapAllocated() - before
	}
	small, big := put(1<<20), put(48<<20)
	if big > small+2<<20 || big > 4<<20 {
		t.Errorf("PutResumable allocated %d bytes for 48 MiB and %d for 1 MiB; want a bound independent of size", big, small)
	}
}
