// Package storetest is the conformance suite every store.Store passes: the
// local directory store, the Glacier vault store, the S3 store, and stacks
// of wrappers around them. A store's test hooks in with a few lines:
//
//	func TestSuite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newEmptyStore(t) })
//	}
//
// newStore must return a new, empty store for every call; the suite closes
// it. Subtests run in parallel. Retrievals that are not ready at once are
// polled every Options.PollInterval until Options.PollTimeout.
//
// Beyond the interface's documented error rules, the suite holds stores to
// these contracts:
//   - A range outside the archive (negative offset, offset beyond the end,
//     offset+length beyond the end) is a permanent error; a zero-length range
//     inside it reads nothing without error.
//   - A Put whose body fails returns an error that wraps the body's error;
//     a Put whose context is cancelled returns one that wraps
//     context.Canceled. Neither leaves an archive or an upload behind.
//   - An invalid description is a permanent error from Put.
//   - A retrieval naming an unknown archive (and, for stores that use jobs,
//     an unknown job) yields store.ErrNotFound from Poll and ReadRange.
//   - Errors name the store: they contain its Location.
//   - A fresh inventory lists exactly the archives that were put and not
//     deleted, with the Put's size and description.
//   - A retrieval asking for a byte range returns either that range (and
//     refuses reads outside it with a permanent error) or the whole
//     archive; a range with an unaligned start, a negative length, or on
//     an inventory is a permanent error (store.CheckRange).
//
// Stores that implement store.Resumer are held to its contract, and to
// these further rules (the tests skip, saying so, for other stores):
//   - An upload that failed because its body failed or its context was
//     cancelled is listed by ListUploads, with its description and the part
//     size Started reported; the parts stored before the failure are not
//     sent again when it is continued.
//   - Continuing an upload with another part size, another description, a
//     body that differs in a held part or ends before one, or an upload
//     that is gone, is store.ErrCannotResume (wrapping store.ErrNotFound
//     when the upload is gone), and leaves the upload as it was: it can
//     still be continued with the right body.
//   - A Started that fails aborts the upload: nothing is left.
//
// Refs: every store keeps them, up to store.MaxRefs; SetRef replaces a
// value; DeleteRef of an unknown ref is store.ErrNotFound; invalid names
// and values, and a ref beyond the limit, are permanent errors that change
// nothing; refs never appear in an inventory or among uploads.
package storetest

import (
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Options tunes the suite for one kind of store.
type Options struct {
	// PollTimeout bounds the wait for one retrieval to become ready
	// (default 10s).
	PollTimeout time.Duration
	// PollInterval is the pause between polls (default 5ms).
	PollInterval time.Duration
	// LeaveUpload leaves an unfinished upload with the given description in
	// s, as a crash in the middle of a Put would, and returns its id. The
	// upload test needs it; when it is nil that test is skipped, saying so.
	LeaveUpload func(t *testing.T, s store.Store, description string) string
	// PartSize is the part size of the store's multipart uploads when no
	// size hint is given: the resumable-upload tests make bodies of about
	// six parts (small parts keep them fast). 0 means 1 MiB.
	PartSize int64
}

func (o Options) withDefaults() Options {
	if o.PollTimeout <= 0 {
		o.PollTimeout = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Millisecond
	}
	if o.PartSize <= 0 {
		o.PartSize = 1 << 20
	}
	return o
}

// Run runs the conformance suite with default Options.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	RunWithOptions(t, Options{}, newStore)
}

// RunWithOptions runs the conformance suite: one parallel subtest per
// behaviour, each on a fresh store from newStore.
func RunWithOptions(t *testing.T, opt Options, newStore func(t *testing.T) store.Store) {
	opt = opt.withDefaults()
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Location", testLocation},
		{"PutReadRanges", testPutReadRanges},
		{"OutOfRange", testOutOfRange},
		{"RangedRetrieval", testRangedRetrieval},
		{"EmptyArchive", testEmptyArchive},
		{"Descriptions", testDescriptions},
		{"UnknownID", testUnknownID},
		{"Inventory", testInventory},
		{"ConcurrentPut", testConcurrentPut},
		{"PutBodyError", testPutBodyError},
		{"PutCancelled", testPutCancelled},
		{"Uploads", testUploads},
		{"ResumeAfterBodyError", testResumeAfterBodyError},
		{"ResumeChangedPart", testResumeChangedPart},
		{"ResumeRefusedLeavesUpload", testResumeRefusedLeavesUpload},
		{"ResumeUnknownUpload", testResumeUnknownUpload},
		{"ResumableSmallBody", testResumableSmallBody},
		{"ResumableStartedFails", testResumableStartedFails},
		{"ResumeAfterCancel", testResumeAfterCancel},
		{"Refs", testRefs},
		{"RefsInvalid", testRefsInvalid},
		{"RefsLimit", testRefsLimit},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			h := &harness{s: s, opt: opt}
			if tc.name != "Close" {
				t.Cleanup(func() {
					if err := s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			tc.fn(t, h)
		})
	}
}
