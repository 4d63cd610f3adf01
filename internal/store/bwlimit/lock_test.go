package bwlimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/bwlimit"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/store/retry"
	"github.com/grsync/grsync/internal/store/storelog"
)

// lockingLocal is a local store that keeps Object Lock retentions in
// memory, standing in for the S3 store.
type lockingLocal struct {
	*local.Store
	until map[string]time.Time
}

func (l *lockingLocal) LockPolicy() store.LockPolicy {
	return store.LockPolicy{Mode: store.LockCompliance, Days: 210}
}

func (l *lockingLocal) Retention(_ context.Context, id string) (store.Lock, error) {
	return store.Lock{Mode: store.LockCompliance, Until: l.until[id]}, nil
}

func (l *lockingLocal) ExtendRetention(_ context.Context, id string, until time.Time) (store.Lock, error) {
	if until.After(l.until[id]) {
		l.until[id] = until
	}
	return store.Lock{Mode: store.LockCompliance, Until: l.until[id]}, nil
}

// TestStackForwardsLocker checks that the wrappers grsync stacks (retry
// over bwlimit over storelog, as cmd/grsync's wrapStore does) offer
// store.Locker exactly when the store below does, keep store.Resumer, and
// reach the store's lock calls (storelog logging them).
func TestStackForwardsLocker(t *testing.T) {
	l, err := local.New(t.TempDir(), local.Options{PartSize: partSize})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	stack := func(s store.Store) store.Store {
		return retry.New(bwlimit.New(storelog.New(s, log), bwlimit.NewLimiter(1<<30)), retry.Policy{})
	}

	if _, ok := stack(l).(store.Locker); ok {
		t.Error("the stack over a local store claims store.Locker")
	}
	inner := &lockingLocal{Store: l, until: map[string]time.Time{}}
	s := stack(inner)
	lk, ok := s.(store.Locker)
	if !ok {
		t.Fatal("the stack over a store.Locker is none")
	}
	if _, ok := s.(store.Resumer); !ok {
		t.Error("the stack over a Resumer and Locker lost store.Resumer")
	}
	if p := lk.LockPolicy(); p.Mode != store.LockCompliance || p.Days != 210 {
		t.Errorf("LockPolicy through the stack = %+v", p)
	}
	until := time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)
	if got, err := lk.ExtendRetention(t.Context(), "a", until); err != nil || !got.Until.Equal(until) || !inner.until["a"].Equal(until) {
		t.Errorf("ExtendRetention through the stack = %s, %v; the store holds %v", got, err, inner.until["a"])
	}
	if got, err := lk.Retention(t.Context(), "a"); err != nil || !got.Until.Equal(until) {
		t.Errorf("Retention through the stack = %s, %v", got, err)
	}
	if !strings.Contains(logged.String(), "op=\"extend retention\"") || !strings.Contains(logged.String(), "op=retention") {
		t.Errorf("storelog did not log the lock calls:\n%s", logged.String())
	}
}
