package retry_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/store/retry"
)

// flakyResumer is a local store whose PutResumable always fails
// transiently, and counts its calls.
type flakyResumer struct {
	*local.Store
	calls int
}

func (f *flakyResumer) PutResumable(context.Context, io.Reader, string, store.ResumeOptions) (store.Archive, error) {
	f.calls++
	return store.Archive{}, errFlaky
}

// notResumer hides the local store's PutResumable.
type notResumer struct{ store.Store }

func TestResumerOnlyWhenWrappedHasIt(t *testing.T) {
	f := newFake(t)
	if _, ok := retry.New(notResumer{f.Store}, (&quick{}).policy(3)).(store.Resumer); ok {
		t.Error("the wrapper of a store without PutResumable claims store.Resumer")
	}
	rs, ok := retry.New(f.Store, (&quick{}).policy(3)).(store.Resumer)
	if !ok {
		t.Fatal("the wrapper of a store.Resumer is none")
	}
	a, err := rs.PutResumable(t.Context(), strings.NewReader("resumable"), "d", store.ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readArchive(t, f, a.ID); got != "resumable" {
		t.Errorf("archive holds %q", got)
	}
}

func TestPutResumableNotRetried(t *testing.T) {
	f := &flakyResumer{Store: newFake(t).Store}
	q := &quick{}
	rs := retry.New(f, q.policy(5)).(store.Resumer)
	_, err := rs.PutResumable(t.Context(), strings.NewReader("x"), "d", store.ResumeOptions{})
	if !errors.Is(err, errFlaky) || f.calls != 1 || len(q.notified) != 0 {
		t.Errorf("PutResumable failing transiently: %v after %d calls, notified %v; want the error after one call", err, f.calls, q.notified)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = rs.PutResumable(ctx, strings.NewReader("x"), "d", store.ResumeOptions{})
	if !errors.Is(err, context.Canceled) || f.calls != 1 || !strings.Contains(err.Error(), f.Location()) {
		t.Errorf("PutResumable with a cancelled context: %v after %d calls; want context.Canceled naming the store, and no call", err, f.calls)
	}
}
