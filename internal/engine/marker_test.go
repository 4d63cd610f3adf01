package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/local"
)

// localProbe is what cmd/grsync tells CheckStore about a local store.
var localProbe = StoreProbe{ListsAtOnce: true, ReadsAtOnce: true}

func newKey(t *testing.T) *keys.Key {
	t.Helper()
	k, err := keys.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// check reads st's marker and runs CheckStore.
func check(t *testing.T, st store.Store, cat *catalog.Catalog, tg catalog.Target, use StoreUse) (StoreCheck, error) {
	t.Helper()
	m, err := ReadMarker(t.Context(), st)
	if err != nil {
		return StoreCheck{}, err
	}
	return CheckStore(t.Context(), st, cat, tg, m, use)
}

// wantRefused checks that err is a configuration error (exit 2) saying
// want, and that the store's marker is still before.
func wantRefused(t *testing.T, what string, err error, want string, st store.Store, before StoreMarker) {
	t.Helper()
	var ce *store.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || ce.Hint == "" {
		t.Errorf("%s: %v, want a configuration error with a hint saying %q", what, err, want)
	}
	if m, _ := ReadMarker(t.Context(), st); m != before {
		t.Errorf("%s: the marker changed from %+v to %+v", what, before, m)
	}
}

// syncFile backs up one small file with cfg (no marker check: as an older
// grsync did).
func syncFile(t *testing.T, cfg *Config, dir, name string) {
	t.Helper()
	src := filepath.Join(dir, "src-"+name)
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, name), []byte("content of "+name), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Sync(t.Context(), cfg, SyncOptions{Sources: []string{src}})
	if err != nil || res.Uploaded != 1 {
		t.Fatalf("sync: %+v, %v", res, err)
	}
}

