package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jsonLines parses every line of out as a JSON object with a message_type.
func jsonLines(t *testing.T, what, out string) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			t.Fatalf("%s: an empty line in JSON output:\n%s", what, out)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: not a JSON object: %q: %v", what, l, err)
		}
		if _, ok := m["message_type"].(string); !ok {
			t.Fatalf("%s: no message_type: %q", what, l)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func ofType(msgs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["message_type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// summary returns the last message, which must be the summary.
func summary(t *testing.T, what string, msgs []map[string]any) map[string]any {
	t.Helper()
	if len(msgs) == 0 || msgs[len(msgs)-1]["message_type"] != "summary" {
		t.Fatalf("%s: the last JSON line must be the summary: %v", what, msgs)
	}
	return msgs[len(msgs)-1]
}

// wantFields checks numeric and other fields of a JSON message.
func wantFields(t *testing.T, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("%s: no %q in %v", what, k, m)
			continue
		}
		if n, isInt := v.(int); isInt {
			v = float64(n)
		}
		if got != v {
			t.Errorf("%s: %s = %v, want %v", what, k, got, v)
		}
	}
}

// --json: one object per line for sync (with progress events on request),
// a dry run, restore, ls, verify, inventory, uploads and version, with the
// text summary's counts; logs on stderr are JSON too.
func TestJSONOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, n := range []string{"a.txt", "b.txt", "sub/c.bin"} {
		writeFile(t, filepath.Join(src, n), randomBytes(t, 2000), time.Unix(1700000000, 0))
	}
	writeFile(t, filepath.Join(src, "copy1"), []byte("same"), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "copy2"), []byte("same"), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "bad\xffname"), []byte("x"), time.Unix(1700000000, 0))
	key := newKey(t, dir)
	args := []string{"--local-store", "st", "--encryption-key-file", key, "--json"}

	r := mustRun(t, dir, 0, append(args, "--dry-run", src)...)
	msgs := jsonLines(t, "dry run", r.stdout)
	if n := len(ofType(msgs, "would_upload")); n != 6 {
		t.Errorf("dry run: %d would_upload lines, want 6:\n%s", n, r.stdout)
	}
	wantFields(t, "dry run", summary(t, "dry run", msgs), map[string]any{"command": "sync", "dry_run": true, "would_upload": 6, "unchanged": 0, "failed": 0})

	r = mustRun(t, dir, 0, append(args, "--json-progress", src)...)
	msgs = jsonLines(t, "sync", r.stdout)
	wantFields(t, "sync", summary(t, "sync", msgs), map[string]any{
		"command": "sync", "uploaded": 5, "deduplicated": 1, "unchanged": 0, "failed": 0, "interrupted": false})
	if snap, ok := summary(t, "sync", msgs)["snapshot"].(map[string]any); !ok {
		t.Errorf("sync summary without a snapshot member:\n%s", r.stdout)
	} else {
		wantFields(t, "first sync's snapshot", snap, map[string]any{"taken": true, "reason": "no snapshot yet"})
	}
	if n := len(ofType(msgs, "file")); n != 6 {
		t.Errorf("sync --json-progress: %d file lines, want 6:\n%s", n, r.stdout)
	}
	st := ofType(msgs, "status")
	if len(st) == 0 {
		t.Fatalf("sync --json-progress: no status line:\n%s", r.stdout)
	}
	wantFields(t, "final status", st[len(st)-1], map[string]any{"files_total": 6, "files_done": 6, "scanning": false, "percent_done": 100})
	rawPath := filepath.Join(src, "bad\xffname")
	sawRaw := false
	for _, m := range ofType(msgs, "file") {
		if m["path"] == strings.ToValidUTF8(rawPath, "\ufffd") {
			b, _ := base64.StdEncoding.DecodeString(m["path_bytes"].(string))
			sawRaw = string(b) == rawPath
		}
	}
	if !sawRaw {
		t.Errorf("a name that is not UTF-8 should carry its exact bytes in path_bytes:\n%s", r.stdout)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if l != "" && !json.Valid([]byte(l)) {
			t.Errorf("with --json the log on stderr must be JSON: %q", l)
		}
	}

	// The text summary of the same state says the same counts.
	r = mustRun(t, dir, 0, "--local-store", "st", "--encryption-key-file", key, src)
	if !strings.Contains(r.stdout, "unchanged     6 files") {
		t.Errorf("text summary:\n%s", r)
	}
	r = mustRun(t, dir, 0, append(args, src)...)
	resync := summary(t, "re-sync", jsonLines(t, "re-sync", r.stdout))
	wantFields(t, "re-sync", resync, map[string]any{"uploaded": 0, "unchanged": 6})
	if snap, _ := resync["snapshot"].(map[string]any); snap == nil || snap["taken"] != false {
		t.Errorf("a sync that changed nothing takes no snapshot: %v", resync["snapshot"])
	}

	r = mustRun(t, dir, 0, append(args, "restore", "--output", "out")...)
	msgs = jsonLines(t, "restore", r.stdout)
	wantFields(t, "restore plan", ofType(msgs, "restore_plan")[0], map[string]any{"files": 6, "archives": 1}) // one pack
	wantFields(t, "restore", summary(t, "restore", msgs), map[string]any{"command": "restore", "restored": 6, "failed": 0, "pending_files": 0})

	r = mustRun(t, dir, 0, "--json", "ls")
	msgs = jsonLines(t, "ls", r.stdout)
	if n := len(ofType(msgs, "ls_file")); n != 6 {
		t.Errorf("ls: %d files, want 6:\n%s", n, r.stdout)
	}
	wantFields(t, "ls", summary(t, "ls", msgs), map[string]any{"command": "ls", "files": 6})

	r = mustRun(t, dir, 0, "--json", "verify")
	wantFields(t, "verify", summary(t, "verify", jsonLines(t, "verify", r.stdout)), map[string]any{"command": "verify", "checked": 3, "ok": true}) // the pack, the version records, the catalogue snapshot
	r = mustRun(t, dir, 0, "--json", "inventory")
	wantFields(t, "inventory", summary(t, "inventory", jsonLines(t, "inventory", r.stdout)), map[string]any{"command": "inventory", "archives": 3})
	r = mustRun(t, dir, 0, "--json", "uploads", "list")
	wantFields(t, "uploads", summary(t, "uploads", jsonLines(t, "uploads", r.stdout)), map[string]any{"command": "uploads", "uploads": 0})

	// A usage error ends with an exit_error line.
	r = mustRun(t, dir, 2, "--json", "restore")
	msgs = jsonLines(t, "usage error", r.stdout)
	wantFields(t, "usage error", msgs[len(msgs)-1], map[string]any{"message_type": "exit_error", "code": 2})
	mustRun(t, dir, 2, "--json", "keygen")
	mustRun(t, dir, 2, "--json-progress", "--local-store", "st", src)
}

