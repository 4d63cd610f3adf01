package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/ui"
)

// ptyRun is grsync running on a pseudo-terminal of a given width, as in a
// terminal window: stdout and stderr are the terminal.
type ptyRun struct {
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func startPTY(t *testing.T, dir string, cols int, args ...string) *ptyRun {
	t.Helper()
	cmd := exec.Command(grsyncBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: uint16(cols)})
	if err != nil {
		t.Fatal(err)
	}
	p := &ptyRun{cmd: cmd, tty: tty, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil { // EIO once the program has exited
				return
			}
		}
	}()
	return p
}

func (p *ptyRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait returns the exit code and everything the terminal received.
func (p *ptyRun) wait(t *testing.T) (int, string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Kill()
		t.Fatalf("grsync did not finish:\n%s", p.output())
	}
	<-p.done
	p.tty.Close()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	out := p.output()
	if strings.Contains(out, "panic:") {
		t.Fatalf("grsync panicked:\n%s", out)
	}
	return code, out
}

// waitFor waits until the terminal has received something matching re.
func (p *ptyRun) waitFor(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !re.MatchString(p.output()) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %s:\n%q", re, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drawRE matches one drawing of the progress line: a carriage return, the
// line, and "erase to the end of the line". A line holding an escape
// character of its own would end the match early and show up as a line
// that is not the whole drawing; the tests check for that.
var drawRE = regexp.MustCompile("\r([^\r\n\x1b]+)\x1b\\[K")

func draws(out string) []string {
	var lines []string
	for _, m := range drawRE.FindAllStringSubmatch(out, -1) {
		lines = append(lines, m[1])
	}
	return lines
}

var (
	totalRE   = regexp.MustCompile(`(\d+)/(\d+)(\+?) files`)
	percentRE = regexp.MustCompile(`(\d+)%`)
)

// checkDraws asserts what every drawing of the progress line must be: no
// wider than the terminal, no raw control character, the total real once
// the walk is over (and marked as growing before), the percentage never
// going back.
func checkDraws(t *testing.T, what string, out string, cols, total int) []string {
	t.Helper()
	lines := draws(out)
	if len(lines) == 0 {
		t.Fatalf("%s: no progress line was drawn:\n%q", what, out)
	}
	lastPct, sawTotal := -1, false
	for _, l := range lines {
		if w := ui.Width(l); w > cols-1 {
			t.Errorf("%s: a progress line of %d columns on a %d-column terminal: %q", what, w, cols, l)
		}
		for _, r := range l {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("%s: a raw control character %U in the progress line %q", what, r, l)
			}
		}
		m := totalRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("%s: the progress line does not count the files: %q", what, l)
			continue
		}
		done, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		growing := m[3] == "+"
		switch {
		case done > n:
			t.Errorf("%s: more files done than there are: %q", what, l)
		case !growing && n != total:
			t.Errorf("%s: the total shown is %d, the real total %d: %q", what, n, total, l)
		case growing && !strings.Contains(l, "scanning") && cols >= 80:
			t.Errorf("%s: a growing total must say it is still scanning: %q", what, l)
		case !growing:
			sawTotal = true
		}
		if p := percentRE.FindStringSubmatch(l); p != nil {
			pct, _ := strconv.Atoi(p[1])
			if pct < lastPct {
				t.Errorf("%s: the percentage went back from %d%% to %d%%: %q", what, lastPct, pct, l)
			}
			lastPct = pct
		}
	}
	if !sawTotal {
		t.Errorf("%s: no progress line showed the real total of %d files:\n%q", what, total, lines)
	}
	return lines
}

// progressTree makes files slow enough to transfer under --bwlimit that the
// progress line is drawn several times: n files of 256 KiB with long names,
// one of them holding control characters.
func progressTree(t *testing.T, src string, n int) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("holiday photos from the summer of 2024, picture number %03d.jpg", i)
		if i == 0 {
			name = "evil\x1b[2Jname\nsecond line.jpg"
		}
		writeFile(t, filepath.Join(src, name), randomBytes(t, 256<<10), time.Unix(1700000000, 0))
	}
}