func TestMarkerOfANewStore(t *testing.T) {
	st, err := local.New(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := newKey(t), newKey(t)
	upload := StoreUse{Key: a, Upload: true, Encrypt: true, Look: true, Probe: localProbe}
	res, err := check(t, st, nil, catalog.Target{}, upload)
	if err != nil || res.Wrote == "" || !res.Marker.Present || !res.Marker.Proves(a.MarkerProof(res.Marker.ID)) {
		t.Fatalf("first upload to an empty store: %+v, %v; want a marker of key a written", res, err)
	}
	m := res.Marker
	refs, _ := st.Refs(t.Context())
	if refs[MarkerRef] != m.String() || !strings.HasPrefix(refs[MarkerRef], "grsync-store 1 id=") {
		t.Errorf("the marker ref is %q, want %q", refs[MarkerRef], m.String())
	}
	// The same key again: accepted, nothing rewritten.
	if res, err := check(t, st, nil, catalog.Target{}, upload); err != nil || res.Wrote != "" || res.Marker != m {
		t.Errorf("second upload with the same key: %+v, %v", res, err)
	}
	for _, c := range []struct {
		what string
		use  StoreUse
		want string
	}{
		{"upload with another key", StoreUse{Key: b, Upload: true, Encrypt: true, Look: true, Probe: localProbe}, "this store's backups use another key"},
		{"upload without a key", StoreUse{Upload: true, Look: true, Probe: localProbe}, "encrypted and no key was given (its marker carries a key proof)"},
		{"upload with --encrypt false", StoreUse{Key: a, Upload: true, Look: true, Probe: localProbe}, "refusing to add unencrypted archives"},
		{"restore with another key", StoreUse{Key: b, NeedKey: true, Look: true, Probe: localProbe}, "this store's backups use another key"},
		{"restore without a key", StoreUse{NeedKey: true, Look: true, Probe: localProbe}, "no key was given"},
		{"ls with another key", StoreUse{Key: b}, "this store's backups use another key"},
	} {
		_, err := check(t, st, nil, catalog.Target{}, c.use)
		wantRefused(t, c.what, err, c.want, st, m)
	}
	// Commands that need no key accept none.
	if _, err := check(t, st, nil, catalog.Target{}, StoreUse{Look: true, Probe: localProbe}); err != nil {
		t.Errorf("verify without a key: %v", err)
	}
}

func TestMarkerOfAnUnencryptedStore(t *testing.T) {
	cfg, dir := setup(t, 0)
	st := cfg.Store
	k := cfg.Key
	plain := StoreUse{Upload: true, Look: true, Probe: localProbe}
	res, err := check(t, st, nil, catalog.Target{}, plain)
	if err != nil || res.Wrote == "" || res.Marker.Encrypted() {
		t.Fatalf("unencrypted upload to an empty store: %+v, %v; want a key=none marker", res, err)
	}
	m := res.Marker
	// While it holds nothing it may still become an encrypted store, with
	// the same id.
	res, err = check(t, st, nil, catalog.Target{}, StoreUse{Key: k, Upload: true, Encrypt: true, Look: true, Probe: localProbe})
	if err != nil || res.Marker.ID != m.ID || !res.Marker.Proves(k.MarkerProof(m.ID)) {
		t.Fatalf("encrypted upload to an empty key=none store: %+v, %v; want it re-marked with the key, same id", res, err)
	}
	// Once it holds an unencrypted archive, a key is refused.
	if err := st.SetRef(t.Context(), MarkerRef, m.String()); err != nil {
		t.Fatal(err)
	}
	cfg.Key, cfg.Encrypt = nil, false
	syncFile(t, cfg, dir, "a")
	_, err = check(t, st, nil, catalog.Target{}, StoreUse{Key: k, Upload: true, Encrypt: true, Look: true, Probe: localProbe})
	wantRefused(t, "encrypted upload to an unencrypted store", err, "this store's backups are not encrypted", st, m)
	// Restoring from it with a key at hand is fine.
	if _, err := check(t, st, nil, catalog.Target{}, StoreUse{Key: k, NeedKey: true, Look: true, Probe: localProbe}); err != nil {
		t.Errorf("restore with a key from an unencrypted store: %v", err)
	}
}

// putV1 stores an archive as a grsync before packs did (one file per
// archive, a grsync1: description), encrypted when key is given.
func putV1(t *testing.T, st store.Store, key *keys.Key) {
	t.Helper()
	m := format.Meta{Path: "/old/file", Size: 1, ModTime: time.Unix(1700000000, 0), Mode: 0o644,
		Encoding: "grsync1+zstd", Created: time.Unix(1700000001, 0)}
	var mk *format.MetaKey
	if key != nil {
		k := format.MetaKey(key.MetadataKey())
		mk, m.Encoding = &k, "grsync1+zstd+age"
	}
	descs, err := format.EncodeDescriptions(m, mk, rand.Reader)
	if err != nil || len(descs) != 1 {
		t.Fatalf("descriptions: %v, %v", descs, err)
	}
	if _, err := st.Put(t.Context(), bytes.NewReader([]byte("x")), descs[0]); err != nil {
		t.Fatal(err)
	}
}

// TestMarkerOfAnOlderGrsyncStore: what an older grsync stored (no marker)
// proves its key: v1 archives by their encrypted metadata, v2 objects
// (packs) by their encrypted descriptions.
func TestMarkerOfAnOlderGrsyncStore(t *testing.T) {
	for _, c := range []struct {
		name, what string
		fill       func(t *testing.T, cfg *Config, dir string)
	}{
		{"v1 archives", "metadata", func(t *testing.T, cfg *Config, _ string) { putV1(t, cfg.Store, cfg.Key) }},
		{"v2 objects", "description", func(t *testing.T, cfg *Config, dir string) { syncFile(t, cfg, dir, "a") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, dir := setup(t, 0)
			c.fill(t, cfg, dir)
			st, a, b := cfg.Store, cfg.Key, newKey(t)
			none := StoreMarker{Supported: true}
			for _, r := range []struct {
				what string
				use  StoreUse
				want string
			}{
				{"upload with another key", StoreUse{Key: b, Upload: true, Encrypt: true, Look: true, Probe: localProbe}, c.what + " does not open with this key"},
				{"upload without a key", StoreUse{Upload: true, Look: true, Probe: localProbe}, c.what + " is encrypted)"},
				{"restore with another key", StoreUse{Key: b, NeedKey: true, Look: true, Probe: localProbe}, "this store's backups use another key"},
			} {
				_, err := check(t, st, nil, catalog.Target{}, r.use)
				wantRefused(t, r.what, err, r.want, st, none)
			}
			// Read-only commands never write a marker, even with the right key.
			if res, err := check(t, st, nil, catalog.Target{}, StoreUse{Key: a, NeedKey: true, Look: true, Probe: localProbe}); err != nil || res.Marker.Present || !res.Unproved {
				t.Errorf("restore with the right key: %+v, %v; want no marker written", res, err)
			}
			res, err := check(t, st, nil, catalog.Target{}, StoreUse{Key: a, Upload: true, Encrypt: true, Look: true, Probe: localProbe})
			if err != nil || !strings.Contains(res.Wrote, c.what+" opens with this key") || !res.Marker.Proves(a.MarkerProof(res.Marker.ID)) {
				t.Errorf("upload with the right key: %+v, %v; want a marker, proved by the %s", res, err, c.what)
			}
		})
	}
}

func TestMarkerOfAnOlderUnencryptedStore(t *testing.T) {
	for _, c := range []struct {
		name string
		fill func(t *testing.T, cfg *Config, dir string)
	}{
		{"v1 archives", func(t *testing.T, cfg *Config, _ string) { putV1(t, cfg.Store, nil) }},
		{"v2 objects", func(t *testing.T, cfg *Config, dir string) { syncFile(t, cfg, dir, "a") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, dir := setup(t, 0)
			k := cfg.Key
			cfg.Key, cfg.Encrypt = nil, false
			c.fill(t, cfg, dir)
			st := cfg.Store
			_, err := check(t, st, nil, catalog.Target{}, StoreUse{Key: k, Upload: true, Encrypt: true, Look: true, Probe: localProbe})
			wantRefused(t, "encrypted upload", err, "was stored without encryption", st, StoreMarker{Supported: true})
			res, err := check(t, st, nil, catalog.Target{}, StoreUse{Upload: true, Look: true, Probe: localProbe})
			if err != nil || !res.Marker.Present || res.Marker.Encrypted() {
				t.Errorf("unencrypted upload: %+v, %v; want a key=none marker, every archive being unencrypted", res, err)
			}
		})
	}
}

// seedLegacy puts the Python tool's fixture archives into st under their
// ids and descriptions.
func seedLegacy(t *testing.T, st *local.Store) {
	t.Helper()
	const dir = "../../testdata/legacy-python"
	var inv struct {
		ArchiveList []struct{ ArchiveId, ArchiveDescription string }
	}
	b, err := os.ReadFile(filepath.Join(dir, "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	for _, a := range inv.ArchiveList {
		data, err := os.ReadFile(filepath.Join(dir, "archives", a.ArchiveId))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Seed(a.ArchiveId, a.ArchiveDescription, time.Now(), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMarkerOfAPythonStore: the Python tool's descriptions say nothing of
// the key, but its encrypted archives, read at once from a local store,
// authenticate only with it.
func TestMarkerOfAPythonStore(t *testing.T) {
	st, err := local.New(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seedLegacy(t, st)
	text, err := os.ReadFile("../../testdata/legacy-python/legacy.key")
	if err != nil {
		t.Fatal(err)
	}
	right, err := keys.Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	none := StoreMarker{Supported: true}
	_, err = check(t, st, nil, catalog.Target{}, StoreUse{Key: newKey(t), Upload: true, Encrypt: true, Look: true, Probe: localProbe})
	wantRefused(t, "another key", err, "encrypted by the Python tool, does not open with this key", st, none)
	_, err = check(t, st, nil, catalog.Target{}, StoreUse{Upload: true, Look: true, Probe: localProbe})
	wantRefused(t, "no key", err, "was encrypted by the Python tool)", st, none)
	// Without reading archives (a vault) nothing is proved and nothing refused.
	if res, err := check(t, st, nil, catalog.Target{}, StoreUse{Key: newKey(t), Upload: true, Encrypt: true, Look: true, Probe: StoreProbe{ListsAtOnce: true}}); err != nil || !res.Unproved || res.Marker.Present {
		t.Errorf("without reads: %+v, %v; want no marker, no refusal", res, err)
	}
	res, err := check(t, st, nil, catalog.Target{}, StoreUse{Key: &right, Upload: true, Encrypt: true, Look: true, Probe: localProbe})
	if err != nil || !strings.Contains(res.Wrote, "encrypted by the Python tool, opens with this key") || !res.Marker.Proves(right.MarkerProof(res.Marker.ID)) {
		t.Errorf("the right key: %+v, %v; want a marker proved by a Python archive", res, err)
	}
}

// TestMarkerFromTheCatalogue: a store that cannot list at once (a vault)
// is proved by the catalogue's encrypted archives recorded with the key's
// fingerprint, and is empty when the service counts nothing.
func TestMarkerFromTheCatalogue(t *testing.T) {
	cfg, dir := setup(t, 0)
	st, k := cfg.Store, cfg.Key
	vaultLike := StoreProbe{Empty: func(context.Context) (bool, error) { return false, nil }}
	use := StoreUse{Key: k, Upload: true, Encrypt: true, Look: true, Probe: vaultLike}
	syncFile(t, cfg, dir, "a")
	if res, err := check(t, st, cfg.Catalog, cfg.Target, use); err != nil || !res.Unproved {
		t.Errorf("catalogue without the key's fingerprint: %+v, %v; want unproved", res, err)
	}
	if err := cfg.Catalog.SetKey(cfg.Target.ID, k.Fingerprint(), true); err != nil {
		t.Fatal(err)
	}
	tg, _, _ := cfg.Catalog.Target(cfg.Target.Location)
	_, err := check(t, st, cfg.Catalog, tg, StoreUse{Upload: true, Look: true, Probe: vaultLike})
	wantRefused(t, "no key", err, "the catalogue records 1 encrypted archive", st, StoreMarker{Supported: true})
	res, err := check(t, st, cfg.Catalog, tg, use)
	if err != nil || !strings.Contains(res.Wrote, "recorded with this key") {
		t.Errorf("catalogue with the key's fingerprint: %+v, %v; want a marker", res, err)
	}

	// A vault the service counts empty, and the catalogue knows nothing of.
	st2, err := local.New(filepath.Join(dir, "second"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	emptyVault := StoreProbe{Empty: func(context.Context) (bool, error) { return true, nil }}
	if res, err := check(t, st2, nil, catalog.Target{}, StoreUse{Key: k, Upload: true, Encrypt: true, Look: true, Probe: emptyVault}); err != nil || res.Wrote != "the store held no archive" {
		t.Errorf("an empty vault: %+v, %v", res, err)
	}
}

// noRefs is a store on a service without vault tags.
type noRefs struct{ store.Store }

func (noRefs) Refs(context.Context) (map[string]string, error) {
	return nil, store.ErrRefsUnsupported
}

func TestMarkerUnsupportedAndDamaged(t *testing.T) {
	cfg, _ := setup(t, 0)
	m, err := ReadMarker(t.Context(), noRefs{cfg.Store})
	if err != nil || m.Supported {
		t.Fatalf("ReadMarker without refs: %+v, %v", m, err)
	}
	res, err := CheckStore(t.Context(), noRefs{cfg.Store}, nil, catalog.Target{}, m, StoreUse{Key: cfg.Key, Upload: true, Encrypt: true, Look: true, Probe: localProbe})
	if err != nil || !res.Unproved || res.Wrote != "" {
		t.Errorf("CheckStore without refs: %+v, %v; want unproved, nothing written", res, err)
	}
	for value, want := range map[string]string{
		"grsync-store 1 id=zz key=none": "damaged store marker",
		"grsync-store 2 id=x key=y":     "upgrade grsync",
	} {
		if err := cfg.Store.SetRef(t.Context(), MarkerRef, value); err != nil {
			t.Fatal(err)
		}
		_, err := ReadMarker(t.Context(), cfg.Store)
		var ce *store.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error()+ce.Hint, want) {
			t.Errorf("marker %q: %v, want a configuration error saying %q", value, err, want)
		}
	}
	if _, err := format.ParseStoreMarker("grsync-store 1 id=zz key=none"); err == nil {
		t.Error("a damaged marker parsed")
	}
}
