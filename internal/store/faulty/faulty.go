// Package faulty wraps a store.Store and injects faults: transient errors
// before a call, streams that break midway, added latency, scripted runs of
// failures and a store that is down. It is deterministic for a given seed
// and a given order of calls, and counts what it injected for reports.
//
// Injected errors wrap ErrInjected and are transient (store.IsPermanent
// reports false), like a dropped connection or a throttled request.
package faulty

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// ErrInjected is wrapped by every fault this package injects.
var ErrInjected = errors.New("injected fault")

// Op names a group of store operations that share a fault configuration.
type Op string

// The operations, as Config.Ops keys them.
const (
	OpPut       Op = "put"
	OpResume    Op = "put-resumable" // PutResumable, new uploads and continued ones
	OpRead      Op = "read"          // ReadRange
	OpRequest   Op = "request"
	OpPoll      Op = "poll"
	OpInventory Op = "inventory"
	OpDelete    Op = "delete"
	OpUploads   Op = "uploads" // ListUploads and AbortUpload
	OpLock      Op = "lock"    // Retention and ExtendRetention
	OpRefs      Op = "refs"    // Refs, SetRef and DeleteRef
)

// Ops returns every Op.
func Ops() []Op {
	return []Op{OpPut, OpResume, OpRead, OpRequest, OpPoll, OpInventory, OpDelete, OpUploads, OpLock, OpRefs}
}

// OpConfig sets the faults of one operation.
type OpConfig struct {
	// ErrorRate is the probability (0..1) that a call fails with a
	// transient error before it reaches the wrapped store.
	ErrorRate float64
	// FailMidStream is the probability (0..1) that a call's stream breaks:
	// for put and put-resumable, reading the body fails after a random
	// number of bytes; for read, the returned reader does. Other
	// operations ignore it.
	FailMidStream float64
	// MidStreamMax bounds that random number of bytes (exclusive);
	// 0 means 1 MiB. A stream shorter than the number does not break.
	MidStreamMax int64
	// Latency is added before every call.
	Latency time.Duration
}

// Every returns a configuration that applies c to every operation.
func Every(c OpConfig) map[Op]OpConfig {
	m := make(map[Op]OpConfig)
	for _, op := range Ops() {
		m[op] = c
	}
	return m
}

// Config configures the wrapper.
type Config struct {
	// Ops holds each operation's faults; missing operations get none.
	Ops map[Op]OpConfig
	// Rand drives every random choice; nil means a source seeded with 1.
	// The wrapper serialises its use.
	Rand *rand.Rand
}

// Stats counts one operation's calls and the faults injected into them.
type Stats struct {
	Calls     int // calls made through the wrapper
	Errors    int // calls failed before reaching the wrapped store
	MidStream int // streams that broke midway
	Denied    int // deletes refused by SetAppendOnly
}

// Store is the fault-injecting wrapper. It is safe for concurrent use.
//
// Store always has PutResumable and the store.Locker methods, since New
// returns the concrete type (its tests script the faults). When the
// wrapped store is not a store.Resumer, PutResumable fails at once with a
// permanent error wrapping errors.ErrUnsupported: callers then use Put.
// When it is not a store.Locker, LockPolicy reports no lock (so callers
// extend nothing) and Retention and ExtendRetention fail likewise.
type Store struct {
	s   store.Store
	cfg Config

	mu         sync.Mutex // guards everything below and cfg.Rand
	down       bool
	appendOnly bool
	failNext   map[Op]int
	hitNext    map[Op]int
	stats      map[Op]*Stats
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Resumer = (*Store)(nil)
	_ store.Locker  = (*Store)(nil)
)

// New wraps s with the faults of cfg.
func New(s store.Store, cfg Config) *Store {
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 1))
	}
	f := &Store{s: s, cfg: cfg, failNext: make(map[Op]int), hitNext: make(map[Op]int), stats: make(map[Op]*Stats)}
	for _, op := range Ops() {
		f.stats[op] = &Stats{}
	}
	return f
}

// FailNext makes the next n calls of op fail with an injected error,
// whatever the error rate.
func (f *Store) FailNext(op Op, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[op] += n
}

// BreakNext makes the streams of the next n calls of op (OpPut, OpResume
// or OpRead)
// that get past the error roll break after a random number of bytes below
// the op's MidStreamMax, whatever its FailMidStream.
func (f *Store) BreakNext(op Op, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hitNext[op] += n
}

// SetDown makes every call of every operation fail with an injected
// transient error while down is true, as an unreachable service would.
func (f *Store) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// SetAppendOnly makes Delete fail, while on, with a permanent error
// wrapping store.ErrAccessDenied, without reaching the wrapped store: what
// credentials under an append-only policy get from AWS (S3's AccessDenied,
// Glacier's AccessDeniedException). Other calls go on as before;
// ExtendRetention is allowed, as the append-only policy allows it.
func (f *Store) SetAppendOnly(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appendOnly = on
}

// denyDelete reports the refusal of an append-only Delete, or nil.
func (f *Store) denyDelete(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.appendOnly {
		return nil
	}
	f.stats[OpDelete].Denied++
	return store.Permanent(fmt.Errorf("%s: %s: archive %s: the credentials may not delete (append-only): %w", f.s.Location(), OpDelete, id, store.ErrAccessDenied))
}

// Stats returns a copy of the counters, by operation.
func (f *Store) Stats() map[Op]Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[Op]Stats, len(f.stats))
	for op, st := range f.stats {
		out[op] = *st
	}
	return out
}

// Location returns the wrapped store's location.
func (f *Store) Location() string { return f.s.Location() }

// Close closes the wrapped store; no fault is injected.
func (f *Store) Close() error { return f.s.Close() }

// decision is what the dice said about one call.
type decision struct {
	err     error
	breakAt int64 // break the stream after this many bytes; < 0 never
	latency time.Duration
}

// decide counts a call of op and rolls its faults.
func (f *Store) decide(op Op) decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cfg.Ops[op]
	st := f.stats[op]
	st.Calls++
	d := decision{breakAt: -1, latency: c.Latency}
	var why string
	switch {
	case f.down:
		why = "store is down"
	case f.failNext[op] > 0:
		f.failNext[op]--
		why = "scripted failure"
	case c.ErrorRate > 0 && f.cfg.Rand.Float64() < c.ErrorRate:
		why = "random failure"
	}
	if why != "" {
		st.Errors++
		d.err = fmt.Errorf("%s: %s: %w (%s, call %d)", f.s.Location(), op, ErrInjected, why, st.Calls)
		return d
	}
	scripted := f.hitNext[op] > 0
	if scripted {
		f.hitNext[op]--
	}
	if scripted || c.FailMidStream > 0 && f.cfg.Rand.Float64() < c.FailMidStream {
		limit := c.MidStreamMax
		if limit <= 0 {
			limit = 1 << 20
		}
		d.breakAt = f.cfg.Rand.Int64N(limit)
	}
	return d
}

// countBreak records a stream that broke.
func (f *Store) countBreak(op Op) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats[op].MidStream++
}

// enter applies the latency and returns the injected error, if any.
func (f *Store) enter(ctx context.Context, op Op) (decision, error) {
	d := f.decide(op)
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return d, fmt.Errorf("%s: %s: %w", f.s.Location(), op, ctx.Err())
		}
	}
	return d, d.err
}
