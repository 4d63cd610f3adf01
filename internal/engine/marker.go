package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store"
)

// MarkerRef is the name of the ref that holds a store's marker
// (docs/FORMAT.md section 10).
const MarkerRef = "marker"

// StoreMarker is what a store's refs say about who owns it.
type StoreMarker struct {
	// Supported is false for a store that cannot keep refs (a Glacier
	// vault on a service without vault tags): it has no marker, and can
	// get none.
	Supported bool
	// Present: the store has a marker, StoreMarker.
	Present bool
	format.StoreMarker
}

// ReadMarker reads a store's marker. A damaged marker, or one written by a
// newer grsync, is a *store.ConfigError: it is never taken for "no
// marker".
func ReadMarker(ctx context.Context, st store.Store) (StoreMarker, error) {
	refs, err := st.Refs(ctx)
	switch {
	case errors.Is(err, store.ErrRefsUnsupported):
		return StoreMarker{}, nil
	case err != nil:
		return StoreMarker{}, fmt.Errorf("reading the store's marker: %w", err)
	}
	v, ok := refs[MarkerRef]
	if !ok {
		return StoreMarker{Supported: true}, nil
	}
	m, err := format.ParseStoreMarker(v)
	switch {
	case errors.Is(err, format.ErrUnsupportedVersion):
		return StoreMarker{}, &store.ConfigError{
			Err:  fmt.Errorf("%s: %w", st.Location(), err),
			Hint: "upgrade grsync: a newer version wrote this store's marker",
		}
	case err != nil:
		return StoreMarker{}, &store.ConfigError{
			Err: fmt.Errorf("%s: %w", st.Location(), err),
			Hint: "something other than grsync changed the store's marker (docs/FORMAT.md section 10.1 says where it is): " +
				"put the original back, or remove it and grsync writes a new one once it can prove the key",
		}
	}
	return StoreMarker{Supported: true, Present: true, StoreMarker: m}, nil
}

// StoreProbe says what CheckStore may ask of a store without a marker, at
// no retrieval cost.
type StoreProbe struct {
	// ListsAtOnce: an inventory is ready at once and costs next to
	// nothing (the local store; S3 lists its objects).
	ListsAtOnce bool
	// ReadsAtOnce: archives are read at once and free (the local store),
	// so a Python tool's encrypted archive may be read to prove a key.
	ReadsAtOnce bool
	// Empty, for a store that cannot list at once, reports whether the
	// service counts no archive in it (a vault: DescribeVault, whose count
	// lags by up to a day). nil: unknown.
	Empty func(ctx context.Context) (bool, error)
}

// StoreUse is what a command is about to do with a store.
type StoreUse struct {
	Key *keys.Key
	// Upload: the command uploads archives (sync), encrypted when Encrypt.
	// Only then is a missing marker written.
	Upload, Encrypt bool
	// NeedKey: the command reads encrypted data (restore, inventory
	// --rebuild), so an encrypted store without a key is refused.
	NeedKey bool
	// Look: without a marker, look at the archives (or, for a store that
	// cannot list at once, the catalogue's records of them) for evidence
	// of their key. Commands that read only the catalogue leave it out.
	Look  bool
	Probe StoreProbe
}

// StoreCheck is the outcome of CheckStore.
type StoreCheck struct {
	// Marker is the store's marker after the check: as found, or as
	// written.
	Marker StoreMarker
	// Wrote says why a marker was written ("" when none was): what proved
	// the key, or that the store was empty.
	Wrote string
	// Unproved: the store has no marker and none could be written, so the
	// catalogue's key check alone applies (Why says why).
	Unproved bool
	Why      string
}

