package engine

import (
	"context"
	"errors"

	"github.com/grsync/grsync/internal/store"
)

// TEMPORARY until the store refs API (branch marker) is on main.

var errRefsUnsupported = errors.New("this store cannot keep refs")

type refStore interface {
	Refs(ctx context.Context) (map[string]string, error)
	SetRef(ctx context.Context, name, value string) error
	DeleteRef(ctx context.Context, name string) error
}

type shimRefs struct{ s store.Store }

func refsOf(s store.Store) shimRefs { return shimRefs{s} }

func (r shimRefs) Refs(ctx context.Context) (map[string]string, error) {
	if rs, ok := r.s.(refStore); ok {
		return rs.Refs(ctx)
	}
	return nil, errRefsUnsupported
}
func (r shimRefs) SetRef(ctx context.Context, n, v string) error {
	if rs, ok := r.s.(refStore); ok {
		return rs.SetRef(ctx, n, v)
	}
	return errRefsUnsupported
}
func (r shimRefs) DeleteRef(ctx context.Context, n string) error {
	if rs, ok := r.s.(refStore); ok {
		return rs.DeleteRef(ctx, n)
	}
	return errRefsUnsupported
}
