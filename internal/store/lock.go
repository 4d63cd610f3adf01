package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Immutability (S3 Object Lock)
//
// A store that can keep archives immutable until a date implements Locker
// (the S3 store; a Glacier vault's equivalent, Vault Lock, is a policy on
// the whole vault that grsync prints but does not apply, and a local
// directory has none). A locked archive cannot be deleted, nor its lock
// shortened, by anyone holding the credentials grsync runs with: Delete
// reports ErrLocked before the date. Credentials that may not delete at
// all (an append-only policy) make Delete report ErrAccessDenied. Both are
// permanent; callers record what could not be deleted and go on.

var (
	// ErrLocked: the archive is under an Object Lock retention (or legal
	// hold) and cannot be deleted before its date.
	ErrLocked = errors.New("locked against deletion")
	// ErrAccessDenied: the credentials may not do this (an append-only
	// policy that grants no delete, say). Retrying cannot help; credentials
	// with more rights can.
	ErrAccessDenied = errors.New("access denied")
)

// LockMode is an S3 Object Lock retention mode.
type LockMode string

const (
	// LockGovernance: nobody can delete the archive or shorten its lock
	// unless they hold s3:BypassGovernanceRetention and ask to bypass;
	// grsync never does, and its policies never grant it.
	LockGovernance LockMode = "GOVERNANCE"
	// LockCompliance: nobody, not even the account's root user, can delete
	// the archive or shorten its lock before the date.
	LockCompliance LockMode = "COMPLIANCE"
)

// ParseLockMode reads "governance" or "compliance" in any case.
func ParseLockMode(s string) (LockMode, error) {
	switch m := LockMode(strings.ToUpper(strings.TrimSpace(s))); m {
	case LockGovernance, LockCompliance:
		return m, nil
	}
	return "", fmt.Errorf("unknown object lock mode %q: use governance or compliance", s)
}

// Lock is an archive's retention as its store reports it. The zero Lock is
// no retention.
type Lock struct {
	Mode      LockMode  // "" when the archive has no retention
	Until     time.Time // retain-until date; zero when none
	LegalHold bool      // a legal hold also blocks deletion, without a date
}

// Holds reports whether the lock forbids deleting the archive at now.
func (l Lock) Holds(now time.Time) bool {
	return l.LegalHold || (l.Mode != "" && l.Until.After(now))
}

// String describes the lock for messages: "COMPLIANCE until
// 2026-07-01T00:00:00Z", "legal hold", or "none".
func (l Lock) String() string {
	var parts []string
	if l.Mode != "" {
		parts = append(parts, fmt.Sprintf("%s until %s", l.Mode, l.Until.UTC().Format(time.RFC3339)))
	}
	if l.LegalHold {
		parts = append(parts, "legal hold")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// LockPolicy is the retention a store gives every archive it writes.
type LockPolicy struct {
	Mode LockMode // "" when archives are written without a lock
	Days int      // retention of a new archive, in days from its upload
}

// Locker is implemented by stores that can lock archives against deletion
// until a date (S3 Object Lock). Wrappers forward it. Archive.Lock of what
// Put and Inventory return says each archive's lock.
type Locker interface {
	// LockPolicy reports the lock new archives get; Mode "" when the store
	// writes no lock (then callers have nothing to extend).
	LockPolicy() LockPolicy

	// Retention returns archive id's current lock (the zero Lock when it
	// has none); an unknown id is ErrNotFound.
	Retention(ctx context.Context, id string) (Lock, error)

	// ExtendRetention makes archive id's lock last at least until until,
	// and returns the lock in effect afterwards. It never shortens a lock:
	// when the archive is already locked until until or later, nothing is
	// sent. The archive's own mode is kept; an archive without a lock gets
	// LockPolicy's mode. Credentials that may not set retention give
	// ErrAccessDenied. One request per archive that needs it (plus the
	// read of its current lock): callers batch and price them.
	ExtendRetention(ctx context.Context, id string, until time.Time) (Lock, error)
}

// WithLocker returns w, a wrapper of some store, extended with l's
// store.Locker methods, keeping w's store.Resumer if it has one; w itself
// when l is nil. Wrappers call it with the Locker of the store they wrap
// (or their own methods around it), so that they offer store.Locker
// exactly when the wrapped store does.
func WithLocker(w Store, l Locker) Store {
	if l == nil {
		return w
	}
	if rs, ok := w.(Resumer); ok {
		return &resumerLocker{Store: w, Resumer: rs, Locker: l}
	}
	return &locker{Store: w, Locker: l}
}

// locker is a Store with a Locker's methods; their method sets are
// disjoint, so embedding both is unambiguous.
type locker struct {
	Store
	Locker
}

// resumerLocker is a Store that is also a Resumer and a Locker.
type resumerLocker struct {
	Store
	Resumer
	Locker
}