// The progress line under a pseudo-terminal at 40, 80 and 200 columns:
// it never exceeds the width, shows the real totals of a sync and of a
// restore (not "restoring 2233/0"), never goes back, shortens names from
// the middle and escapes them.
func TestProgressLineFitsTerminal(t *testing.T) {
	t.Parallel()
	const files = 8
	for _, cols := range []int{40, 80, 200} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			progressTree(t, src, files)
			key := newKey(t, dir)
			// 2 MiB at 1 MiB/s: about two seconds, several drawings.
			p := startPTY(t, dir, cols, "--local-store", "st", "--encryption-key-file", key, "--bwlimit", "1M", src)
			code, out := p.wait(t)
			if code != 0 {
				t.Fatalf("sync: exit %d:\n%q", code, out)
			}
			lines := checkDraws(t, "sync", out, cols, files)
			if !strings.Contains(out, "uploaded      8 files") {
				t.Errorf("the summary is missing:\n%q", out)
			}
			if cols >= 80 && !strings.Contains(strings.Join(lines, "\n"), "…") {
				t.Errorf("long names in flight should be shortened from the middle:\n%q", lines)
			}
			if strings.Contains(out, "\x1b[2J") {
				t.Errorf("a file name cleared the screen:\n%q", out)
			}

			p = startPTY(t, dir, cols, "restore", "--encryption-key-file", key, "--bwlimit", "1M", "--output", "out")
			code, out = p.wait(t)
			if code != 0 {
				t.Fatalf("restore: exit %d:\n%q", code, out)
			}
			checkDraws(t, "restore", out, cols, files)
			if strings.Contains(out, "/0 files") {
				t.Errorf("restore showed a total of 0:\n%q", out)
			}
		})
	}
}

// Ctrl-C on a terminal: the "^C" the terminal echoes is erased with the
// progress line, the message stands on a line of its own, the summary
// follows, and the exit code is 130.
func TestCtrlCOnTerminal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	progressTree(t, src, 16)
	key := newKey(t, dir)
	p := startPTY(t, dir, 80, "--local-store", "st", "--encryption-key-file", key, "--bwlimit", "512k", "--jobs", "1", src)
	p.waitFor(t, regexp.MustCompile(`\d+/16 files`))
	if _, err := p.tty.Write([]byte{3}); err != nil { // Ctrl-C, as typed
		t.Fatal(err)
	}
	code, out := p.wait(t)
	if code != 130 {
		t.Fatalf("Ctrl-C: want exit 130, got %d:\n%q", code, out)
	}
	i := strings.Index(out, "grsync: stopping")
	if i < 0 {
		t.Fatalf("no stop message:\n%q", out)
	}
	if !strings.HasSuffix(out[:i], "\r\x1b[K") {
		t.Errorf("the stop message must start on a cleared line (the ^C echo and the progress line erased), got %q", out[max(0, i-120):i+20])
	}
	if !strings.Contains(out[i:], "interrupted (run it again to finish)") {
		t.Errorf("the summary should say the sync was interrupted:\n%q", out[i:])
	}
	for _, l := range draws(out) {
		if ui.Width(l) > 77 {
			t.Errorf("a progress line leaves no room for the ^C echo: %q", l)
		}
	}
}

// SIGTERM (systemctl stop, a shutdown) stops as Ctrl-C does, with exit 143.
func TestSigtermExits143(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	manyFiles(t, src, 100, 200<<10)
	key := newKey(t, dir)
	cmd, out, done := startSync(t, dir, "--local-store", "st", "--encryption-key-file", key, "--jobs", "1", "--pack-size", "1M", "--bwlimit", "2M", src)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if code := exitCode(err); code != 143 || !strings.Contains(out.String(), "interrupted") {
			t.Fatalf("SIGTERM: want exit 143 and an interrupted summary, got exit %d:\n%s", code, out)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("grsync did not stop after SIGTERM")
	}
}

// hostileName is a file name that would clear the screen and split a
// summary line if printed raw.
const hostileName = "evil\x1b[2Jname\nsecond.txt"

// noRawControl fails when out holds an escape character or a line that
// starts with the second half of hostileName.
func noRawControl(t *testing.T, what, out string) {
	t.Helper()
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("%s printed a raw escape character:\n%q", what, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "second.txt") {
			t.Errorf("%s let a file name split a line:\n%q", what, out)
		}
	}
}

