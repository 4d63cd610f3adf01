package retry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/retry"
)

// fakeLocker is a fake store that keeps locks in memory; its lock calls
// fail with failRetention and failExtend until those run out.
type fakeLocker struct {
	*fake
	locks                      map[string]store.Lock
	failRetention, failExtend  []error
	retentionCalls, extendCall int
}

func (f *fakeLocker) LockPolicy() store.LockPolicy {
	return store.LockPolicy{Mode: store.LockCompliance, Days: 7}
}

func (f *fakeLocker) Retention(_ context.Context, id string) (store.Lock, error) {
	f.retentionCalls++
	if len(f.failRetention) > 0 {
		err := f.failRetention[0]
		f.failRetention = f.failRetention[1:]
		return store.Lock{}, err
	}
	return f.locks[id], nil
}

func (f *fakeLocker) ExtendRetention(_ context.Context, id string, until time.Time) (store.Lock, error) {
	f.extendCall++
	if len(f.failExtend) > 0 {
		err := f.failExtend[0]
		f.failExtend = f.failExtend[1:]
		return store.Lock{}, err
	}
	if l := f.locks[id]; l.Until.Before(until) {
		f.locks[id] = store.Lock{Mode: store.LockCompliance, Until: until}
	}
	return f.locks[id], nil
}

// lockerOnly hides the local store's PutResumable.
type lockerOnly struct {
	store.Store
	store.Locker
}

func TestLockerForwarded(t *testing.T) {
	f := &fakeLocker{fake: newFake(t), locks: map[string]store.Lock{}}
	q := &quick{}
	w := retry.New(f, q.policy(5))
	lk, ok := w.(store.Locker)
	if !ok {
		t.Fatal("the wrapper of a store.Locker is none")
	}
	if _, ok := w.(store.Resumer); !ok {
		t.Error("the wrapper of a Resumer and Locker lost store.Resumer")
	}
	if got := lk.LockPolicy(); got.Mode != store.LockCompliance || got.Days != 7 {
		t.Errorf("LockPolicy = %+v", got)
	}
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	f.failExtend = []error{errFlaky, errFlaky}
	got, err := lk.ExtendRetention(t.Context(), "a", until)
	if err != nil || !got.Until.Equal(until) || f.extendCall != 3 {
		t.Errorf("ExtendRetention after two transient failures: %s, %v after %d calls; want the lock after 3", got, err, f.extendCall)
	}
	f.failRetention = []error{errFlaky}
	if got, err := lk.Retention(t.Context(), "a"); err != nil || !got.Until.Equal(until) || f.retentionCalls != 2 {
		t.Errorf("Retention after a transient failure: %s, %v after %d calls", got, err, f.retentionCalls)
	}

	f.extendCall = 0
	denied := store.Permanent(fmt.Errorf("no s3:PutObjectRetention: %w", store.ErrAccessDenied))
	f.failExtend = []error{denied, errFlaky}
	if _, err := lk.ExtendRetention(t.Context(), "a", until.AddDate(0, 1, 0)); !errors.Is(err, store.ErrAccessDenied) || f.extendCall != 1 {
		t.Errorf("ExtendRetention refused: %v after %d calls, want ErrAccessDenied after 1", err, f.extendCall)
	}

	only := retry.New(lockerOnly{Store: f.fake.Store, Locker: f}, q.policy(3))
	if _, ok := only.(store.Locker); !ok {
		t.Error("the wrapper of a Locker that is no Resumer is no Locker")
	}
	if _, ok := only.(store.Resumer); ok {
		t.Error("the wrapper of a store without PutResumable claims store.Resumer")
	}
	if _, ok := retry.New(f.fake.Store, q.policy(3)).(store.Locker); ok {
		t.Error("the wrapper of a local store claims store.Locker")
	}
}

// TestLockedDeleteNotRetried checks that a delete refused by a lock or by
// append-only credentials is tried once.
func TestLockedDeleteNotRetried(t *testing.T) {
	for _, sentinel := range []error{store.ErrLocked, store.ErrAccessDenied} {
		f := newFake(t)
		f.delete = func(int) error { return fmt.Errorf("refused: %w", sentinel) }
		err := retry.New(f, (&quick{}).policy(5)).Delete(t.Context(), "x")
		if !errors.Is(err, sentinel) || f.calls["delete"] != 1 || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%v: Delete = %v after %d calls, want it after 1", sentinel, err, f.calls["delete"])
		}
	}
}
