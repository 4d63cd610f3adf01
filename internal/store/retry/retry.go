// Package retry wraps a store.Store so that transient failures are retried
// with exponential backoff and full jitter.
//
// Every call checks its context first and never retries an error for which
// store.IsPermanent reports true. Put is retried only when its body can
// seek (it is rewound to where it started before each attempt) and never
// when the body itself failed to read. PutResumable, offered when the
// wrapped store is a store.Resumer, is never retried: the caller continues
// a failed upload with a later call. ReadRange reopens the range, and a
// stream that fails midway resumes after the bytes already delivered.
// Inventory is retried only until the callback has seen an archive. Refs,
// SetRef (which writes the same value again) and DeleteRef are retried.
// Retention and ExtendRetention, offered when the wrapped store is a
// store.Locker, are retried (extending again to the same date is
// harmless). When Delete, AbortUpload or DeleteRef get "not found" on a later
// attempt, the error says that an earlier attempt whose answer was lost
// may have done the work; callers that only want the archive gone may
// treat it as success. ErrLocked and ErrAccessDenied are permanent, so a
// delete an Object Lock or an append-only policy refuses is tried once.
package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Policy bounds retries. Zero fields take the values of DefaultPolicy.
type Policy struct {
	// MaxAttempts is the most attempts per call, the first included.
	MaxAttempts int
	// Initial is the backoff cap before the second attempt; it doubles for
	// each later attempt, up to Max. The actual pause is drawn uniformly
	// from [0, cap] ("full jitter").
	Initial, Max time.Duration
	// MaxElapsed stops retrying once this much time has passed since the
	// first attempt, or would have passed after the next pause.
	MaxElapsed time.Duration
	// Sleep pauses for d or until ctx is done; nil means a real timer.
	// Tests inject a fast or recording one.
	Sleep func(ctx context.Context, d time.Duration) error
	// Notify, if set, is told about each failed attempt that will be
	// retried, before the pause.
	Notify func(op string, attempt int, err error)
}

// DefaultPolicy suits a remote cold store: up to 8 attempts, pauses from
// 0.5 s growing to at most a minute, giving up after 15 minutes.
func DefaultPolicy() Policy {
	return Policy{MaxAttempts: 8, Initial: 500 * time.Millisecond, Max: time.Minute, MaxElapsed: 15 * time.Minute}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.Initial <= 0 {
		p.Initial = d.Initial
	}
	if p.Max <= 0 {
		p.Max = max(d.Max, p.Initial)
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the pause before attempt+1, drawn from [0, cap].
func (p Policy) backoff(attempt int) time.Duration {
	ceiling := p.Initial
	for i := 1; i < attempt && ceiling < p.Max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.Max)
	return rand.N(ceiling + 1)
}

// run calls fn until it succeeds, fails permanently, or the policy gives
// up. fn gets the attempt number, from 1. stop, if set, reports an error
// that must not be retried although it is not permanent.
func (p Policy) run(ctx context.Context, loc, op string, fn func(attempt int) error, stop func(error) bool) error {
	start := time.Now()
	var last error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			if last != nil {
				return fmt.Errorf("%s: %s: %w after %d attempts (last error: %v)", loc, op, err, attempt-1, last)
			}
			return fmt.Errorf("%s: %s: %w", loc, op, err)
		}
		err := fn(attempt)
		if err == nil || store.IsPermanent(err) || (stop != nil && stop(err)) {
			return err
		}
		last = err
		pause := p.backoff(attempt)
		elapsed := time.Since(start)
		if attempt >= p.MaxAttempts || elapsed+pause > p.MaxElapsed {
			return fmt.Errorf("%sgave up after %d attempts over %v: %w", prefix(loc, op, err), attempt, elapsed.Round(time.Millisecond), err)
		}
		if p.Notify != nil {
			p.Notify(op, attempt, err)
		}
		if err := p.Sleep(ctx, pause); err != nil {
			return fmt.Errorf("%s: %s: %w after %d attempts (last error: %v)", loc, op, err, attempt, last)
		}
	}
}

// prefix names the store and operation for a message about err, unless
// err already begins with the store's name.
func prefix(loc, op string, err error) string {
	if strings.HasPrefix(err.Error(), loc+":") {
		return ""
	}
	return loc + ": " + op + ": "
}
