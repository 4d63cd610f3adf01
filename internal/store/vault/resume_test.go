package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/storetest"
	"github.com/grsync/grsync/internal/treehash"
)

// failAfter serves data and fails with err once at bytes have been read.
type failAfter struct {
	data []byte
	at   int
	pos  int
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.pos >= f.at {
		return 0, f.err
	}
	n := copy(p, f.data[f.pos:min(f.at, len(f.data))])
	f.pos += n
	return n, nil
}

// started returns ResumeOptions that record the ref Started hands over,
// and the bytes Skipped is told about.
func started(ref *store.UploadRef, skipped *int64) store.ResumeOptions {
	return store.ResumeOptions{
		Started: func(r store.UploadRef) error { *ref = r; return nil },
		Skipped: func(n int64) { *skipped += n },
	}
}

// partBytes returns the request body bytes the emulator received for
// parts.
func partBytes(e *emu) int64 { return e.srv.BytesReceived(glacieremu.OpUploadMultipartPart) }

// TestResumeSendsOnlyMissingParts interrupts an upload of ten parts after
// six have been stored (60%), continues it, and counts on the emulator
// what the second run sent: only the four missing parts (40%).
func TestResumeSendsOnlyMissingParts(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	data := randomBytes(10*MiB, 31)
	errBody := errors.New("the source went away")

	var ref store.UploadRef
	var skipped int64
	opt := started(&ref, &skipped)
	_, err := s.PutResumable(t.Context(), &failAfter{data: data, at: 6*MiB + MiB/2, err: errBody}, "ten parts", opt)
	if !errors.Is(err, errBody) {
		t.Fatalf("PutResumable whose body fails: %v, want the body's error", err)
	}
	first := partBytes(e)
	if n := e.uploadsLeft(t); n != 1 || ref.ID == "" {
		t.Fatalf("%d uploads left, ref %+v; want the one upload, handed to Started", n, ref)
	}

	e.srv.ResetStats()
	opt.Resume = &ref
	a, err := s.PutResumable(t.Context(), bytes.NewReader(data), "ten parts", opt)
	if err != nil {
		t.Fatalf("continuing: %v", err)
	}
	again := partBytes(e)
	t.Logf("first run sent %d part bytes (%.0f%%); the continuation sent %d (%.0f%%) and skipped %d, of %d",
		first, 100*float64(first)/float64(len(data)), again, 100*float64(again)/float64(len(data)), skipped, len(data))
	if first != 6*MiB {
		t.Errorf("the first run sent %d part bytes, want the 6 MiB of the six parts read whole", first)
	}
	if 2*again >= int64(len(data)) {
		t.Errorf("the continuation sent %d part bytes, want less than half of %d", again, len(data))
	}
	if again != 4*MiB || skipped != 6*MiB {
		t.Errorf("the continuation sent %d bytes and skipped %d, want 4 MiB sent and 6 MiB skipped", again, skipped)
	}
	if a.TreeHash != treehash.Sum(data).String() || a.Size != int64(len(data)) {
		t.Errorf("archive %+v, want %d bytes with tree hash %s", a, len(data), treehash.Sum(data))
	}
	if got := readAll(t, s, ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}), 0, -1); !bytes.Equal(got, data) {
		t.Error("the continued archive reads back differently")
	}
	if n := e.uploadsLeft(t); n != 0 {
		t.Errorf("%d uploads left after completion", n)
	}
	if out := s.bufs.out.Load(); out != 0 {
		t.Errorf("%d buffers not returned to the pool", out)
	}
}

// smallParts is the part size of the tests below: an emulator with a
// 1 KiB minimum keeps them fast (and exercises the whole-stream hash).
const smallParts = 1 << 10