// --json for the commands added after the first ones: forget (each
// forgotten version, then the summary), target move and catalogue push;
// a command that prints no JSON says so with its whole name.
func TestJSONForgetTargetMoveAndCataloguePush(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	a := filepath.Join(src, "a.txt")
	writeFile(t, a, []byte("one"), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "b.txt"), []byte("b"), time.Unix(1700000000, 0))
	key := newKey(t, dir)
	at := func(d int) []string {
		return []string{"GRSYNC_FAKE_NOW=" + time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)}
	}
	sync := []string{"--local-store", "st", "--encryption-key-file", key, src}
	mustRunEnv(t, dir, at(1), 0, sync...)
	writeFile(t, a, []byte("two"), time.Unix(1700000100, 0))
	mustRunEnv(t, dir, at(2), 0, sync...)

	for _, dry := range []bool{true, false} {
		args := []string{"--json", "forget", "--keep-last", "1"}
		if dry {
			args = append(args, "--dry-run")
		}
		r := mustRunEnv(t, dir, at(3), 0, args...)
		what := strings.Join(args, " ")
		msgs := jsonLines(t, what, r.stdout)
		sum := summary(t, what, msgs)
		wantFields(t, what, sum, map[string]any{"command": "forget", "target": "local:" + filepath.Join(dir, "st"),
			"dry_run": dry, "rules": "last 1", "kept_points": 1, "forgotten": 1, "deletion_records": 0})
		if pts, _ := sum["points"].([]any); len(pts) != 2 {
			t.Errorf("%s: want the 2 points in time, got %v", what, sum["points"])
		}
		fv := ofType(msgs, "forget_version")
		if len(fv) != 1 {
			t.Fatalf("%s: want 1 forget_version line:\n%s", what, r.stdout)
		}
		wantFields(t, what, fv[0], map[string]any{"path": a, "size": 3, "kind": "file"})
	}
	r := mustRun(t, dir, 0, "ls", "--versions", a)
	if !strings.Contains(r.stdout, "forgotten") {
		t.Errorf("forget --json should have forgotten a.txt's first version:\n%s", r)
	}

	r = mustRun(t, dir, 0, "--json", "catalogue", "push", "--encryption-key-file", key)
	sum := summary(t, "catalogue push", jsonLines(t, "catalogue push", r.stdout))
	wantFields(t, "catalogue push", sum, map[string]any{"command": "catalogue push", "target": "local:" + filepath.Join(dir, "st")})
	if snap, _ := sum["snapshot"].(map[string]any); snap == nil || snap["taken"] != true {
		t.Errorf("catalogue push after forget stores a snapshot: %v", sum["snapshot"])
	}

	if err := os.Rename(filepath.Join(dir, "st"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, dir, 0, "--json", "target", "move", "st", "moved")
	wantFields(t, "target move", summary(t, "target move", jsonLines(t, "target move", r.stdout)), map[string]any{
		"command": "target move", "from": "local:" + filepath.Join(dir, "st"), "target": "local:" + filepath.Join(dir, "moved")})
	if r := mustRun(t, dir, 0, "ls"); !strings.Contains(r.stdout, "b.txt") {
		t.Errorf("ls after the move:\n%s", r)
	}
	r = mustRun(t, dir, 2, "--json", "target", "move", "st", "moved")
	msgs := jsonLines(t, "target move again", r.stdout)
	wantFields(t, "target move again", msgs[len(msgs)-1], map[string]any{"message_type": "exit_error", "code": 2})

	r = mustRun(t, dir, 2, "--json", "key", "export-age", "--encryption-key-file", key)
	wantStderr(t, r, "grsync key export-age does not print JSON")
}

