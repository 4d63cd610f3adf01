package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// Catalogue pointers (docs/FORMAT.md section 12.3): refs naming the newest
// snapshot and the version records stored after it (and, when they fit,
// the snapshot before it with the records between), so that a recovery
// finds them at once. A vault lists its archives only through an
// inventory job of hours, and S3 gives an object's description only by a
// request per object.

func pointersKey(targetID int64) string { return "pointers:" + strconv.FormatInt(targetID, 10) }

// wantedPointers returns the pointers the store should hold: chains of a
// snapshot and every records object recorded after it (before the next
// snapshot), newest first, as many whole chains as fit in the slots.
// A chain that does not fit is left out whole, so a snapshot with a
// pointer always has pointers to all the records a recovery from it needs.
func wantedPointers(cfg *Config) ([]format.Pointer, error) {
	snaps, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectSnapshot)
	if err != nil {
		return nil, err
	}
	recs, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectRecords)
	if err != nil {
		return nil, err
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].ID > snaps[j].ID })
	var out []format.Pointer
	upper := int64(1<<63 - 1)
	for _, s := range snaps[:min(2, len(snaps))] {
		chain := []catalog.Object{s}
		for _, r := range recs {
			if r.ID > s.ID && r.ID < upper {
				chain = append(chain, r)
			}
		}
		if len(out)+len(chain) > format.MaxPointers {
			break
		}
		for _, o := range chain {
			p, ok := pointerOf(o)
			if !ok {
				return nil, nil // an id a ref cannot carry: no pointers, recovery lists the store
			}
			out = append(out, p)
		}
		upper = s.ID
	}
	return out, nil
}

func pointerOf(o catalog.Object) (format.Pointer, bool) {
	id, err := hex.DecodeString(o.PackID)
	if err != nil || len(id) != len(format.PackID{}) || o.Uploaded.IsZero() {
		return format.Pointer{}, false
	}
	p := format.Pointer{Kind: string(o.Kind), Created: o.Uploaded, Size: o.Size, Archive: o.ArchiveID}
	copy(p.Pack[:], id)
	if _, err := p.Value(); err != nil {
		return format.Pointer{}, false
	}
	return p, true
}

// WritePointers makes the store's pointer slots hold what wantedPointers
// says. It asks the store nothing when they are what this catalogue wrote
// last. Slots are overwritten, never deleted (append-only credentials may
// not delete): a new pointer goes into a slot that holds nothing wanted,
// newest chain first, and slots left over are emptied. A store that cannot
// keep refs (moto's vaults) is left without pointers: a recovery then
// lists it.
func WritePointers(ctx context.Context, cfg *Config) error {
	want, err := wantedPointers(cfg)
	if err != nil {
		return err
	}
	var values []string
	wanted := map[string]bool{}
	for _, p := range want {
		v, _ := p.Value()
		values = append(values, v)
		wanted[v] = true
	}
	sorted := append([]string(nil), values...)
	sort.Strings(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	digest := hex.EncodeToString(sum[:])
	if old, ok, err := cfg.Catalog.Setting(pointersKey(cfg.Target.ID)); err != nil || (ok && old == digest) {
		return err
	}
	refs, err := cfg.Store.Refs(ctx)
	if errors.Is(err, store.ErrRefsUnsupported) {
		cfg.log().Debug("the store cannot keep refs; a recovery lists it instead", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the store's refs: %w", err)
	}
	have := map[string]bool{}
	var free []int // slots holding nothing wanted: used ones first, then new ones
	var unused []int
	for i := range format.MaxPointers {
		v, ok := refs[format.PointerSlot(i)]
		switch {
		case !ok:
			unused = append(unused, i)
		case wanted[v] && !have[v]:
			have[v] = true
		default:
			free = append(free, i)
		}
	}
	free = append(free, unused...)
	for _, v := range values {
		if have[v] {
			continue
		}
		i := free[0]
		free = free[1:]
		if err := cfg.Store.SetRef(ctx, format.PointerSlot(i), v); err != nil {
			return fmt.Errorf("writing a catalogue pointer: %w", err)
		}
	}
	for _, i := range free {
		if v, ok := refs[format.PointerSlot(i)]; ok && v != "" {
			if err := cfg.Store.SetRef(ctx, format.PointerSlot(i), ""); err != nil {
				return fmt.Errorf("emptying a stale catalogue pointer: %w", err)
			}
		}
	}
	return cfg.Catalog.SetSetting(pointersKey(cfg.Target.ID), digest)
}

// ReadPointers returns the store's catalogue pointers, oldest first, and
// the pointer refs that cannot be read. A store that cannot keep refs has
// none.
func ReadPointers(ctx context.Context, cfg *Config) ([]format.Pointer, []Failure, error) {
	refs, err := cfg.Store.Refs(ctx)
	if errors.Is(err, store.ErrRefsUnsupported) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the store's refs: %w", err)
	}
	var out []format.Pointer
	var problems []Failure
	for name, v := range refs {
		p, ok, err := format.ParsePointer(name, v)
		if errors.Is(err, format.ErrNotPointer) {
			continue
		}
		if err != nil {
			problems = append(problems, Failure{Path: "ref " + name, Err: err})
			continue
		}
		if ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Kind == format.ObjectRecords && out[j].Kind != format.ObjectRecords
	})
	return out, problems, nil
}