// CheckStore checks that use fits the store, given its marker m (from
// ReadMarker), before anything is uploaded or read: the key must be the
// one the marker names, an encrypted store is not given unencrypted
// archives nor the reverse. Without a marker it looks for evidence (see
// docs/DESIGN.md, "The store marker"), refuses what the evidence
// contradicts, and, for an upload, writes a marker when the store is empty
// or the evidence proves the key. Refusals are *store.ConfigError. cat
// and t may be the zero values when there is no catalogue.
func CheckStore(ctx context.Context, st store.Store, cat *catalog.Catalog, t catalog.Target, m StoreMarker, use StoreUse) (StoreCheck, error) {
	loc := st.Location()
	res := StoreCheck{Marker: m}
	if use.Upload && use.Encrypt && use.Key == nil {
		return res, errors.New("encryption is on but no key was given")
	}
	if !m.Supported {
		res.Unproved, res.Why = true, "the store cannot keep a marker"
		return res, nil
	}
	if m.Present {
		return checkMarked(ctx, st, res, use)
	}
	if !use.Look {
		res.Unproved, res.Why = true, "the store has no marker yet"
		return res, nil
	}
	ev, err := survey(ctx, st, cat, t, use.Key, use.Probe)
	if err != nil {
		return res, err
	}
	switch {
	case use.Key != nil && ev.proof == "" && ev.otherKey != "":
		return res, wrongKey(loc, ev.otherKey)
	case use.Key == nil && ev.encrypted != "" && (use.NeedKey || use.Upload):
		return res, needKey(loc, ev.encrypted)
	case !use.Upload:
		res.Unproved, res.Why = true, "the store has no marker yet"
		return res, nil
	}
	if use.Encrypt {
		switch {
		case ev.empty:
			return writeMarker(ctx, st, res, use.Key, "the store held no archive")
		case ev.proof != "":
			return writeMarker(ctx, st, res, use.Key, ev.proof)
		case ev.plain != "" && ev.encrypted == "":
			return res, encryptedIntoPlain(loc, ev.plain)
		}
	} else {
		switch {
		case ev.encrypted != "":
			return res, plainIntoEncrypted(loc, use.Key != nil, ev.encrypted)
		case ev.empty:
			return writeMarker(ctx, st, res, nil, "the store held no archive")
		case ev.allPlain():
			return writeMarker(ctx, st, res, nil, ev.plain)
		}
	}
	res.Unproved, res.Why = true, ev.unproved()
	return res, nil
}

// checkMarked checks use against a marker the store has.
func checkMarked(ctx context.Context, st store.Store, res StoreCheck, use StoreUse) (StoreCheck, error) {
	loc, m := st.Location(), res.Marker
	if m.Encrypted() {
		switch {
		case use.Key != nil && !m.Proves(use.Key.MarkerProof(m.ID)):
			return res, wrongKey(loc, "its marker's key proof does not match this key")
		case use.Key == nil && (use.NeedKey || use.Upload):
			return res, needKey(loc, "its marker carries a key proof")
		case use.Upload && !use.Encrypt:
			return res, plainIntoEncrypted(loc, true, "its marker carries a key proof")
		}
		return res, nil
	}
	if use.Upload && use.Encrypt {
		// An unencrypted store that holds nothing yet may become an
		// encrypted one, keeping its id.
		ev, err := survey(ctx, st, nil, catalog.Target{}, nil, use.Probe)
		if err != nil {
			return res, err
		}
		if !ev.empty {
			return res, encryptedIntoPlain(loc, "its marker says key=none, and it holds archives")
		}
		return writeMarker(ctx, st, res, use.Key, "the unencrypted store held no archive")
	}
	return res, nil
}

// writeMarker writes the marker of key (nil: key=none), keeping the id of
// the marker res has, if any, and records why.
func writeMarker(ctx context.Context, st store.Store, res StoreCheck, key *keys.Key, why string) (StoreCheck, error) {
	id := res.Marker.ID
	if id == "" {
		id = format.NewStoreID()
	}
	m := format.StoreMarker{ID: id}
	if key != nil {
		m.Proof = key.MarkerProof(id)
	}
	if err := st.SetRef(ctx, MarkerRef, m.String()); err != nil {
		return res, fmt.Errorf("writing the store's marker: %w", err)
	}
	res.Marker = StoreMarker{Supported: true, Present: true, StoreMarker: m}
	res.Wrote = why
	return res, nil
}

// The refusals, as configuration errors: nothing was uploaded or recorded.

func wrongKey(loc, why string) error {
	return &store.ConfigError{
		Err:  fmt.Errorf("%s: this store's backups use another key: %s", loc, why),
		Hint: "use the key file of this store's earlier backups; grsync never mixes keys in one store, which would leave part of the backup unreadable",
	}
}

func needKey(loc, evidence string) error {
	return &store.ConfigError{
		Err:  fmt.Errorf("%s: this store's backups are encrypted and no key was given (%s)", loc, evidence),
		Hint: "give the key with --encryption-key-file FILE (or $GRSYNC_ENCRYPTION_KEY)",
	}
}

func plainIntoEncrypted(loc string, haveKey bool, evidence string) error {
	hint := "give the key of this store's backups with --encryption-key-file FILE"
	if haveKey {
		hint = "drop --encrypt false"
	}
	return &store.ConfigError{
		Err: fmt.Errorf("%s: this store's backups are encrypted (%s); refusing to add unencrypted archives, which would show file names and contents to the storage provider",
			loc, evidence),
		Hint: hint,
	}
}

func encryptedIntoPlain(loc, evidence string) error {
	return &store.ConfigError{
		Err:  fmt.Errorf("%s: this store's backups are not encrypted (%s); refusing to add encrypted archives to it", loc, evidence),
		Hint: "back up to it without a key (--encrypt false), or use a new, empty store for encrypted backups",
	}
}
