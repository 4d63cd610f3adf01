package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

// resumeRecord records what PutResumable told its callbacks, which it may
// call from other goroutines.
type resumeRecord struct {
	mu      sync.Mutex
	started []store.UploadRef
	skipped int64
	// startErr, if set, is what Started returns.
	startErr error
}

// options returns ResumeOptions that continue resume (nil: start a new
// upload) and record into r.
func (r *resumeRecord) options(resume *store.UploadRef) store.ResumeOptions {
	return store.ResumeOptions{
		Resume: resume,
		Started: func(ref store.UploadRef) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.started = append(r.started, ref)
			return r.startErr
		},
		Skipped: func(n int64) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.skipped += n
		},
	}
}

func (r *resumeRecord) startedRefs() []store.UploadRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.started)
}

func (r *resumeRecord) skippedBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped
}

// putResumable calls PutResumable with the options of rec. A store that
// is no store.Resumer, or a wrapper that says the store behind it is not
// (errors.ErrUnsupported), skips the test.
func (h *harness) putResumable(t *testing.T, ctx context.Context, body io.Reader, desc string, rec *resumeRecord, resume *store.UploadRef) (store.Archive, error) {
	t.Helper()
	rs, ok := h.s.(store.Resumer)
	if !ok {
		t.Skip("storetest: the store does not implement store.Resumer")
	}
	a, err := rs.PutResumable(ctx, body, desc, rec.options(resume))
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("storetest: the store does not support resumable uploads: %v", err)
	}
	return a, err
}

// sixParts returns a body of five and a half parts.
func (h *harness) sixParts(seed uint64) []byte {
	return randomBytes(int(5*h.opt.PartSize+h.opt.PartSize/2), seed)
}

// interrupted starts a resumable upload of data whose body fails in the
// middle of its fourth part, checks that the upload is left and listed,
// and returns its ref.
func (h *harness) interrupted(t *testing.T, data []byte, desc string) store.UploadRef {
	t.Helper()
	ps := h.opt.PartSize
	errBody := errors.New("the pipe broke")
	body := &failingBody{r: bytes.NewReader(data), failAt: 3*ps + ps/2, err: errBody}
	var rec resumeRecord
	_, err := h.putResumable(t, t.Context(), body, desc, &rec, nil)
	h.wantErr(t, "PutResumable whose body fails", err, errBody)
	started := rec.startedRefs()
	if len(started) != 1 {
		t.Fatalf("Started was called %d times, want once: %v", len(started), started)
	}
	ref := started[0]
	if ref.PartSize != ps {
		t.Fatalf("Started reports parts of %d bytes, but storetest.Options.PartSize is %d: set it to the store's part size", ref.PartSize, ps)
	}
	h.wantListed(t, ref, desc)
	if inv := h.inventory(t); len(inv) != 0 {
		t.Errorf("an unfinished upload shows in the inventory: %v", inv)
	}
	return ref
}

// wantListed checks that ListUploads lists upload ref, made for desc.
func (h *harness) wantListed(t *testing.T, ref store.UploadRef, desc string) {
	t.Helper()
	ups := h.uploads(t)
	i := slices.IndexFunc(ups, func(u store.Upload) bool { return u.ID == ref.ID })
	if i < 0 {
		t.Fatalf("ListUploads = %v, want it to list the upload left behind, %s", ups, ref.ID)
	}
	if ups[i].Description != desc || ups[i].PartSize != ref.PartSize || ups[i].Created.IsZero() {
		t.Errorf("listed upload %+v, want description %q, part size %d and a creation time", ups[i], desc, ref.PartSize)
	}
}

// continued continues upload ref with data, which must succeed, and checks
// the archive and that nothing but it is left. It returns the bytes
// Skipped was told about.
func (h *harness) continued(t *testing.T, ref store.UploadRef, data []byte, desc string) int64 {
	t.Helper()
	var rec resumeRecord
	a, err := h.putResumable(t, t.Context(), bytes.NewReader(data), desc, &rec, &ref)
	if err != nil {
		t.Fatalf("continuing upload %s: %v", ref.ID, err)
	}
	if started := rec.startedRefs(); len(started) != 0 {
		t.Errorf("continuing an upload called Started: %v", started)
	}
	checkArchive(t, "PutResumable", a, data, desc)
	if got := h.read(t, h.readyArchive(t, a, ""), 0, -1); !bytes.Equal(got, data) {
		t.Errorf("the continued archive reads back %d bytes that differ from the %d given", len(got), len(data))
	}
	if ups := h.uploads(t); len(ups) != 0 {
		t.Errorf("ListUploads = %v after the upload was completed, want none", ups)
	}
	if inv := h.inventory(t); len(inv) != 1 {
		t.Errorf("inventory lists %d archives, want the one continued", len(inv))
	}
	skipped := rec.skippedBytes()
	if skipped < 0 || skipped > int64(len(data)) {
		t.Errorf("Skipped was told about %d bytes of a %d-byte body", skipped, len(data))
	}
	return skipped
}

// wantCannotResume continues upload ref with body and wants
// store.ErrCannotResume.
func (h *harness) wantCannotResume(t *testing.T, what string, ref store.UploadRef, body []byte, desc string) error {
	t.Helper()
	var rec resumeRecord
	_, err := h.putResumable(t, t.Context(), bytes.NewReader(body), desc, &rec, &ref)
	h.wantErr(t, what, err, store.ErrCannotResume)
	if started := rec.startedRefs(); len(started) != 0 {
		t.Errorf("%s called Started: %v", what, started)
	}
	return err
}

