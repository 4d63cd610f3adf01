package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/testutil/tools"
)

// readmeBlock returns the text between <!-- NAME begin --> and <!-- NAME
// end --> in the README, without its ``` fence.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(name) + " begin -->\n```[a-z]*\n(.*?)```\n<!-- " + regexp.QuoteMeta(name) + " end -->")
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("README.md has no %s block", name)
	}
	return string(m[1])
}

// The README's "Running it every night": the systemd units it shows are the
// files in contrib/systemd, systemd-analyze verify accepts them without a
// word, and their command line (and the cron line's) runs, printing JSON.
func TestNightlyUnits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	units := filepath.Join(dir, "units")
	if err := os.Mkdir(units, 0o755); err != nil {
		t.Fatal(err)
	}
	var execStart string
	for _, name := range []string{"grsync-backup.service", "grsync-backup.timer"} {
		file, err := os.ReadFile(filepath.Join("../../contrib/systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		if readmeBlock(t, name) != string(file) {
			t.Errorf("the README's %s differs from contrib/systemd/%s", name, name)
		}
		// The binary the unit names must exist for verify: use the built one.
		text := strings.ReplaceAll(string(file), "/usr/local/bin/grsync", grsyncBin)
		if m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindStringSubmatch(text); m != nil {
			execStart = m[1]
		}
		if err := os.WriteFile(filepath.Join(units, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The command line, with the README's config file (its nightly profile
	// pointed at a local store) and a home folder of the test's own.
	home := filepath.Join(dir, "home")
	writeFile(t, filepath.Join(home, "docs", "a.txt"), []byte("a"), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(home, "docs", "b.tmp"), []byte("b"), time.Unix(1700000000, 0))
	keygen := exec.Command(grsyncBin, "keygen", filepath.Join(home, ".glacier-keys", "backup.key"))
	if err := os.MkdirAll(filepath.Join(home, ".glacier-keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := keygen.CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	config := readmeConfig(t)
	config = strings.Replace(config, `bucket = "my-backups"`, `local-store = "`+filepath.Join(dir, "store")+`"`, 1)
	config = strings.Replace(config, `region = "eu-west-1"`+"\n", "", 1)
	if err := os.MkdirAll(filepath.Join(home, ".config", "grsync"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".config", "grsync", "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	cron := readmeRecipe(t, "30 2 * * *")
	// Its command: after the five time fields, up to the redirection.
	cronCmd, _, _ := strings.Cut(strings.Join(strings.Fields(cron)[5:], " "), " 2>&1")
	for what, line := range map[string]string{"the service's ExecStart": execStart, "the cron line": cronCmd} {
		fields := strings.Fields(strings.ReplaceAll(line, "/home/alice", filepath.Join(home, "docs")))
		if fields[0] != grsyncBin && fields[0] != "/usr/local/bin/grsync" {
			t.Fatalf("%s does not run grsync: %q", what, line)
		}
		r := grsync(t, dir, env, fields[1:]...)
		if r.code != 0 {
			t.Fatalf("%s: %s", what, r)
		}
		msgs := jsonLines(t, what, r.stdout)
		s := summary(t, what, msgs)
		// docs/a.txt is backed up (by the first run), b.tmp excluded by the profile.
		if s["command"] != "sync" || s["failed"] != float64(0) || s["uploaded"].(float64)+s["unchanged"].(float64) != 1 {
			t.Errorf("%s: summary %v", what, s)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "glacier.db")); err != nil {
		t.Errorf("the profile's catalogue (~/glacier.db) was not used: %v", err)
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil && os.Getenv("GRSYNC_REQUIRE_TOOLS") != "1" {
		t.Skip("SKIPPED: systemd-analyze is not on PATH, so the units were NOT verified " +
			"(apt-get install -y systemd provides it; GRSYNC_REQUIRE_TOOLS=1 makes this fatal)")
	}
	tools.Require(t, "systemd-analyze")
	cmd := exec.Command("systemd-analyze", "verify", filepath.Join(units, "grsync-backup.service"), filepath.Join(units, "grsync-backup.timer"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || out.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out.String())
	}
}

// readmeConfig returns the README's example config file.
func readmeConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)    # ~/.config/grsync/config.toml\n(.*?)\n\n[^ ]`).FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no example config file")
	}
	var lines []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	return strings.Join(lines, "\n") + "\n"
}

// scripts/demo.sh says what it is doing before the first build (which
// takes minutes on a fresh machine), then runs to the end.
func TestDemoScript(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append(cleanEnv(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, out)
	}
	s := string(out)
	build := strings.Index(s, "$ go build")
	if say := strings.Index(s, "the first build on a machine downloads and compiles"); say < 0 || build < 0 || say > build {
		t.Errorf("demo.sh must say what the first build does before it starts:\n%s", s)
	}
	if !strings.Contains(s, "restored tree is identical to the source") {
		t.Errorf("demo.sh did not finish:\n%s", s)
	}
}
