package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Base is what every store does alike, for embedding: it knows the store's
// location, refuses work after Close, and names the store and the
// operation in errors (as the error rules require).
type Base struct {
	loc    string
	closed atomic.Bool
}

// NewBase returns a Base for the store at location.
func NewBase(location string) Base { return Base{loc: location} }

// Location returns the store's location.
func (b *Base) Location() string { return b.loc }

// Close marks the store closed; later operations fail.
func (b *Base) Close() error {
	b.closed.Store(true)
	return nil
}

// Begin reports whether an operation may start: not after Close, not with
// a cancelled context.
func (b *Base) Begin(ctx context.Context) error {
	if b.closed.Load() {
		return Permanent(errors.New("store is closed"))
	}
	return ctx.Err()
}

// Fail names the store and the operation in err.
func (b *Base) Fail(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", b.loc, op, err)
}
