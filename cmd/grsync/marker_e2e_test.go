package main

import (
	"database/sql"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/testutil/moto"
)

// archivesIn counts the objects (archives, packs, records) of a local store.
func archivesIn(t *testing.T, storeDir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(storeDir, "archives", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// markerOf returns a local store's marker ("" when it has none).
func markerOf(t *testing.T, storeDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(storeDir, "refs", "marker"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rowsIn counts the file versions a catalogue records (0 if it does not exist).
func rowsIn(t *testing.T, db string) int {
	t.Helper()
	if !fileExists(db) {
		return 0
	}
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var n int
	if err := sdb.QueryRow("SELECT count(*) FROM sync_history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// refused checks that r is exit 2 with want in its message, and that
// nothing was uploaded to storeDir (it holds n archives) or recorded in db.
func refused(t *testing.T, what string, r result, want, storeDir string, n int, db string) {
	t.Helper()
	if r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("%s: want exit 2 saying %q, got:\n%s", what, want, r)
	}
	if got := archivesIn(t, storeDir); got != n {
		t.Errorf("%s: the store holds %d objects, want %d: something was uploaded", what, got, n)
	}
	if got := rowsIn(t, db); got != 0 {
		t.Errorf("%s: the catalogue %s records %d file versions, want none", what, db, got)
	}
}

// markerSetup backs up a few files to a new local store, with key (no key:
// unencrypted), and returns the folder, the store and the catalogue.
func markerSetup(t *testing.T, key bool) (dir, storeDir, db, keyFile string) {
	t.Helper()
	dir = t.TempDir()
	for i, name := range []string{"a.txt", "sub/b.txt", "sub/c.bin"} {
		writeFile(t, filepath.Join(dir, "src", name), randomBytes(t, 100+i*1000), time.Unix(1700000000+int64(i), 0))
	}
	storeDir, db = filepath.Join(dir, "store"), filepath.Join(dir, "first.db")
	keyFile = newKey(t, dir)
	args := []string{"--local-store", storeDir, "--db", db, "src"}
	if key {
		args = append(args, "--encryption-key-file", keyFile)
	}
	mustRun(t, dir, 0, args...)
	if archivesIn(t, storeDir) == 0 || !strings.HasPrefix(markerOf(t, storeDir), "grsync-store 1 id=") {
		t.Fatalf("setup: %d archives, marker %q", archivesIn(t, storeDir), markerOf(t, storeDir))
	}
	return dir, storeDir, db, keyFile
}

// otherKey makes a second key file in dir.
func otherKey(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "other.key")
	mustRun(t, dir, 0, "keygen", p)
	return p
}

// A store encrypted with one key refuses another key, whatever catalogue
// is used: a fresh one knows nothing of the store.
func TestStoreRefusesAnotherKeyWithAFreshCatalogue(t *testing.T) {
	t.Parallel()
	dir, storeDir, _, _ := markerSetup(t, true)
	n := archivesIn(t, storeDir)
	other := otherKey(t, dir)
	writeFile(t, filepath.Join(dir, "src", "new.txt"), []byte("new"), time.Time{})
	fresh := filepath.Join(dir, "fresh.db")
	r := grsync(t, dir, nil, "--local-store", storeDir, "--db", fresh, "--encryption-key-file", other, "src")
	refused(t, "sync with another key", r, "this store's backups use another key", storeDir, n, fresh)

	// Restore, ls and verify with the other key are refused as early.
	for _, args := range [][]string{
		{"restore", "--output", "out"},
		{"verify"},
	} {
		r := grsync(t, dir, nil, append(args, "--local-store", storeDir, "--db", filepath.Join(dir, "first.db"), "--encryption-key-file", other)...)
		if r.code != 2 || !strings.Contains(r.stderr, "this store's backups use another key") {
			t.Errorf("%s with another key: want exit 2, got:\n%s", args[0], r)
		}
	}
	r = grsync(t, dir, nil, "ls", "--db", filepath.Join(dir, "first.db"), "--encryption-key-file", other)
	if r.code != 2 || !strings.Contains(r.stderr, "another key") {
		t.Errorf("ls with another key: want exit 2, got:\n%s", r)
	}
	if fileExists(filepath.Join(dir, "out")) {
		t.Error("a refused restore created its output folder")
	}
}

// No key, or --encrypt false, into an encrypted store is refused, whatever
// catalogue is used.
func TestStoreRefusesNoKeyWhenEncrypted(t *testing.T) {
	t.Parallel()
	dir, storeDir, _, key := markerSetup(t, true)
	n := archivesIn(t, storeDir)
	writeFile(t, filepath.Join(dir, "src", "new.txt"), []byte("new"), time.Time{})
	fresh := filepath.Join(dir, "fresh.db")
	r := grsync(t, dir, nil, "--local-store", storeDir, "--db", fresh, "src")
	refused(t, "sync without a key", r, "this store's backups are encrypted and no key was given", storeDir, n, fresh)
	fresh2 := filepath.Join(dir, "fresh2.db")
	r = grsync(t, dir, nil, "--local-store", storeDir, "--db", fresh2, "--encryption-key-file", key, "--encrypt", "false", "src")
	refused(t, "sync with --encrypt false", r, "refusing to add unencrypted archives", storeDir, n, fresh2)
}

// A store of unencrypted backups refuses a key.
func TestStoreRefusesAKeyWhenUnencrypted(t *testing.T) {
	t.Parallel()
	dir, storeDir, _, key := markerSetup(t, false)
	n := archivesIn(t, storeDir)
	if m := markerOf(t, storeDir); !strings.HasSuffix(m, " key=none") {
		t.Fatalf("an unencrypted store's marker is %q, want key=none", m)
	}
	writeFile(t, filepath.Join(dir, "src", "new.txt"), []byte("new"), time.Time{})
	fresh := filepath.Join(dir, "fresh.db")
	r := grsync(t, dir, nil, "--local-store", storeDir, "--db", fresh, "--encryption-key-file", key, "src")
	refused(t, "sync with a key", r, "this store's backups are not encrypted", storeDir, n, fresh)
}

// The Python tool's store (no marker) keeps working, and gets a marker
// only from a run that proves its key.
func TestLegacyStoreGetsAMarkerOnlyAfterProof(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storeDir, db, key := legacySetup(t, dir)
	other := otherKey(t, dir)
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "new.txt"), []byte("a new file"), time.Time{})

	fresh := filepath.Join(dir, "fresh.db")
	r := grsync(t, dir, nil, "--local-store", storeDir, "--db", fresh, "--encryption-key-file", other, src)
	refused(t, "sync with another key", r, "encrypted by the Python tool, does not open with this key", storeDir, 5, fresh)
	fresh2 := filepath.Join(dir, "fresh2.db")
	r = grsync(t, dir, nil, "--local-store", storeDir, "--db", fresh2, src)
	refused(t, "sync without a key", r, "this store's backups are encrypted and no key was given", storeDir, 5, fresh2)
	// A restore with the right key works, and writes no marker.
	mustRun(t, dir, 0, "restore", "--db", db, "--local-store", storeDir, "--encryption-key-file", key, "--output", "out")
	if m := markerOf(t, storeDir); m != "" {
		t.Fatalf("a restore wrote the marker %q", m)
	}
	// The first sync with the right key proves it by an encrypted archive
	// of the Python tool, marks the store, then uploads.
	r = mustRun(t, dir, 0, "--db", db, "--local-store", storeDir, "--encryption-key-file", key, src)
	if !strings.Contains(r.stderr, "encrypted by the Python tool, opens with this key") || !strings.Contains(r.stdout, "uploaded      1 file") {
		t.Errorf("the first sync with the right key should mark the store, saying why, and upload:\n%s", r)
	}
	m := markerOf(t, storeDir)
	if !strings.HasPrefix(m, "grsync-store 1 id=") || strings.HasSuffix(m, "key=none") {
		t.Errorf("marker after the proving sync: %q", m)
	}
	// From now on the marker refuses the other key by itself.
	r = grsync(t, dir, nil, "--local-store", storeDir, "--db", filepath.Join(dir, "fresh3.db"), "--encryption-key-file", other, src)
	if r.code != 2 || !strings.Contains(r.stderr, "its marker's key proof does not match this key") {
		t.Errorf("another key after the marker: want exit 2, got:\n%s", r)
	}
}

// A local store moved to another path is the same store: sync uploads
// nothing again, restore restores everything, ls lists it.
func TestMovedLocalStore(t *testing.T) {
	t.Parallel()
	dir, storeDir, db, key := markerSetup(t, true)
	n := archivesIn(t, storeDir)
	moved := filepath.Join(dir, "mounted-elsewhere")
	if err := os.Rename(storeDir, moved); err != nil {
		t.Fatal(err)
	}
	// ls (a read-only catalogue) follows it for the run.
	r := mustRun(t, dir, 0, "ls", "--db", db, "--local-store", moved, "--encryption-key-file", key)
	if !strings.Contains(r.stdout, "3 files in local:"+moved) || !strings.Contains(r.stderr, storeDir) || !strings.Contains(r.stderr, moved) {
		t.Errorf("ls --local-store MOVED should list the three files, naming both paths:\n%s", r)
	}
	// restore restores everything, and the catalogue follows the store.
	out := filepath.Join(dir, "out")
	r = mustRun(t, dir, 0, "restore", "--db", db, "--local-store", moved, "--encryption-key-file", key, "--output", out)
	if !strings.Contains(r.stdout, "restored 3 files") || !strings.Contains(r.stderr, "the local store moved from "+storeDir+" to "+moved) {
		t.Errorf("restore --local-store MOVED should restore all, saying the store moved:\n%s", r)
	}
	sameTree(t, filepath.Join(dir, "src"), filepath.Join(out, strings.TrimPrefix(filepath.Join(dir, "src"), "/")), checkMeta)
	r = mustRun(t, dir, 0, "ls", "--db", db)
	if !strings.Contains(r.stdout, "3 files in local:"+moved) {
		t.Errorf("ls after the move should list the three files in the moved store:\n%s", r)
	}
	r = mustRun(t, dir, 0, "--db", db, "--local-store", moved, "--encryption-key-file", key, "src")
	if !strings.Contains(r.stdout, "uploaded      0 files") || !strings.Contains(r.stdout, "unchanged     3 files") {
		t.Errorf("sync to the moved store should upload nothing:\n%s", r)
	}
	if archivesIn(t, moved) != n {
		t.Errorf("the moved store holds %d objects, want the %d it had: something was uploaded again", archivesIn(t, moved), n)
	}
}

// A sync straight to the moved store follows it too, and a store whose
// disk is not connected is not recreated empty.
func TestMovedLocalStoreSyncAndMissingDisk(t *testing.T) {
	t.Parallel()
	dir, storeDir, db, key := markerSetup(t, true)
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(storeDir, moved); err != nil {
		t.Fatal(err)
	}
	r := grsync(t, dir, nil, "--db", db, "--encryption-key-file", key, "src")
	if r.code != 2 || !strings.Contains(r.stderr, "does not exist, but the catalogue") || dirExists(storeDir) {
		t.Errorf("sync to the catalogue's store while its disk is away: want exit 2 and no folder made, got:\n%s", r)
	}
	r = mustRun(t, dir, 0, "--db", db, "--local-store", moved, "--encryption-key-file", key, "src")
	if !strings.Contains(r.stdout, "uploaded      0 files") || !strings.Contains(r.stderr, "the catalogue now uses "+moved) {
		t.Errorf("sync to the moved store should follow it and upload nothing:\n%s", r)
	}
}

// A copy of a store whose original still exists is not followed by sync
// (backing up to both would split the backup); target move makes the copy
// the catalogue's store; a store with another id is refused.
func TestTargetMove(t *testing.T) {
	t.Parallel()
	dir, storeDir, db, key := markerSetup(t, true)
	cp := filepath.Join(dir, "copy")
	if out, err := exec.Command("cp", "-a", storeDir, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	r := grsync(t, dir, nil, "--db", db, "--local-store", cp, "--encryption-key-file", key, "src")
	if r.code != 2 || !strings.Contains(r.stderr, "it is a copy") || !strings.Contains(r.stderr, "grsync target move "+"local:"+storeDir+" local:"+cp) {
		t.Errorf("sync to a copy: want exit 2 naming target move, got:\n%s", r)
	}
	// Restoring from the copy is fine.
	r = mustRun(t, dir, 0, "restore", "--db", db, "--local-store", cp, "--encryption-key-file", key, "--output", "out")
	if !strings.Contains(r.stdout, "restored 3 files") {
		t.Errorf("restore from a copy:\n%s", r)
	}

	// Another store (another id) and a folder without a store are refused.
	_, otherStore, _, _ := markerSetup(t, true)
	r = grsync(t, dir, nil, "target", "move", storeDir, otherStore, "--db", db)
	if r.code != 2 || !strings.Contains(r.stderr, "is not the store the catalogue knows") {
		t.Errorf("target move to another store: want exit 2, got:\n%s", r)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	if r := grsync(t, dir, nil, "target", "move", storeDir, empty, "--db", db); r.code != 2 {
		t.Errorf("target move to a folder that is not a store: want exit 2, got:\n%s", r)
	}

	r = mustRun(t, dir, 0, "target", "move", storeDir, cp, "--db", db)
	if !strings.Contains(r.stdout, "is now local:"+cp) {
		t.Errorf("target move: %s", r)
	}
	r = mustRun(t, dir, 0, "--db", db, "--encryption-key-file", key, "src")
	if !strings.Contains(r.stdout, "sync to local:"+cp) || !strings.Contains(r.stdout, "uploaded      0 files") {
		t.Errorf("sync after target move should use the copy and upload nothing:\n%s", r)
	}
	// The original is now the copy: syncing to it is refused.
	if r := grsync(t, dir, nil, "--db", db, "--local-store", storeDir, "--encryption-key-file", key, "src"); r.code != 2 {
		t.Errorf("sync to the original after the move: want exit 2, got:\n%s", r)
	}
}

// A different store at the path the catalogue knows (another disk, or the
// folder emptied and made a store again) is refused.
func TestAnotherStoreAtAKnownPath(t *testing.T) {
	t.Parallel()
	dir, storeDir, db, key := markerSetup(t, true)
	if err := os.RemoveAll(storeDir); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "--local-store", storeDir, "--db", filepath.Join(dir, "second.db"), "--encryption-key-file", key, "src")
	r := grsync(t, dir, nil, "--db", db, "--local-store", storeDir, "--encryption-key-file", key, "src")
	if r.code != 2 || !strings.Contains(r.stderr, "is not the store the catalogue") {
		t.Errorf("sync to another store at the known path: want exit 2, got:\n%s", r)
	}
}

// No read-only command changes the catalogue's default target.
func TestReadOnlyCommandsKeepTheDefaultTarget(t *testing.T) {
	t.Parallel()
	dir, storeA, db, key := markerSetup(t, true)
	writeFile(t, filepath.Join(dir, "srcb", "b-only.txt"), []byte("b"), time.Time{})
	storeB := filepath.Join(dir, "storeB")
	mustRun(t, dir, 0, "--db", db, "--local-store", storeB, "--encryption-key-file", key, "srcb")
	lsDefault := func(what string) {
		t.Helper()
		r := mustRun(t, dir, 0, "ls", "--db", db)
		if !strings.Contains(r.stdout, "b-only.txt") || strings.Contains(r.stdout, "a.txt") {
			t.Errorf("after %s, ls should still list the default target %s:\n%s", what, storeB, r)
		}
	}
	lsDefault("the second sync")
	mustRun(t, dir, 0, "restore", "--db", db, "--local-store", storeA, "--encryption-key-file", key, "--output", "out")
	lsDefault("restore --local-store A")
	mustRun(t, dir, 0, "verify", "--db", db, "--local-store", storeA, "--encryption-key-file", key)
	lsDefault("verify --local-store A")
	mustRun(t, dir, 0, "inventory", "--db", db, "--local-store", storeA)
	lsDefault("inventory --local-store A")
	mustRun(t, dir, 0, "ls", "--db", db, "--local-store", storeA)
	lsDefault("ls --local-store A")
	// A restore naming a folder that is no store creates nothing.
	r := grsync(t, dir, nil, "restore", "--db", db, "--local-store", filepath.Join(dir, "nowhere"), "--output", "out2")
	if r.code != 2 || dirExists(filepath.Join(dir, "nowhere")) {
		t.Errorf("restore from a missing store: want exit 2 and nothing created, got:\n%s", r)
	}
	lsDefault("restore --local-store NOWHERE")
}

// A vault on the project's emulator (which has vault tags) carries a
// marker: a fresh catalogue with another key is refused.
func TestVaultMarker(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "marked")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "f.txt"), []byte("vault content"), time.Time{})
	key := newKey(t, dir)
	other := otherKey(t, dir)
	vault := []string{"--vault", "marked", "--region", "us-east-1"}
	mustRunEnv(t, dir, env, 0, append(vault, "--encryption-key-file", key, "src")...)
	tags, _, _ := srv.Tags("marked")
	if !strings.HasPrefix(tags["grsync-ref-marker"], "grsync-store 1 id=") {
		t.Fatalf("vault tags after the first sync: %v", tags)
	}
	writeFile(t, filepath.Join(dir, "src", "g.txt"), []byte("more"), time.Time{})
	r := grsync(t, dir, env, append(vault, "--db", "fresh.db", "--encryption-key-file", other, "src")...)
	if r.code != 2 || !strings.Contains(r.stderr, "this store's backups use another key") || rowsIn(t, filepath.Join(dir, "fresh.db")) != 0 {
		t.Errorf("sync to the vault with another key and a fresh catalogue: want exit 2, got:\n%s", r)
	}
	r = grsync(t, dir, env, append(vault, "--db", "fresh2.db", "src")...)
	if r.code != 2 || !strings.Contains(r.stderr, "no key was given") {
		t.Errorf("sync to the vault without a key: want exit 2, got:\n%s", r)
	}
}