// craft starts an upload of parts of smallParts bytes and stores the given
// parts of data (by index) directly, as an earlier run would have.
func craft(t *testing.T, e *emu, desc string, data []byte, parts ...int) store.UploadRef {
	t.Helper()
	c := e.client()
	out, err := c.InitiateMultipartUpload(t.Context(), &glacier.InitiateMultipartUploadInput{
		AccountId: aws.String("-"), VaultName: aws.String(testVault),
		ArchiveDescription: aws.String(desc), PartSize: aws.String(strconv.Itoa(smallParts)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range parts {
		b := data[i*smallParts : min((i+1)*smallParts, len(data))]
		rng := fmt.Sprintf("bytes %d-%d/*", i*smallParts, i*smallParts+len(b)-1)
		if _, err := c.UploadMultipartPart(t.Context(), &glacier.UploadMultipartPartInput{
			AccountId: aws.String("-"), VaultName: aws.String(testVault), UploadId: out.UploadId,
			Range: &rng, Checksum: aws.String(treehash.Sum(b).String()), Body: bytes.NewReader(b),
		}); err != nil {
			t.Fatal(err)
		}
	}
	return store.UploadRef{ID: *out.UploadId, PartSize: smallParts}
}

// heldRanges lists the byte ranges the emulator holds of upload id.
func heldRanges(t *testing.T, e *emu, id string) []string {
	t.Helper()
	out, err := e.client().ListParts(t.Context(), &glacier.ListPartsInput{
		AccountId: aws.String("-"), VaultName: aws.String(testVault), UploadId: aws.String(id),
	})
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, p := range out.Parts {
		rs = append(rs, *p.RangeInBytes)
	}
	return rs
}

// TestResumeHoldsBackMissingParts continues an upload that holds parts 1
// and 3 of six (part 2 missing): with a body whose part 3 differs, nothing
// may be sent, not even part 2, which the body has right; with the right
// body only the missing parts are sent.
func TestResumeHoldsBackMissingParts(t *testing.T) {
	e := newEmu(t, glacieremu.Config{MinPartSize: smallParts})
	s := newStore(t, e, func(c *Config) { c.MinPartSize = smallParts; c.Concurrency = 2 })
	data := randomBytes(5*smallParts+100, 32)
	ref := craft(t, e, "holes", data, 0, 2)
	before := heldRanges(t, e, ref.ID)

	changed := slices.Clone(data)
	changed[2*smallParts+5] ^= 1
	e.srv.ResetStats()
	var skipped int64
	// The body pauses before part 3, so that a part 2 sent too early
	// would reach the vault before part 3 is found changed.
	body := storetest.PauseReader(bytes.NewReader(changed), 2*smallParts, 100*time.Millisecond)
	_, err := s.PutResumable(t.Context(), body, "holes", store.ResumeOptions{Resume: &ref, Skipped: func(n int64) { skipped += n }})
	if !errors.Is(err, store.ErrCannotResume) || !store.IsPermanent(err) {
		t.Fatalf("continuing with a changed held part: %v, want a permanent ErrCannotResume", err)
	}
	if n := e.srv.Stats()[glacieremu.OpUploadMultipartPart].Requests; n != 0 {
		t.Errorf("%d parts were sent before the changed part was found, want none", n)
	}
	if n := e.srv.Stats()[glacieremu.OpAbortMultipartUpload].Requests; n != 0 {
		t.Errorf("the upload was aborted; it must be left for the caller")
	}
	if after := heldRanges(t, e, ref.ID); !slices.Equal(after, before) {
		t.Errorf("the vault holds %v after the refusal, want %v as before", after, before)
	}
	if skipped != smallParts {
		t.Errorf("Skipped was told about %d bytes, want the %d of part 1", skipped, smallParts)
	}

	e.srv.ResetStats()
	skipped = 0
	a, err := s.PutResumable(t.Context(), bytes.NewReader(data), "holes", store.ResumeOptions{Resume: &ref, Skipped: func(n int64) { skipped += n }})
	if err != nil {
		t.Fatalf("continuing with the right body: %v", err)
	}
	if n := e.srv.Stats()[glacieremu.OpUploadMultipartPart].Requests; n != 4 {
		t.Errorf("%d parts sent, want the 4 missing ones", n)
	}
	if skipped != 2*smallParts || a.TreeHash != treehash.Sum(data).String() {
		t.Errorf("skipped %d bytes, tree hash %s; want %d and %s", skipped, a.TreeHash, 2*smallParts, treehash.Sum(data))
	}
	if got := readAll(t, s, ready(t, s, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}), 0, -1); !bytes.Equal(got, data) {
		t.Error("the continued archive reads back differently")
	}
	if out := s.bufs.out.Load(); out != 0 {
		t.Errorf("%d buffers not returned to the pool", out)
	}
}

// TestResumeTooManyHoles: more missing parts below a held one than
// Concurrency would all wait in memory; that is ErrCannotResume before
// any byte is read.
func TestResumeTooManyHoles(t *testing.T) {
	e := newEmu(t, glacieremu.Config{MinPartSize: smallParts})
	s := newStore(t, e, func(c *Config) { c.MinPartSize = smallParts; c.Concurrency = 2 })
	data := randomBytes(6*smallParts, 33)
	ref := craft(t, e, "holes", data, 0, 4) // parts 2, 3 and 4 missing
	body := &failAfter{data: data, at: len(data), err: io.EOF}
	_, err := s.PutResumable(t.Context(), body, "holes", store.ResumeOptions{Resume: &ref})
	if !errors.Is(err, store.ErrCannotResume) {
		t.Fatalf("continuing with 3 holes and Concurrency 2: %v, want ErrCannotResume", err)
	}
	if body.pos != 0 {
		t.Errorf("%d bytes of the body were read, want none", body.pos)
	}
	if n := e.uploadsLeft(t); n != 1 {
		t.Errorf("%d uploads left, want the one refused", n)
	}

	// With Concurrency 3 they fit.
	roomy := newStore(t, e, func(c *Config) { c.MinPartSize = smallParts; c.Concurrency = 3 })
	if _, err := roomy.PutResumable(t.Context(), bytes.NewReader(data), "holes", store.ResumeOptions{Resume: &ref}); err != nil {
		t.Fatalf("continuing with 3 holes and Concurrency 3: %v", err)
	}
	if peak := roomy.bufs.peak.Load(); peak > 4 {
		t.Errorf("the continuation held %d part buffers at once, want at most Concurrency + 1 = 4", peak)
	}
}

// TestResumableStoreFailures: a part the service keeps failing leaves a
// new resumable upload (the failure is transient), which a later call
// completes; a failure retrying cannot fix aborts it, as Put does.
func TestResumableStoreFailures(t *testing.T) {
	e := newEmu(t, glacieremu.Config{MinPartSize: smallParts})
	s := newStore(t, e, func(c *Config) { c.MinPartSize = smallParts; c.MaxAttempts = 2 })
	data := randomBytes(6*smallParts, 34)
	if err := e.srv.SetFault(glacieremu.OpUploadMultipartPart, glacieremu.Fault{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	var ref store.UploadRef
	var skipped int64
	opt := started(&ref, &skipped)
	_, err := s.PutResumable(t.Context(), bytes.NewReader(data), "service down", opt)
	if err == nil || store.IsPermanent(err) {
		t.Fatalf("PutResumable while parts fail: %v, want a transient error", err)
	}
	if n := e.uploadsLeft(t); n != 1 {
		t.Fatalf("%d uploads left after a transient failure, want the one to continue", n)
	}
	e.srv.ClearFault(glacieremu.OpUploadMultipartPart)
	opt.Resume = &ref
	if _, err := s.PutResumable(t.Context(), bytes.NewReader(data), "service down", opt); err != nil {
		t.Fatalf("continuing once the service is back: %v", err)
	}

	// The part limit is permanent: the new upload is aborted.
	s.maxParts = 3
	_, err = s.PutResumable(t.Context(), bytes.NewReader(data), "too many parts", store.ResumeOptions{})
	if err == nil || !store.IsPermanent(err) {
		t.Fatalf("PutResumable beyond the part limit: %v, want a permanent error", err)
	}
	if n := e.uploadsLeft(t); n != 0 {
		t.Errorf("%d uploads left after a permanent failure, want it aborted", n)
	}
	if out := s.bufs.out.Load(); out != 0 {
		t.Errorf("%d buffers not returned to the pool", out)
	}
}

// TestResumeListsPartsPaginated continues an upload holding more parts
// than one ListParts page of 1,000.
func TestResumeListsPartsPaginated(t *testing.T) {
	e := newEmu(t, glacieremu.Config{MinPartSize: smallParts})
	s := newStore(t, e, func(c *Config) { c.MinPartSize = smallParts })
	data := randomBytes(1210*smallParts+7, 35)
	held := make([]int, 1200)
	for i := range held {
		held[i] = i
	}
	ref := craft(t, e, "many parts", data, held...)
	e.srv.ResetStats()
	var skipped int64
	a, err := s.PutResumable(t.Context(), bytes.NewReader(data), "many parts", store.ResumeOptions{Resume: &ref, Skipped: func(n int64) { skipped += n }})
	if err != nil {
		t.Fatalf("continuing: %v", err)
	}
	st := e.srv.Stats()
	if n := st[glacieremu.OpListParts].Requests; n != 2 {
		t.Errorf("%d ListParts requests, want the 2 pages of 1,200 parts", n)
	}
	if n := st[glacieremu.OpUploadMultipartPart].Requests; n != 11 || skipped != 1200*smallParts {
		t.Errorf("%d parts sent and %d bytes skipped, want 11 and %d", n, skipped, 1200*smallParts)
	}
	if a.TreeHash != treehash.Sum(data).String() {
		t.Errorf("tree hash %s, want %s", a.TreeHash, treehash.Sum(data))
	}
}

// TestResumeRefusesOtherUploads: a ref whose part size is not the
// upload's, and a body for another description, are ErrCannotResume; an
// unknown upload also wraps ErrNotFound.
func TestResumeRefusesOtherUploads(t *testing.T) {
	e := newEmu(t, glacieremu.Config{MinPartSize: smallParts})
	s := newStore(t, e, func(c *Config) { c.MinPartSize = smallParts })
	data := randomBytes(3*smallParts, 36)
	ref := craft(t, e, "mine", data, 0)
	for _, c := range []struct {
		name string
		ref  store.UploadRef
		desc string
	}{
		{"another part size", store.UploadRef{ID: ref.ID, PartSize: 2 * smallParts}, "mine"},
		{"another description", ref, "yours"},
		{"an unknown upload", store.UploadRef{ID: "nOsUcHuPlOaD", PartSize: smallParts}, "mine"},
		{"no upload id", store.UploadRef{PartSize: smallParts}, "mine"},
	} {
		_, err := s.PutResumable(context.Background(), bytes.NewReader(data), c.desc, store.ResumeOptions{Resume: &c.ref})
		if !errors.Is(err, store.ErrCannotResume) || !store.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent ErrCannotResume", c.name, err)
		}
		if wantNotFound := c.ref.ID != ref.ID; errors.Is(err, store.ErrNotFound) != wantNotFound {
			t.Errorf("%s: %v wraps ErrNotFound: %v, want %v", c.name, err, !wantNotFound, wantNotFound)
		}
	}
	if n := e.uploadsLeft(t); n != 1 {
		t.Errorf("%d uploads left, want the one refused", n)
	}
}