// Every name printed is escaped (issue 8, item 15): the sync's log, the
// dry-run listing, restore -n, a restore's failure list, the error log.
// Also: --quiet prints nothing but the errors.
func TestNamesAreEscapedEverywhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	evil := filepath.Join(src, hostileName)
	writeFile(t, evil, randomBytes(t, 3000), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "plain.txt"), []byte("plain"), time.Unix(1700000000, 0))
	key := newKey(t, dir)
	args := []string{"--local-store", "st", "--encryption-key-file", key}

	r := mustRun(t, dir, 0, append(args, "--dry-run", src)...)
	noRawControl(t, "sync --dry-run", r.stdout+r.stderr)
	if !strings.Contains(r.stdout, "would upload "+strconv.Quote(evil)) {
		t.Errorf("a dry run of two files should list them, escaped:\n%s", r)
	}
	r = mustRun(t, dir, 0, append(args, src)...)
	noRawControl(t, "sync", r.stdout+r.stderr)
	r = mustRun(t, dir, 0, append(args, "restore", "--dry-run", "--output", "out")...)
	noRawControl(t, "restore --dry-run", r.stdout+r.stderr)
	if !strings.Contains(r.stdout, "would restore "+strconv.Quote(filepath.Join(dir, "out", evil))) {
		t.Errorf("restore -n should list the escaped name:\n%s", r)
	}

	// Corrupt the hostile file's archive (the larger one): its restore
	// fails and the failure is listed.
	var biggest string
	var size int64
	archives, _ := filepath.Glob(filepath.Join(dir, "st", "archives", "*"))
	for _, a := range archives {
		if fi, err := os.Stat(a); err == nil && !strings.HasSuffix(a, ".json") && fi.Size() > size {
			biggest, size = a, fi.Size()
		}
	}
	b, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(biggest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, dir, 1, append(args, "restore", "--output", "out")...)
	noRawControl(t, "restore with a failure", r.stdout+r.stderr)
	if !strings.Contains(r.stdout, "failed 1 file:\n    "+strconv.Quote(filepath.Join(dir, "out", evil))+": ") {
		t.Errorf("the failure list should name the file, escaped, on one line:\n%s", r)
	}

	// --quiet: no summary, no progress; the error alone, on stderr.
	r = mustRun(t, dir, 1, append(args, "restore", "--quiet", "--output", "out2")...)
	if r.stdout != "" {
		t.Errorf("--quiet printed more than errors on stdout:\n%s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], `evil\x1b[2Jname\nsecond.txt`) {
		t.Errorf("--quiet should print the one error, escaped, and nothing else:\n%s", r)
	}
	r = mustRun(t, dir, 0, append(args, "--quiet", src)...)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("a successful sync with --quiet must print nothing:\n%s", r)
	}
}

// ls: fixed columns, the path last, so a very long path or wide characters
// move no column; the path is quoted and escaped.
func TestLsColumnsFit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	long := filepath.Join(src, strings.Repeat("a very long folder name/", 40), "deep.txt")
	wide := filepath.Join(src, "写真アルバム", "夏休み.jpg")
	short := filepath.Join(src, "s")
	for _, p := range []string{long, wide, short, filepath.Join(src, hostileName)} {
		writeFile(t, p, []byte(p), time.Unix(1700000000, 0))
	}
	mustRun(t, dir, 0, "--local-store", "st", src)
	r := mustRun(t, dir, 0, "ls")
	noRawControl(t, "ls", r.stdout)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	header := lines[0]
	col := strings.Index(header, "PATH")
	rows := 0
	for _, l := range lines[1:] {
		if !strings.Contains(l, `"`) {
			continue // the closing "4 files in ..." line
		}
		rows++
		if strings.Index(l, `"`) != col {
			t.Errorf("the path column starts at %d, not %d like the header:\n%s", strings.Index(l, `"`), col, r.stdout)
		}
		if strings.HasSuffix(l, " ") {
			t.Errorf("a row is padded: %q", l)
		}
		if strings.Contains(l, `/s"`) && len(l) > col+len(strconv.Quote(short))+1 {
			t.Errorf("the short path's row is longer than it needs: %q", l)
		}
	}
	if rows != 4 {
		t.Errorf("ls should list 4 files:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, strconv.Quote(wide)) || !strings.HasSuffix(lines[len(lines)-1], "4 files in local:"+filepath.Join(dir, "st")) {
		t.Errorf("ls should list the wide name as it is, and end with the count:\n%s", r.stdout)
	}
}