// A mistyped command below a group command (uploads, target, key, lock,
// catalogue) is a usage error with a suggestion, as at the root, not its
// help and exit 0; a group command alone says what it needs.
func TestSubcommandTyposAreUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct{ args, word, want string }{
		{"uploads lst", "lst", "did you mean grsync uploads list?"},
		{"target mvoe a b", "mvoe", "did you mean grsync target move?"},
		{"key exprt", "exprt", "did you mean grsync key export-age?"},
		{"--db x.db lock extnd", "extnd", "did you mean grsync lock extend?"},
		{"uploads xyzzy", "xyzzy", "grsync uploads has the commands abort, list"},
	} {
		r := mustRun(t, dir, 2, strings.Fields(c.args)...)
		wantStderr(t, r, "unknown command "+strconv.Quote(c.word), c.want)
		if r.stdout != "" {
			t.Errorf("grsync %s: the usage error should come alone, not with help on stdout:\n%s", c.args, r)
		}
	}
	r := mustRun(t, dir, 2, "uploads")
	wantStderr(t, r, "grsync uploads needs a command", "grsync uploads abort or list")
	// Asking for help still works.
	mustRun(t, dir, 0, "uploads", "--help")
	mustRun(t, dir, 0, "help", "target")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a mistyped command created %s", ents[0].Name())
	}
}