// Item 2 on S3: a bucket that holds encrypted backups refuses another key,
// and no key, whatever catalogue is used: with a fresh one, exit 2 and not
// a single object more in the bucket.
func TestS3MarkerRefusesAnotherKeyAndNoKey(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "marked")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "f.txt"), []byte("s3 content"), time.Time{})
	key := newKey(t, dir)
	other := otherKey(t, dir)
	bucket := []string{"--bucket", "marked", "--prefix", "p", "--region", "us-east-1", "--storage-class", "STANDARD"}
	mustRunEnv(t, dir, m.Env(), 0, append(bucket, "--encryption-key-file", key, "src")...)
	before := bucketKeys(t, c, "marked")
	if !slices.ContainsFunc(before, func(k string) bool { return strings.Contains(k, "marker") }) {
		t.Fatalf("the first sync should store a marker; the bucket holds %v", before)
	}
	writeFile(t, filepath.Join(dir, "src", "g.txt"), []byte("more"), time.Time{})
	for _, tc := range []struct {
		what, db, want string
		args           []string
	}{
		{"another key", "fresh.db", "this store's backups use another key", []string{"--encryption-key-file", other}},
		{"no key", "fresh2.db", "this store's backups are encrypted and no key was given", nil},
	} {
		args := append(append(append([]string{}, bucket...), "--db", tc.db), tc.args...)
		r := grsync(t, dir, m.Env(), append(args, "src")...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("sync to S3 with %s and a fresh catalogue: want exit 2 saying %q, got:\n%s", tc.what, tc.want, r)
		}
		if n := rowsIn(t, filepath.Join(dir, tc.db)); n != 0 {
			t.Errorf("sync with %s recorded %d file versions", tc.what, n)
		}
		if after := bucketKeys(t, c, "marked"); !slices.Equal(after, before) {
			t.Errorf("sync with %s changed the bucket:\nbefore %v\nafter  %v", tc.what, before, after)
		}
	}
}