// --loglevel DEBUG of an encrypted run logs every store request with its
// duration, and each file's decision, but no key material and no file name
// in a request line.
func TestDebugLogShowsRequestsNotSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "secret-merger-plan.txt"), randomBytes(t, 5000), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "copy-of-plan.txt"), []byte("same"), time.Unix(1700000000, 0))
	writeFile(t, filepath.Join(src, "copy-two.txt"), []byte("same"), time.Unix(1700000000, 0))
	key := newKey(t, dir)
	args := []string{"--local-store", "st", "--encryption-key-file", key, "--loglevel", "DEBUG"}
	first := mustRun(t, dir, 0, append(args, src)...)
	second := mustRun(t, dir, 0, append(args, src)...)
	restore := mustRun(t, dir, 0, append(args, "restore", "--output", "out")...)
	log := first.stderr + second.stderr + restore.stderr

	for _, want := range []string{
		`msg="store request" op=put duration=`,     // each upload
		`msg="store request" op=request duration=`, // each retrieval
		`msg="store request" op=read duration=`,    // each download
		`msg=uploaded path=`, `msg=deduplicated path=`, `msg="unchanged: same size`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the debug log should hold %q:\n%s", want, log)
		}
	}
	keyText, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	id := mustRun(t, dir, 0, "key", "export-age", "--encryption-key-file", key).stdout
	secrets := []string{strings.TrimSpace(string(keyText)), strings.TrimRight(strings.TrimSpace(string(keyText)), "=")}
	for _, l := range strings.Split(id, "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			secrets = append(secrets, l, strings.ToLower(l))
		}
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the debug log holds key material %q", s)
		}
	}
	if strings.Contains(log, "AGE-SECRET") {
		t.Error("the debug log holds an age identity")
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "store request") && (strings.Contains(l, "secret-merger") || strings.Contains(l, "plan.txt")) {
			t.Errorf("a store request line names a file: %s", l)
		}
	}
}

// --loglevel DEBUG against a store that fails now and then (the Glacier
// emulator answers half of the uploads with a 500): each retry the SDK
// makes is logged, and so is each path an --exclude leaves out, with the
// pattern; the AWS secret key and session token never appear.
func TestDebugLogShowsRetriesAndExcludesNotAWSSecrets(t *testing.T) {
	t.Parallel()
	srv, _ := emulator(t, glacieremu.Config{Seed: 1}, "v")
	if err := srv.SetFault(glacieremu.OpUploadArchive, glacieremu.Fault{ErrorRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	const secret, token = "grsyncTESTsecretACCESSkey0123456789abcdefXY", "grsyncTESTsessionTOKEN0123456789"
	env := []string{"AWS_ENDPOINT_URL=" + srv.URL(), "AWS_ACCESS_KEY_ID=AKIDGRSYNCTEST", "AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_SESSION_TOKEN=" + token, "AWS_EC2_METADATA_DISABLED=true"}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, n := range []string{"keep.txt", "scratch.tmp", "cache/big.bin", "sub/also.tmp"} {
		writeFile(t, filepath.Join(src, n), randomBytes(t, 3000), time.Unix(1700000000, 0))
	}
	key := newKey(t, dir)
	r := mustRunEnv(t, dir, env, 0, "--vault", "v", "--region", "us-east-1", "--encryption-key-file", key,
		"--loglevel", "DEBUG", "--exclude", "*.tmp", "--exclude", "cache/", src)
	if f := srv.Stats()[glacieremu.OpUploadArchive].Faults; f == 0 {
		t.Fatalf("the emulator injected no fault: the test shows nothing about retries")
	}
	log := r.stdout + r.stderr
	if !strings.Contains(log, "aws sdk: retrying request Glacier/UploadArchive, attempt ") {
		t.Errorf("each retry should be logged at debug level:\n%s", log)
	}
	for _, x := range []struct{ path, pattern string }{
		{filepath.Join(src, "scratch.tmp"), "*.tmp"}, {filepath.Join(src, "sub", "also.tmp"), "*.tmp"}, {filepath.Join(src, "cache"), "cache/"},
	} {
		want := "msg=excluded path=" + x.path + " pattern=" + x.pattern
		if !strings.Contains(log, want) {
			t.Errorf("the debug log should say %q:\n%s", want, log)
		}
	}
	if !strings.Contains(log, "msg=uploaded path="+filepath.Join(src, "keep.txt")) {
		t.Errorf("the debug log should say keep.txt was uploaded:\n%s", log)
	}
	for _, s := range []string{secret, token, secret[:20], token[:20]} {
		if strings.Contains(log, s) {
			t.Errorf("the debug log holds an AWS secret (%q)", s)
		}
	}
}