// grsync version and --version: the version, the commit (or "unknown": a
// test build records no VCS data) and the Go and zstd versions.
func TestVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	zstd := regexp.MustCompile(`github.com/klauspost/compress (v\S+)`).FindSubmatch(gomod)
	if zstd == nil {
		t.Fatal("go.mod does not name klauspost/compress")
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := mustRun(t, dir, 0, args...)
		for _, want := range []string{"grsync ", "commit  ", "go      go1.", "zstd    github.com/klauspost/compress " + string(zstd[1])} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("grsync %s should say %q:\n%s", args[0], want, r)
			}
		}
	}
	r := mustRun(t, dir, 0, "--json", "version")
	wantFields(t, "version", jsonLines(t, "version", r.stdout)[0], map[string]any{"message_type": "version", "zstd": string(zstd[1])})
}

// grsync --help lists sync's flags as the Python tool's did; no help says a
// default twice; grsync alone is a usage error; a mistyped command gets a
// suggestion, unless a file of that name exists (then it is a SRC).
func TestHelpAndUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mustRun(t, dir, 0, "--help")
	for _, f := range []string{"--compress", "--encrypt", "--part-size", "--desc", "--list-incomplete-uploads",
		"--abort-incomplete-uploads", "--exclude", "--dry-run", "--db", "--vault", "--json", "--bwlimit", "--version",
		"(env GRSYNC_DB)", "(env GRSYNC_LOCAL_STORE)", "(env GRSYNC_BUCKET)", "130", "143", "restore", "--config-profile"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("grsync --help should mention %s:\n%s", f, r.stdout)
		}
	}
	twice := regexp.MustCompile(`\(default[^)]*\)\s*\(default`)
	for _, c := range []string{"sync", "restore", "ls", "keygen", "inventory", "verify", "uploads", "version"} {
		h := mustRun(t, dir, 0, c, "--help")
		if twice.MatchString(h.stdout) {
			t.Errorf("grsync %s --help states a default twice:\n%s", c, h.stdout)
		}
	}
	if twice.MatchString(r.stdout) {
		t.Errorf("grsync --help states a default twice:\n%s", r.stdout)
	}

	r = mustRun(t, dir, 2)
	if !strings.Contains(r.stderr, "no command and nothing to back up") {
		t.Errorf("grsync alone should be a usage error:\n%s", r)
	}
	r = mustRun(t, dir, 2, "restor", "--output", "x")
	if !strings.Contains(r.stderr, "did you mean restore?") {
		t.Errorf("grsync restor should suggest restore:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "glacier.db")); err == nil {
		t.Error("a mistyped command created a catalogue")
	}
	// A folder named like a typo is a source, as it always was.
	writeFile(t, filepath.Join(dir, "restor", "f.txt"), []byte("f"), time.Time{})
	r = mustRun(t, dir, 0, "--local-store", "st", "restor")
	if !strings.Contains(r.stdout, "uploaded      1 file (") {
		t.Errorf("an existing folder named restor is a source, and 1 file is singular:\n%s", r)
	}
	// The Python tool's form, flags first.
	mustRun(t, dir, 0, "--local-store", "st", "--compress", "true", "--encrypt", "false", "restor")
	r = mustRun(t, dir, 2, "--local-store", "st", "--bwlimit", "fast", "restor")
	if !strings.Contains(r.stderr, "invalid --bwlimit") {
		t.Errorf("a bad --bwlimit is a usage error:\n%s", r)
	}
}

