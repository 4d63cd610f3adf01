package faulty_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/faulty"
	"github.com/grsync/grsync/internal/store/local"
)

// memLocker is a local store that also keeps Object Lock retentions, in
// memory, as a store.Locker would.
type memLocker struct {
	*local.Store
	mu    sync.Mutex
	locks map[string]store.Lock
}

func (m *memLocker) LockPolicy() store.LockPolicy {
	return store.LockPolicy{Mode: store.LockGovernance, Days: 30}
}

func (m *memLocker) Retention(_ context.Context, id string) (store.Lock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.locks[id], nil
}

func (m *memLocker) ExtendRetention(_ context.Context, id string, until time.Time) (store.Lock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks == nil {
		m.locks = map[string]store.Lock{}
	}
	if l := m.locks[id]; l.Until.Before(until) {
		m.locks[id] = store.Lock{Mode: store.LockGovernance, Until: until}
	}
	return m.locks[id], nil
}

// TestAppendOnly checks that SetAppendOnly refuses deletes the way AWS
// refuses credentials under an append-only policy (a permanent
// ErrAccessDenied, the archive left alone), while uploads and lock
// extensions go on, and that turning it off deletes again.
func TestAppendOnly(t *testing.T) {
	ctx := t.Context()
	m := &memLocker{Store: newLocal(t)}
	f := faulty.New(m, faulty.Config{})
	a, err := f.Put(ctx, strings.NewReader("nightly"), "d")
	if err != nil {
		t.Fatal(err)
	}
	f.SetAppendOnly(true)
	err = f.Delete(ctx, a.ID)
	if !errors.Is(err, store.ErrAccessDenied) || !store.IsPermanent(err) || !strings.Contains(err.Error(), a.ID) {
		t.Errorf("Delete while append-only: %v, want a permanent ErrAccessDenied naming the archive", err)
	}
	if _, err := m.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID}); err != nil {
		t.Errorf("the archive is gone after a refused delete: %v", err)
	}
	if _, err := f.Put(ctx, strings.NewReader("more"), "d2"); err != nil {
		t.Errorf("Put while append-only: %v", err)
	}
	until := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	if l, err := f.ExtendRetention(ctx, a.ID, until); err != nil || !l.Until.Equal(until) {
		t.Errorf("ExtendRetention while append-only: %s, %v", l, err)
	}
	if st := f.Stats()[faulty.OpDelete]; st.Denied != 1 || st.Calls != 1 {
		t.Errorf("delete stats %+v, want 1 call, 1 denied", st)
	}
	f.SetAppendOnly(false)
	if err := f.Delete(ctx, a.ID); err != nil {
		t.Errorf("Delete after append-only was turned off: %v", err)
	}
}

// TestLockOfStoreWithoutLocks checks that a wrapped store that cannot
// lock reports no lock policy, and that its lock calls fail permanently
// with errors.ErrUnsupported.
func TestLockOfStoreWithoutLocks(t *testing.T) {
	f := faulty.New(newLocal(t), faulty.Config{})
	if p := f.LockPolicy(); p != (store.LockPolicy{}) {
		t.Errorf("LockPolicy of a local store = %+v, want none", p)
	}
	_, err := f.ExtendRetention(t.Context(), "x", time.Now())
	if !errors.Is(err, errors.ErrUnsupported) || !store.IsPermanent(err) {
		t.Errorf("ExtendRetention of a local store: %v, want a permanent ErrUnsupported", err)
	}
	if _, err := f.Retention(t.Context(), "x"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Retention of a local store: %v, want ErrUnsupported", err)
	}
}
