package faulty_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/faulty"
	"github.com/grsync/grsync/internal/store/retry"
)

// TestResumableUnderFaults uploads through retry(faulty(local)) with a
// third of the PutResumable calls failing and half of their bodies
// breaking, as a caller does: each failure continues the upload the last
// Started named (or starts anew if there was none) until it completes.
// Every continuation must be accepted, and the archive must be the body.
func TestResumableUnderFaults(t *testing.T) {
	l := newLocal(t)
	f := faulty.New(l, faulty.Config{
		Ops:  map[faulty.Op]faulty.OpConfig{faulty.OpResume: {ErrorRate: 0.3, FailMidStream: 0.5, MidStreamMax: 24 * resumePartSize}},
		Rand: seeded(t),
	})
	f.FailNext(faulty.OpResume, 1)
	f.BreakNext(faulty.OpResume, 3)
	rs := retry.New(f, fastPolicy()).(store.Resumer)
	data := make([]byte, 20*resumePartSize+123)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}

	var ref *store.UploadRef
	var skipped int64
	var a store.Archive
	continued := 0
	for attempt := 1; ; attempt++ {
		if attempt > 200 {
			t.Fatal("the upload did not complete in 200 attempts")
		}
		opt := store.ResumeOptions{
			Resume:  ref,
			Started: func(r store.UploadRef) error { ref = &r; return nil },
			Skipped: func(n int64) { skipped += n },
		}
		if ref != nil {
			continued++
		}
		var err error
		if a, err = rs.PutResumable(t.Context(), bytes.NewReader(data), "under faults", opt); err == nil {
			break
		}
		if !errors.Is(err, faulty.ErrInjected) || errors.Is(err, store.ErrCannotResume) {
			t.Fatalf("attempt %d: %v, want an injected fault, and never ErrCannotResume", attempt, err)
		}
	}
	st := f.Stats()[faulty.OpResume]
	t.Logf("%d calls, %d injected errors, %d broken bodies, %d continuations, %d bytes skipped", st.Calls, st.Errors, st.MidStream, continued, skipped)
	if st.Errors == 0 || st.MidStream == 0 || continued == 0 || skipped == 0 {
		t.Error("the faults did not exercise continued uploads")
	}
	r, err := l.Request(t.Context(), store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.ReadRange(t.Context(), r, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the archive holds %d bytes (%v) that differ from the %d given", len(got), err, len(data))
	}
	if ups, err := l.ListUploads(t.Context()); err != nil || len(ups) != 0 {
		t.Errorf("ListUploads = %v, %v; want nothing left", ups, err)
	}
}

// TestResumableUnsupported: wrapping a store that cannot resume, the
// wrapper's PutResumable fails at once with errors.ErrUnsupported.
func TestResumableUnsupported(t *testing.T) {
	type plain struct{ store.Store } // hides PutResumable
	f := faulty.New(plain{newLocal(t)}, faulty.Config{})
	_, err := f.PutResumable(t.Context(), strings.NewReader("x"), "d", store.ResumeOptions{})
	if !errors.Is(err, errors.ErrUnsupported) || !store.IsPermanent(err) || !strings.Contains(err.Error(), f.Location()) {
		t.Errorf("PutResumable of a store without it: %v, want a permanent errors.ErrUnsupported naming the store", err)
	}
	if n := f.Stats()[faulty.OpResume].Calls; n != 0 {
		t.Errorf("%d calls counted, want none", n)
	}
}