// Settings: flag > environment > config profile > config top level >
// default, with targets exclusive by source; mistakes are usage errors
// naming the setting.
func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "f.txt"), []byte("f"), time.Time{})
	cfg := filepath.Join(dir, "grsync.toml")
	if err := os.WriteFile(cfg, []byte(`
db = "top.db"
jobs = 2

[p]
local-store = "st-profile"
exclude = ["*.tmp"]

[other]
bucket = "b"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(dir, p)); return err == nil }

	// The environment alone.
	r := grsync(t, dir, []string{"GRSYNC_DB=env.db", "GRSYNC_LOCAL_STORE=st-env"}, src)
	if r.code != 0 || !exists("env.db") || !exists("st-env") {
		t.Fatalf("GRSYNC_DB and GRSYNC_LOCAL_STORE should be used:\n%s", r)
	}
	// A flag beats the environment, and a target flag is no conflict with
	// another target from the environment.
	r = grsync(t, dir, []string{"GRSYNC_DB=env.db", "GRSYNC_BUCKET=not-used"}, "--db", "flag.db", "--local-store", "st-flag", src)
	if r.code != 0 || !exists("flag.db") || !exists("st-flag") {
		t.Fatalf("flags should win over the environment:\n%s", r)
	}
	// The profile (and the top level) fill what is not given.
	writeFile(t, filepath.Join(src, "skip.tmp"), []byte("tmp"), time.Time{})
	r = grsync(t, dir, nil, "--config", cfg, "-P", "p", "--dry-run", "--json", src)
	if r.code != 0 {
		t.Fatalf("config profile:\n%s", r)
	}
	wantFields(t, "profile", summary(t, "profile", jsonLines(t, "profile", r.stdout)), map[string]any{"target": "local:" + filepath.Join(dir, "st-profile"), "would_upload": 1})
	r = grsync(t, dir, []string{"GRSYNC_CONFIG=" + cfg, "GRSYNC_CONFIG_PROFILE=p"}, src)
	if r.code != 0 || !exists("top.db") || !exists("st-profile") {
		t.Fatalf("the config from the environment, its profile and top level should be used:\n%s", r)
	}
	// The environment beats the profile.
	r = grsync(t, dir, []string{"GRSYNC_DB=env2.db"}, "--config", cfg, "--config-profile", "p", src)
	if r.code != 0 || !exists("env2.db") {
		t.Fatalf("the environment should win over the profile:\n%s", r)
	}

	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--config", cfg, "-P", "nosuch", src}, `has no profile "nosuch"`},
		{nil, []string{"--config", filepath.Join(dir, "missing.toml"), src}, "does not exist"},
		{nil, []string{"-P", "p", src}, "no config file"},
		{[]string{"GRSYNC_JOBS=many"}, []string{"--local-store", "st-env", src}, "$GRSYNC_JOBS"},
	} {
		r := grsync(t, dir, c.env, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v %v: want exit 2 saying %q:\n%s", c.env, c.args, c.want, r)
		}
	}
	bad := filepath.Join(dir, "bad.toml")
	for body, want := range map[string]string{
		"[p]\nlocal-stor = \"x\"\n":          `unknown setting "local-stor"`,
		"encryption-key = \"secret\"\n":      `"encryption-key" cannot be set in a config file`,
		"[p]\nlocal-store = \n":              "config file",
		"[p]\njobs = \"many\"\n":             `invalid value "many" for --jobs`,
		"[p]\nlocal-store = { a = \"b\" }\n": "is a table",
	} {
		if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		r := grsync(t, dir, nil, "--config", bad, "-P", "p", src)
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("config %q: want exit 2 saying %q:\n%s", body, want, r)
		}
	}
}

// A dry run lists what it would upload: up to 20 files always, more with
// -v, so exclusions can be checked before the real run.
func TestDryRunListsFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for i := range 25 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%02d.txt", i)), []byte("x"), time.Time{})
	}
	writeFile(t, filepath.Join(src, "skip.tmp"), []byte("x"), time.Time{})
	r := mustRun(t, dir, 0, "--local-store", "st", "--dry-run", "--exclude", "*.tmp", src)
	if strings.Contains(r.stdout, "  would upload /") || !strings.Contains(r.stdout, "would upload 25 files") || !strings.Contains(r.stdout, "list them with -v") {
		t.Errorf("25 files: counted, not listed, and -v suggested:\n%s", r)
	}
	r = mustRun(t, dir, 0, "--local-store", "st", "--dry-run", "-v", "--exclude", "*.tmp", src)
	if n := strings.Count(r.stdout, "  would upload /"); n != 25 || strings.Contains(r.stdout, "skip.tmp") {
		t.Errorf("-v: %d files listed, want 25 and not the excluded one:\n%s", n, r)
	}
	r = mustRun(t, dir, 0, "--local-store", "st", "--dry-run", "--exclude", "f1*", "--exclude", "f2*", "--exclude", "*.tmp", src)
	if n := strings.Count(r.stdout, "  would upload /"); n != 10 {
		t.Errorf("10 files: all listed without -v, got %d:\n%s", n, r)
	}
}
