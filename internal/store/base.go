package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// BeginRef is Begin for the ref methods: it also refuses an invalid ref
// name, or, when value is given (SetRef), an invalid value (CheckRef).
func (b *Base) BeginRef(ctx context.Context, name string, value *string) error {
	if err := b.Begin(ctx); err != nil {
		return err
	}
	return CheckRef(name, value)
}

// RoomForRef returns TooManyRefs when a store that holds count refs, ref
// name among them or not (has), may not set ref name; else nil.
func RoomForRef(count int, has bool, name string) error {
	if !has && count >= MaxRefs {
		return TooManyRefs(name)
	}
	return nil
}

// BeginPut is Begin for a Put of an archive with description: it also
// refuses a description that ValidDescription rejects, with bad marked
// permanent.
func (b *Base) BeginPut(ctx context.Context, description string, bad error) error {
	if err := b.Begin(ctx); err != nil {
		return err
	}
	if !ValidDescription(description) {
		return Permanent(bad)
	}
	return nil
}

// PutResumableWith is the frame of a store's PutResumable: begin checks
// that the upload may start, then start makes a new upload, or resume
// continues opt.Resume; errors name the store and the operation ("put",
// or "continue upload").
func (b *Base) PutResumableWith(opt ResumeOptions, begin func() error, start func() (Archive, error), resume func(UploadRef) (Archive, error)) (Archive, error) {
	op := "put"
	if opt.Resume != nil {
		op = "continue upload"
	}
	if err := begin(); err != nil {
		return Archive{}, b.Fail(op, err)
	}
	var a Archive
	var err error
	if opt.Resume != nil {
		a, err = resume(*opt.Resume)
	} else {
		a, err = start()
	}
	if err != nil {
		return Archive{}, b.Fail(op, err)
	}
	return a, nil
}

// BodyError marks an error that reading the caller's body returned, as
// against one of the store's own, so that a resumable upload that failed
// because of it is left for a later run (see KeepUpload). It reads as the
// error it wraps.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// KeepUpload reports whether a resumable multipart upload that failed with
// err is left in the store, as Resumer requires: when ctx ended, the body
// failed (BodyError), the upload cannot be continued (ErrCannotResume: the
// caller decides), or the failure is transient. Permanent failures (a
// refused part, a rejected completion) abort the upload, as Put does.
func KeepUpload(ctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil, errors.Is(err, ErrCannotResume), errors.As(err, new(*BodyError)):
		return true
	}
	return !IsPermanent(err)
}

// CannotResume returns an error that wraps ErrCannotResume with why, and
// is permanent: the same call cannot succeed later.
func CannotResume(format string, args ...any) error {
	return Permanent(fmt.Errorf("%w: "+format, append([]any{ErrCannotResume}, args...)...))
}

// HeldParts steers a continued multipart upload (see Resumer) while its
// body is read again part by part, in order: it compares the parts the
// store already holds, and keeps back the parts it does not hold until no
// held part above them is left uncompared, so that no bytes below a held
// part that differs are ever sent. H is what the store reports of a held
// part; P is a part read from the body. A nil *HeldParts is a new upload:
// every part is sent at once.
type HeldParts[H, P any] struct {
	held    map[int]H // held parts not compared yet, by index from 0
	waiting []P       // parts read while a held part above them is uncompared
}

// NewHeldParts returns the state of a continued upload whose store holds
// the parts in held, by index from 0. The parts missing below the highest
// held one must all wait in memory until it is compared: more than limit
// of them is ErrCannotResume.
func NewHeldParts[H, P any](held map[int]H, limit int) (*HeldParts[H, P], error) {
	last := -1
	for i := range held {
		last = max(last, i)
	}
	if missing := last + 1 - len(held); missing > limit {
		return nil, CannotResume("%d parts are missing below part %d, which the store holds; at most %d may wait in memory", missing, last+1, limit)
	}
	return &HeldParts[H, P]{held: maps.Clone(held)}, nil
}

// Next takes part index (from 0), read from the body as p. If the store
// holds the part, Next calls check with what the store reports, which
// compares it with p; Next then reports held, and fails with
// ErrCannotResume if check failed. Otherwise Next returns the parts to
// send now: none while a held part above index is uncompared (p waits),
// else p. When the last held part compares equal, the parts that waited
// come back to be sent.
func (h *HeldParts[H, P]) Next(index int, p P, check func(H) error) (send []P, held bool, err error) {
	if h == nil {
		return []P{p}, false, nil
	}
	if hp, ok := h.held[index]; ok {
		if err := check(hp); err != nil {
			return nil, true, CannotResume("part %d: %w", index+1, err)
		}
		delete(h.held, index)
		if len(h.held) == 0 {
			send, h.waiting = h.waiting, nil
		}
		return send, true, nil
	}
	if len(h.held) > 0 {
		h.waiting = append(h.waiting, p)
		return nil, false, nil
	}
	return []P{p}, false, nil
}

// End is called once the body is read (parts is how many parts it gave)
// or reading stopped. It returns the parts still waiting, for the caller
// to release, and ErrCannotResume if the body gave no part or ended before
// a part the store holds.
func (h *HeldParts[H, P]) End(parts int) (waiting []P, err error) {
	if h == nil {
		return nil, nil
	}
	waiting, h.waiting = h.waiting, nil
	switch {
	case len(h.held) > 0:
		first := -1
		for i := range h.held {
			if first < 0 || i < first {
				first = i
			}
		}
		return waiting, CannotResume("the body ended after %d parts, but the store holds part %d", parts, first+1)
	case parts == 0:
		return waiting, CannotResume("the body is empty")
	}
	return waiting, nil
}
