package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/legacy"
	"github.com/grsync/grsync/internal/store"
)

// Bounds of the look at a store without a marker (see survey).
const (
	surveyLimit       = 1000     // archives looked at in a listing
	surveyLegacyReads = 3        // Python-tool archives read, at most
	surveyLegacyMax   = 64 << 20 // the largest one read, in bytes
)

// evidence is what a store's archives, or the catalogue's records of them,
// say about the key they were made with. Each string says what showed it,
// for messages; "" means nothing did.
type evidence struct {
	empty     bool   // the store holds no archive
	complete  bool   // every archive in the store was looked at
	other     bool   // some archives tell nothing about their encryption
	proof     string // something that opens with the key
	otherKey  string // something encrypted that does not open with the key
	encrypted string // something encrypted (also set with proof and otherKey)
	plain     string // an unencrypted grsync archive
}

// allPlain: every archive in the store is a grsync archive without
// encryption.
func (ev evidence) allPlain() bool {
	return ev.complete && ev.plain != "" && ev.encrypted == "" && !ev.other
}

// unproved says why a store without a marker gets none.
func (ev evidence) unproved() string {
	if ev.encrypted != "" {
		return "none of the archives looked at proves which key made them"
	}
	return "its archives do not show how they were encrypted"
}

// survey looks for evidence of the key a store's archives were made with.
// A store that lists at once is asked: the descriptions of up to
// surveyLimit archives (grsync's encrypted metadata, and the encrypted
// descriptions of its version 2 objects, open only with its key), and, where archives are read at once, up to surveyLegacyReads of
// the Python tool's encrypted archives (a Fernet token authenticates only
// with its key). Otherwise the store's own count says whether it is empty,
// and the catalogue's records stand in for the archives: its encrypted
// grsync archives prove the key when the target recorded this key's
// fingerprint.
func survey(ctx context.Context, st store.Store, cat *catalog.Catalog, t catalog.Target, key *keys.Key, probe StoreProbe) (evidence, error) {
	if probe.ListsAtOnce {
		ev, ok, err := surveyListing(ctx, st, key, probe.ReadsAtOnce)
		if err != nil || ok {
			return ev, err
		}
	}
	var ev evidence
	if probe.Empty != nil {
		empty, err := probe.Empty(ctx)
		if err != nil {
			return ev, fmt.Errorf("asking whether the store is empty: %w", err)
		}
		ev.empty = empty
	}
	if cat == nil || t.ID == 0 {
		return ev, nil
	}
	counts, err := cat.EncodingCounts(t.ID)
	if err != nil {
		return ev, err
	}
	for enc, n := range counts {
		ev.empty = false
		switch {
		case strings.HasPrefix(enc, "grsync") && strings.HasSuffix(enc, "+age"):
			ev.encrypted = "the catalogue records " + archives(n, "encrypted archive")
			if key != nil && t.KeyFingerprint == key.Fingerprint() {
				ev.proof = "the catalogue's " + archives(n, "encrypted archive") + ", recorded with this key"
			}
		case strings.HasPrefix(enc, "grsync"):
			ev.plain = "the catalogue records " + archives(n, "unencrypted archive")
		case enc == legacy.CompressionEncrypted || enc == legacy.CompressionEncryptedZstd:
			ev.encrypted = "the catalogue records " + archives(n, "archive") + " the Python tool encrypted"
		default:
			ev.other = true
		}
	}
	return ev, nil
}

// errSurveyDone stops a listing once enough was seen.
var errSurveyDone = errors.New("survey done")