// bucketKeys lists every key of an S3 bucket, sorted.
func bucketKeys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	return slices.Sorted(maps.Keys(bucketState(t, c, bucket)))
}

// Archive names never start with "-" (the recovery recipe hands them to
// age, tail and zstd, which would take one for an option). Ids are random:
// without the rule one in 64 would, so 300 objects of a local store (1 -
// (63/64)^300: 99% of the time) and 150 of an S3 bucket (91%) would show a
// regression; internal/store TestNewIDNeverStartsWithDash checks 10,000.
func TestArchiveNamesNeverStartWithADash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 300 {
		writeFile(t, filepath.Join(dir, "src", fmt.Sprintf("f%03d", i)), []byte(fmt.Sprint(i)), time.Time{})
	}
	key := newKey(t, dir)
	mustRun(t, dir, 0, "--local-store", "st", "--pack-size", "0", "--encryption-key-file", key, "src") // one object per file
	ents, err := os.ReadDir(filepath.Join(dir, "st", "archives"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 600 {
		t.Fatalf("want 300 objects (and their .json), got %d entries", len(ents))
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "-") {
			t.Errorf("a local store's archive name starts with a dash: %s", e.Name())
		}
	}

	m := moto.Start(t)
	c := s3Client(m)
	createBucket(t, c, "dashes")
	mustRunEnv(t, dir, m.Env(), 0, "--db", "s3.db", "--bucket", "dashes", "--prefix", "p", "--region", "us-east-1",
		"--storage-class", "STANDARD", "--pack-size", "0", "--encryption-key-file", key, "--exclude", "f[12]*", "src")
	keys := bucketKeys(t, c, "dashes")
	n := 0
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, "p/grsync/"); ok {
			n++
			if strings.HasPrefix(id, "-") {
				t.Errorf("an S3 object id starts with a dash: %s", k)
			}
		}
	}
	if n < 100 {
		t.Fatalf("want 100 objects or more in the bucket, got %d: %v", n, keys)
	}
}