// testResumeAfterBodyError: (a) a body that fails after three parts of
// six leaves the upload; continuing it skips the parts stored.
func testResumeAfterBodyError(t *testing.T, h *harness) {
	data := h.sixParts(21)
	ref := h.interrupted(t, data, "resumed after a body error")
	skipped := h.continued(t, ref, data, "resumed after a body error")
	if held := 3 * h.opt.PartSize; skipped < held {
		t.Errorf("continuing skipped %d bytes, want at least the %d of the three parts stored before the body failed", skipped, held)
	}
}

// testResumeChangedPart: (b) a body whose second part differs cannot
// continue the upload, which stays until aborted.
func testResumeChangedPart(t *testing.T, h *harness) {
	data := h.sixParts(22)
	ref := h.interrupted(t, data, "changed part")
	changed := slices.Clone(data)
	changed[h.opt.PartSize+12345%h.opt.PartSize] ^= 0x55
	h.wantCannotResume(t, "continuing with a changed second part", ref, changed, "changed part")
	h.wantListed(t, ref, "changed part")
	if err := h.s.AbortUpload(t.Context(), ref.ID); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	h.assertNothingLeft(t)
}

// testResumeRefusedLeavesUpload: every refusal leaves the upload as it
// was, so the right body still continues it.
func testResumeRefusedLeavesUpload(t *testing.T, h *harness) {
	const desc = "refused, then continued"
	ps := h.opt.PartSize
	data := h.sixParts(23)
	ref := h.interrupted(t, data, desc)

	h.wantCannotResume(t, "continuing with another part size", store.UploadRef{ID: ref.ID, PartSize: 2 * ps}, data, desc)
	h.wantCannotResume(t, "continuing with another description", ref, data, "another description")
	changed := slices.Clone(data)
	changed[3*ps-1] ^= 0x01 // the last byte of the last part held
	h.wantCannotResume(t, "continuing with a changed third part", ref, changed, desc)
	h.wantCannotResume(t, "continuing with a body that ends after two parts", ref, data[:2*ps], desc)
	h.wantListed(t, ref, desc)

	if skipped := h.continued(t, ref, data, desc); skipped < 3*ps {
		t.Errorf("continuing skipped %d bytes, want at least the %d of the three parts stored", skipped, 3*ps)
	}
}

// testResumeUnknownUpload: (c) an aborted or unknown upload cannot be
// continued.
func testResumeUnknownUpload(t *testing.T, h *harness) {
	data := h.sixParts(24)
	ref := h.interrupted(t, data, "aborted")
	if err := h.s.AbortUpload(t.Context(), ref.ID); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	err := h.wantCannotResume(t, "continuing an aborted upload", ref, data, "aborted")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("continuing an aborted upload: %v, want it to wrap store.ErrNotFound too", err)
	}
	unknown := store.UploadRef{ID: "nOsUcHuPlOaD0123456789abcdefghijklmnopqrstu", PartSize: h.opt.PartSize}
	err = h.wantCannotResume(t, "continuing an unknown upload", unknown, data, "aborted")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("continuing an unknown upload: %v, want it to wrap store.ErrNotFound too", err)
	}
	h.assertNothingLeft(t)
}

// testResumableSmallBody: (d) a body that goes in a single request never
// calls Started.
func testResumableSmallBody(t *testing.T, h *harness) {
	for _, n := range []int64{0, 1000, h.opt.PartSize} {
		data := randomBytes(int(n), uint64(n))
		var rec resumeRecord
		a, err := h.putResumable(t, t.Context(), bytes.NewReader(data), "small", &rec, nil)
		if err != nil {
			t.Fatalf("PutResumable of %d bytes: %v", n, err)
		}
		if started := rec.startedRefs(); len(started) != 0 {
			t.Errorf("PutResumable of %d bytes (at most one part) called Started: %v", n, started)
		}
		checkArchive(t, "PutResumable", a, data, "small")
		if got := h.read(t, h.readyArchive(t, a, ""), 0, -1); !bytes.Equal(got, data) {
			t.Errorf("%d bytes read back as %d other ones", n, len(got))
		}
	}
	if ups := h.uploads(t); len(ups) != 0 {
		t.Errorf("ListUploads = %v after single-request uploads, want none", ups)
	}
}

// testResumableStartedFails: a failing Started aborts the upload and its
// error comes back.
func testResumableStartedFails(t *testing.T, h *harness) {
	errRefused := errors.New("the catalogue is read-only")
	rec := resumeRecord{startErr: errRefused}
	data := randomBytes(int(2*h.opt.PartSize+10), 25)
	_, err := h.putResumable(t, t.Context(), bytes.NewReader(data), "not recorded", &rec, nil)
	h.wantErr(t, "PutResumable whose Started fails", err, errRefused)
	if started := rec.startedRefs(); len(started) != 1 {
		t.Errorf("Started was called %d times, want once", len(started))
	}
	h.assertNothingLeft(t)
}

// testResumeAfterCancel: (e) an upload cancelled midway is left, and can
// be continued.
func testResumeAfterCancel(t *testing.T, h *harness) {
	const desc = "cancelled, then continued"
	ps := h.opt.PartSize
	data := h.sixParts(26)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := &cancellingBody{r: bytes.NewReader(data), cancelAt: 3*ps + ps/2, cancel: cancel}
	var rec resumeRecord
	_, err := h.putResumable(t, ctx, body, desc, &rec, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("PutResumable cancelled midway: %v, want context.Canceled", err)
	}
	started := rec.startedRefs()
	if len(started) != 1 {
		t.Fatalf("Started was called %d times, want once", len(started))
	}
	h.wantListed(t, started[0], desc)
	h.continued(t, started[0], data, desc)
}