// surveyListing lists the store at once; ok is false when its inventory
// turns out not to be ready at once.
func surveyListing(ctx context.Context, st store.Store, key *keys.Key, reads bool) (ev evidence, ok bool, err error) {
	r, err := st.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	if err != nil {
		return ev, false, fmt.Errorf("listing the store's archives: %w", err)
	}
	if !r.Ready || r.JobID != "" {
		return ev, false, nil
	}
	var mk *format.MetaKey
	if key != nil {
		k := format.MetaKey(key.MetadataKey())
		mk = &k
	}
	var legacyArchives []store.Archive
	seen := 0
	ev.complete = true
	_, err = st.Inventory(ctx, r, func(a store.Archive) error {
		seen++
		if seen > surveyLimit {
			ev.complete = false
			return errSurveyDone
		}
		if ev.look(a, mk) {
			legacyArchives = append(legacyArchives, a)
		}
		if ev.proof != "" {
			ev.complete = false
			return errSurveyDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSurveyDone) {
		return ev, false, fmt.Errorf("listing the store's archives: %w", err)
	}
	ev.empty = seen == 0
	if reads && ev.proof == "" && len(legacyArchives) > 0 {
		if err := ev.readLegacy(ctx, st, key, legacyArchives); err != nil {
			return ev, false, err
		}
	}
	return ev, true, nil
}

// look notes what archive a's description says; it reports whether a is
// an archive of the Python tools (whose description says nothing of its
// encryption).
func (ev *evidence) look(a store.Archive, mk *format.MetaKey) (isLegacy bool) {
	if _, ok := format.IsObjectDescription(a.Description); ok {
		ev.lookObject(a, mk)
		return false
	}
	p, err := format.ParseDescription(a.Description)
	if err != nil {
		_, lerr := legacy.ParseDescription(a.Description)
		ev.other = true
		return lerr == nil
	}
	if format.IsContinuation(p) {
		return false // a piece of another archive's metadata
	}
	if p.Count != 1 {
		ev.other = true // metadata spread over several descriptions: not assembled here
		return false
	}
	if !p.Encrypted {
		m, err := format.DecodeMeta([]format.Piece{p}, nil)
		if err != nil || strings.HasSuffix(m.Encoding, "+age") {
			ev.other = true
		} else if ev.plain == "" {
			ev.plain = fmt.Sprintf("archive %s was stored without encryption", a.ID)
		}
		return false
	}
	if ev.encrypted == "" {
		ev.encrypted = fmt.Sprintf("archive %s's metadata is encrypted", a.ID)
	}
	if mk == nil {
		return false
	}
	_, err = format.DecodeMeta([]format.Piece{p}, mk)
	switch {
	case err == nil:
		ev.proof = fmt.Sprintf("archive %s's metadata opens with this key", a.ID)
	case errors.Is(err, format.ErrWrongKey):
		if ev.otherKey == "" {
			ev.otherKey = fmt.Sprintf("archive %s's metadata does not open with this key", a.ID)
		}
	default:
		ev.other = true
	}
	return false
}

// lookObject notes what a version 2 object's description (a pack, a
// catalogue snapshot, a records object) says: encrypted ones open only
// with their key.
func (ev *evidence) lookObject(a store.Archive, mk *format.MetaKey) {
	encrypted := strings.HasPrefix(a.Description, "grsync2:e:")
	if !encrypted {
		m, err := format.ParseObjectDescription(a.Description, nil)
		if err != nil || strings.HasSuffix(m.Encoding, "+age") {
			ev.other = true
		} else if ev.plain == "" {
			ev.plain = fmt.Sprintf("object %s was stored without encryption", a.ID)
		}
		return
	}
	if ev.encrypted == "" {
		ev.encrypted = fmt.Sprintf("object %s's description is encrypted", a.ID)
	}
	if mk == nil {
		return
	}
	_, err := format.ParseObjectDescription(a.Description, mk)
	switch {
	case err == nil:
		ev.proof = fmt.Sprintf("object %s's description opens with this key", a.ID)
	case errors.Is(err, format.ErrWrongKey):
		if ev.otherKey == "" {
			ev.otherKey = fmt.Sprintf("object %s's description does not open with this key", a.ID)
		}
	default:
		ev.other = true
	}
}

// readLegacy reads the smallest of the Python tool's archives (up to
// surveyLegacyReads of at most surveyLegacyMax bytes) until one is
// encrypted: without a key that is evidence enough; with one, its Fernet
// token either authenticates (proof) or not (another key).
func (ev *evidence) readLegacy(ctx context.Context, st store.Store, key *keys.Key, archives []store.Archive) error {
	sort.Slice(archives, func(i, j int) bool { return archives[i].Size < archives[j].Size })
	var fk *legacy.FernetKey
	if key != nil {
		k, err := legacy.FernetKeyFromRaw(key.Raw())
		if err != nil {
			return err
		}
		fk = &k
	}
	tried := 0
	for _, a := range archives {
		if tried == surveyLegacyReads || a.Size > surveyLegacyMax {
			break
		}
		if a.Size == 0 {
			continue
		}
		tried++
		r, err := st.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
		if err != nil || !r.Ready {
			return err // not at once after all: no more reads
		}
		open := func() (io.ReadCloser, error) { return st.ReadRange(ctx, r, 0, -1) }
		form, err := sniffLegacy(open)
		if err != nil {
			return fmt.Errorf("reading archive %s: %w", a.ID, err)
		}
		if form != legacy.CompressionEncrypted && form != legacy.CompressionEncryptedZstd {
			continue
		}
		if ev.encrypted == "" {
			ev.encrypted = fmt.Sprintf("archive %s was encrypted by the Python tool", a.ID)
		}
		if fk == nil {
			return nil
		}
		rc, err := legacy.Decode(form, open, fk)
		switch {
		case err == nil:
			rc.Close()
			ev.proof = fmt.Sprintf("archive %s, encrypted by the Python tool, opens with this key", a.ID)
			return nil
		case errors.Is(err, legacy.ErrInvalidToken):
			if ev.otherKey == "" {
				ev.otherKey = fmt.Sprintf("archive %s, encrypted by the Python tool, does not open with this key", a.ID)
			}
		default:
			return fmt.Errorf("reading archive %s: %w", a.ID, err)
		}
	}
	return nil
}

// archives says "1 NOUN" or "n NOUNs".
func archives(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
