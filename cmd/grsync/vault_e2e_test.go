package main

import (
	"database/sql"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
)

// emulator starts the project's Glacier emulator on 127.0.0.1 with the
// given vaults, and returns it with the environment that points grsync at
// it: only AWS_ENDPOINT_URL and dummy credentials.
func emulator(t *testing.T, cfg glacieremu.Config, vaults ...string) (*glacieremu.Server, []string) {
	t.Helper()
	srv, err := glacieremu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, v := range vaults {
		req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/-/vaults/"+v, nil)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/glacier/aws4_request")
		req.Header.Set("x-amz-glacier-version", "2012-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("creating vault %s: %s", v, resp.Status)
		}
	}
	return srv, []string{
		"AWS_ENDPOINT_URL=" + srv.URL(),
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY=dummy",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func mustRunEnv(t *testing.T, dir string, env []string, want int, args ...string) result {
	t.Helper()
	r := grsync(t, dir, env, args...)
	if r.code != want {
		t.Fatalf("grsync %s: want exit %d, got:\n%s", strings.Join(args, " "), want, r)
	}
	return r
}

// Every example of the Python tool's README, verbatim but for the program
// name, the paths and the key, against the emulator; each scenario then
// restores what it backed up.
func TestPythonReadmeExamplesAgainstVault(t *testing.T) {
	t.Parallel()
	scenarios := map[string][][]string{
		"manual key": {
			{"--vault", "YOUR-VAULT-NAME", "--region", "YOUR-AWS-REGION", "--compress", "true", "--encrypt", "true", "--encryption-key", "KEY", "--db", "DB", "--desc", "My description", "--loglevel", "INFO", "SRC"},
			{"--vault", "YOUR-VAULT-NAME", "--region", "YOUR-AWS-REGION", "--encrypt", "true", "--encryption-key", "KEY", "--db", "DB", "--loglevel", "DEBUG", "SRC"},
		},
		"key file": {
			{"--vault", "YOUR-VAULT-NAME", "--region", "YOUR-AWS-REGION", "--compress", "true", "--encrypt", "true", "--encryption-key-file", "KEYFILE", "--db", "DB", "--desc", "My description", "--loglevel", "WARNING", "SRC"},
			{"--vault", "YOUR-VAULT-NAME", "--region", "YOUR-AWS-REGION", "--encrypt", "true", "--encryption-key-file", "KEYFILE", "--db", "DB", "--loglevel", "CRITICAL", "SRC"},
		},
		"no encryption": {
			{"--vault", "YOUR-VAULT-NAME", "--region", "YOUR-AWS-REGION", "--db", "DB", "--desc", "My description", "--loglevel", "ERROR", "SRC"},
		},
	}
	for name, lines := range scenarios {
		t.Run(name, func(t *testing.T) {
			_, env := emulator(t, glacieremu.Config{}, "YOUR-VAULT-NAME")
			dir := t.TempDir()
			src := filepath.Join(dir, "your folder")
			writeFile(t, filepath.Join(src, "a.txt"), []byte("first"), time.Unix(1700000000, 0))
			writeFile(t, filepath.Join(src, "sub", "big.bin"), randomBytes(t, 3<<20+5), time.Unix(1700000100, 0))
			writeFile(t, filepath.Join(src, "empty"), nil, time.Unix(1700000200, 0))
			keyFile := newKey(t, dir)
			k, _ := os.ReadFile(keyFile)
			db := filepath.Join(dir, "glacier.db")
			for i, line := range lines {
				args := make([]string, len(line))
				for j, w := range line {
					args[j] = map[string]string{"KEY": strings.TrimSpace(string(k)), "KEYFILE": keyFile, "DB": db, "SRC": src}[w]
					if args[j] == "" {
						args[j] = w
					}
				}
				mustRunEnv(t, dir, env, 0, args...)
				if i < len(lines)-1 { // something changes before the subsequent sync
					writeFile(t, filepath.Join(src, "a.txt"), []byte("second"), time.Unix(1700000300, 0))
				}
			}
			restore := []string{"restore", "--db", db, "--output", "out", "--wait", "--tier", "Expedited", "--poll", "50ms"}
			if name != "no encryption" {
				restore = append(restore, "--encryption-key-file", keyFile)
			}
			mustRunEnv(t, dir, env, 0, restore...)
			sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
		})
	}
}

func TestVaultRestorePendingThenReused(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{Delays: glacieremu.Delays{Expedited: time.Second, Standard: time.Second, Bulk: time.Second, Inventory: time.Second}}, "v")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a"), randomBytes(t, 100000), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "copy-of-a"), nil, time.Unix(1700000000, 0))
	key := newKey(t, dir)
	mustRunEnv(t, dir, env, 0, "--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, src)
	// Without --wait: the plan is printed, jobs are requested, exit 3.
	r := mustRunEnv(t, dir, env, 3, "restore", "--encryption-key-file", key, "--output", "out", "--tier", "Bulk")
	if !strings.Contains(r.stdout, "tier Bulk, expected wait 5-12 hours") || !strings.Contains(r.stdout, "run the same command again later") {
		t.Errorf("restore should print the plan and say what is pending:\n%s", r)
	}
	jobs := srv.Stats()[glacieremu.OpInitiateJob].Requests
	// Running again reuses the jobs: no new request is paid for.
	mustRunEnv(t, dir, env, 3, "restore", "--encryption-key-file", key, "--output", "out", "--tier", "Bulk")
	if got := srv.Stats()[glacieremu.OpInitiateJob].Requests; got != jobs {
		t.Errorf("a second restore initiated %d new jobs", got-jobs)
	}
	time.Sleep(1100 * time.Millisecond)
	mustRunEnv(t, dir, env, 0, "restore", "--encryption-key-file", key, "--output", "out", "--tier", "Bulk")
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
	if got := srv.Stats()[glacieremu.OpInitiateJob].Requests; got != jobs {
		t.Errorf("the final restore initiated %d new jobs", got-jobs)
	}
}

// The legacy fixtures as their users have them: archives in a vault under
// their ids, the legacy glacier.db, inventory.json.
func TestLegacyFixturesInVault(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "my-vault")
	for _, a := range legacyArchives(t) {
		if err := srv.SeedArchive("my-vault", a.id, a.desc, a.created, a.data); err != nil {
			t.Fatal(err)
		}
	}
	invJSON, err := os.ReadFile(filepath.Join(legacyDir, "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetInventory("my-vault", invJSON); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "glacier.db")
	copyFile(t, filepath.Join(legacyDir, "glacier.db"), db, 0o644)
	key := filepath.Join(dir, "legacy.key")
	copyFile(t, filepath.Join(legacyDir, "legacy.key"), key, 0o600)
	vaultArgs := []string{"--vault", "my-vault", "--region", "us-east-1", "--encryption-key-file", key}

	// Restore straight from the legacy catalogue.
	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--db", db, "--output", "out", "--wait", "--poll", "50ms"}, vaultArgs...)...)
	sameTree(t, filepath.Join(legacyDir, "source"), filepath.Join(dir, "out", strings.TrimPrefix(legacyRoot, "/")), contentOnly)

	// Rebuild a lost catalogue from the vault's inventory, then restore.
	fresh := filepath.Join(dir, "fresh.db")
	r := mustRunEnv(t, dir, env, 0, append([]string{"inventory", "--rebuild", "--wait", "--poll", "50ms", "--db", fresh}, vaultArgs...)...)
	if !strings.Contains(r.stdout, "5 file versions added (0 from version records, 0 from pack indexes, 5 from the Python tool)") {
		t.Errorf("rebuild should recover the five legacy archives:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, append([]string{"restore", "--db", fresh, "--output", "out2", "--wait", "--poll", "50ms"}, vaultArgs...)...)
	sameTree(t, filepath.Join(legacyDir, "source"), filepath.Join(dir, "out2", strings.TrimPrefix(legacyRoot, "/")), contentOnly)

	// A sync of the identical tree (at this machine's path, with the
	// recorded mtimes) uploads nothing that is unchanged.
	src := filepath.Join(dir, "backup-src")
	for rel, mt := range map[string]float64{
		"docs/report.txt": 1710590400.123456, "photos/img 01.bin": 1710594000.123456,
		"empty.txt": 1710597600.123456, `it's a "quoted" name|pipe.txt`: 1710601200.123456,
	} {
		b, err := os.ReadFile(filepath.Join(legacyDir, "source", rel))
		if err != nil {
			t.Fatal(err)
		}
		sec, frac := math.Modf(mt)
		writeFile(t, filepath.Join(src, rel), b, time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000))
	}
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`UPDATE sync_history SET path = ? || substr(path, ?)`, src, len(legacyRoot)+1); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	before := srv.Stats()
	r = mustRunEnv(t, dir, env, 0, append([]string{"--db", db}, append(vaultArgs, src)...)...)
	if !strings.Contains(r.stdout, "uploaded      0 files") || !strings.Contains(r.stdout, "unchanged     4 files") {
		t.Errorf("nothing unchanged may be uploaded:\n%s", r)
	}
	after := srv.Stats()
	// No content travels. The two small archives are the version records
	// and the first catalogue snapshot: the first grsync run on the Python
	// tool's catalogue gives the store its rows, so the store alone can
	// give them back.
	if n := after[glacieremu.OpUploadArchive].Requests - before[glacieremu.OpUploadArchive].Requests; n != 2 {
		t.Errorf("UploadArchive was called %d times; want 2 (the version records and a catalogue snapshot)", n)
	}
	if n := after[glacieremu.OpInitiateMultipartUpload].Requests - before[glacieremu.OpInitiateMultipartUpload].Requests; n != 0 {
		t.Errorf("InitiateMultipartUpload was called %d times", n)
	}
	if in := after[glacieremu.OpUploadArchive].BytesIn - before[glacieremu.OpUploadArchive].BytesIn; in > 16<<10 { // records and snapshot: about 8 KiB
		t.Errorf("%d bytes uploaded for a sync with nothing to store", in)
	}
}

// 10% of every call type fails (errors, throttling, dropped connections):
// a sync of 200 files and their restore still complete with identical data.
func TestVaultWithTenPercentFaults(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: the fault suite runs in the full test run")
	}
	f := glacieremu.Fault{ErrorRate: 0.04, ThrottleRate: 0.03, DropRate: 0.03}
	srv, env := emulator(t, glacieremu.Config{Seed: 7}, "v")
	for _, op := range glacieremu.Ops() {
		if err := srv.SetFault(op, f); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for i := 0; i < 200; i++ {
		size := 1 + i*97%5000
		if i%50 == 0 {
			size = 2<<20 + i // a few multipart archives
		}
		writeFile(t, filepath.Join(src, "d"+strconv.Itoa(i%7), "f"+strconv.Itoa(i)), randomBytes(t, size), time.Unix(1700000000+int64(i), 0))
	}
	key := newKey(t, dir)
	// One archive per file (--pack-size 0): packed, 200 small files are a
	// few uploads, and their restore a few ranged reads, too few requests
	// for 10% of them to show anything.
	r := mustRunEnv(t, dir, env, 0, "--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, "--loglevel", "ERROR", "--pack-size", "0", src)
	if !strings.Contains(r.stdout, "uploaded      200 files") {
		t.Errorf("all 200 files should be uploaded:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, "restore", "--encryption-key-file", key, "--output", "out", "--wait", "--poll", "50ms", "--quiet")
	sameTree(t, src, filepath.Join(dir, "out", strings.TrimPrefix(src, "/")), checkMeta)
	var faults int64
	for _, s := range srv.Stats() {
		faults += s.Faults
	}
	if faults < 20 {
		t.Errorf("only %d faults were injected; the test proves little", faults)
	}
	t.Logf("%d faults injected", faults)
}

func TestVaultMissingUploadsAndVerify(t *testing.T) {
	t.Parallel()
	srv, env := emulator(t, glacieremu.Config{}, "v")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a"), []byte("a"), time.Unix(1700000000, 0))

	// A vault that does not exist: one clear message, exit 2, nothing read.
	r := grsync(t, dir, env, "--vault", "nope", "--region", "us-east-1", src)
	if r.code != 2 || !strings.Contains(r.stderr, "nope") || strings.Contains(r.stderr, "goroutine") {
		t.Fatalf("a missing vault must be a clear exit-2 error:\n%s", r)
	}
	if srv.Stats()[glacieremu.OpUploadArchive].Requests != 0 {
		t.Fatal("something was uploaded to a missing vault")
	}

	// An unfinished multipart upload, as a crashed client leaves it.
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/-/vaults/v/multipart-uploads", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/glacier/aws4_request")
	req.Header.Set("x-amz-glacier-version", "2012-06-01")
	req.Header.Set("x-amz-part-size", "1048576")
	req.Header.Set("x-amz-archive-description", "left behind")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	vault := []string{"--vault", "v", "--region", "us-east-1"}
	r = mustRunEnv(t, dir, env, 0, append(vault, "--list-incomplete-uploads")...)
	if !strings.Contains(r.stdout, "1 unfinished upload") {
		t.Fatalf("the open upload should be listed:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, append(vault, "--abort-incomplete-uploads")...)
	if r := mustRunEnv(t, dir, env, 0, "uploads", "list"); !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Fatalf("the upload should be aborted:\n%s", r)
	}

	// Sync, then verify against the vault's inventory.
	mustRunEnv(t, dir, env, 0, append(vault, src)...)
	r = mustRunEnv(t, dir, env, 0, "verify", "--wait", "--poll", "50ms")
	// One pack holds the files; one records object lists them; a snapshot
	// copies the catalogue.
	if !strings.Contains(r.stdout, "3 archives checked, 0 missing, 0 unknown") {
		t.Errorf("verify should agree:\n%s", r)
	}
}
