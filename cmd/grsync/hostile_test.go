package main

// Hostile and odd inputs, end to end against the real binary: names no
// filesystem tool expects, paths longer than PATH_MAX, deep trees, sparse
// and empty files, FIFOs, sockets and devices, files that change or vanish
// while grsync reads them, permission problems, a full disk and wrong
// command lines. Everything runs against a local store with compression and
// encryption on, and asserts what a user sees: the summary, the exit code,
// and what ls, restore and verify give back.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/grsync/grsync/internal/ui"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hangLimit is how long one grsync run may take before the test calls it a
// hang and kills it: well above the longest run (the first sync of 100,000
// files, about a minute on a 2-core machine).
const hangLimit = 5 * time.Minute

// hostile is one test's folder, key and local store.
type hostile struct {
	dir, key, store string
}

func newHostile(t *testing.T) *hostile {
	t.Helper()
	dir := t.TempDir()
	return &hostile{dir: dir, key: newKey(t, dir), store: filepath.Join(dir, "store")}
}

// syncArgs is a sync of srcs with compression and encryption on.
func (h *hostile) syncArgs(srcs ...string) []string {
	return append([]string{"--local-store", h.store, "--compress", "true", "--encrypt", "true",
		"--encryption-key-file", h.key}, srcs...)
}

// restoreArgs restores everything (or paths) under out.
func (h *hostile) restoreArgs(out string, paths ...string) []string {
	return append([]string{"restore", "--encryption-key-file", h.key, "--output", out}, paths...)
}

// run runs grsync in h.dir; see runAs.
func (h *hostile) run(t *testing.T, want int, args ...string) result {
	t.Helper()
	return runAs(t, h.dir, nil, nil, want, args...)
}

// proc is a grsync process started by startGrsync.
type proc struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	ctx      context.Context
	cancel   context.CancelFunc
	args     []string
}

// startGrsync starts grsync in dir with the extra environment env, as the
// user cred when it is not nil. A run longer than hangLimit is killed.
func startGrsync(t *testing.T, dir string, cred *syscall.Credential, env []string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	p := &proc{ctx: ctx, cancel: cancel, args: args}
	p.cmd = exec.CommandContext(ctx, grsyncBin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(cleanEnv(), env...)
	if raceEnabled {
		// A race-detector binary sleeps a second before exiting; races
		// still make it exit with code 66.
		p.cmd.Env = append(p.cmd.Env, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	p.cmd.WaitDelay = 5 * time.Second
	if cred != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting grsync: %v", err)
	}
	return p
}

// wait waits for the process and fails the test if it hung, panicked or
// could not run at all.
func (p *proc) wait(t *testing.T) result {
	t.Helper()
	defer p.cancel()
	err := p.cmd.Wait()
	r := result{stdout: p.out.String(), stderr: p.err.String()}
	var ee *exec.ExitError
	switch {
	case p.ctx.Err() != nil:
		t.Fatalf("grsync %s hung (killed after %v):\n%s", quoteArgs(p.args), hangLimit, r)
	case errors.As(err, &ee) && !ee.Exited():
		t.Fatalf("grsync %s died: %v\n%s", quoteArgs(p.args), err, r)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running grsync: %v", err)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("grsync panicked or raced:\n%s", r)
	}
	return r
}

// runAs runs grsync in dir (as cred when not nil, with the extra
// environment env) and fails the test unless it exits with want.
func runAs(t *testing.T, dir string, cred *syscall.Credential, env []string, want int, args ...string) result {
	t.Helper()
	r := startGrsync(t, dir, cred, env, args...).wait(t)
	if r.code != want {
		t.Fatalf("grsync %s: want exit %d, got:\n%s", quoteArgs(args), want, r)
	}
	return r
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
		if len(q[i]) > 200 {
			q[i] = q[i][:200] + "…"
		}
	}
	return strings.Join(q, " ")
}

// wantSummary asserts that stdout holds every line fragment in want.
func wantSummary(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("the output should say %q:\n%s", w, r)
		}
	}
}

// under is where restore --output out puts the backed-up path p.
func under(out, p string) string { return filepath.Join(out, strings.TrimPrefix(p, "/")) }

// noTemporaryFiles asserts that no restore temporary file is left below root.
func noTemporaryFiles(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".grsync-") {
			t.Errorf("temporary file left behind: %q", p)
		}
		return nil
	})
}

// requireRootFor skips (or fails, with GRSYNC_REQUIRE_TOOLS=1) a test that
// needs root, saying so loudly.
func requireRootFor(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	skipOrFail(t, what+" needs root (tests run as uid "+strconv.Itoa(os.Geteuid())+")")
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("GRSYNC_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s, and GRSYNC_REQUIRE_TOOLS=1", why)
	}
	t.Logf("SKIPPED, NOT TESTED: %s", why)
	t.Skip(why)
}

func TestHostileNames(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	names := []string{
		"not-utf8-\xff\xfe\xfd",
		"latin1-caf\xe9.txt",
		"new\nline",
		"pipe|in|name",
		`double"quote`,
		"single'quote",
		"-leading-dash",
		"--two-dashes",
		`back\slash`,
		"glob[ab]*?.txt",
		"tab\tin name",
		" leading space",
		"trailing space ",
		"$(touch pwned)`x`",
		"%s%n%x",
		"\x01\x02\x7f control",
		"\u202eright-to-left override",
		"emoji 😀",
		"..two-dots",
		"*",
		strings.Repeat("n", 255),       // the longest name Linux allows
		strings.Repeat("é", 127) + "x", // 255 bytes of two-byte characters
		strings.Repeat("\xff", 255),    // 255 bytes, none of them UTF-8
	}
	folders := []string{"", "folder [1] *?", "folder-\xff", "-dash-folder", "new\nline folder"}
	base := time.Date(2021, 2, 3, 4, 5, 6, 789, time.UTC)
	n := 0
	for _, f := range folders {
		for _, name := range names {
			p := filepath.Join(src, f, name)
			writeFile(t, p, []byte(fmt.Sprintf("%q in %q\n", name, f)), base.Add(time.Duration(n)*time.Minute))
			n++
		}
	}
	if err := os.Chmod(filepath.Join(src, "new\nline"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      "+ui.Count(n, "file"), "failed        0 files")
	r = h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      0 files", "unchanged     "+ui.Count(n, "file"))

	ls := h.run(t, 0, "ls")
	for _, f := range folders {
		for _, name := range names {
			if q := strconv.Quote(filepath.Join(src, f, name)); !strings.Contains(ls.stdout, q) {
				t.Errorf("ls should list %s", q)
			}
		}
	}

	out := filepath.Join(h.dir, "out")
	r = h.run(t, 0, h.restoreArgs(out)...)
	wantSummary(t, r, "restored "+ui.Count(n, "file"))
	sameTree(t, src, under(out, src), checkMeta)

	// Restoring over the same files with --overwrite replaces each of them
	// through a temporary file beside it; none is left.
	r = h.run(t, 0, append(h.restoreArgs(out), "--overwrite")...)
	wantSummary(t, r, "restored "+ui.Count(n, "file"))
	sameTree(t, src, under(out, src), checkMeta)
	noTemporaryFiles(t, out)

	// One odd path, and one starting with "-" (after "--"), restore alone.
	one := filepath.Join(h.dir, "one")
	h.run(t, 0, append(h.restoreArgs(one), "--", filepath.Join("src", "new\nline folder", "-leading-dash"), filepath.Join(src, "pipe|in|name"))...)
	got := treeFiles(t, one)
	if len(got) != 2 {
		t.Errorf("restoring two named paths should give exactly those two files, got %v", got)
	}
}

func TestHostileSourceStartingWithDash(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	writeFile(t, filepath.Join(h.dir, "-x", "inside.txt"), []byte("dash folder"), time.Unix(1600000000, 0))

	// Without "--", -x is an unknown flag: a usage error, nothing uploaded.
	r := h.run(t, 2, h.syncArgs("-x")...)
	if !strings.Contains(r.stderr, "unknown shorthand flag") {
		t.Errorf("-x without -- should be reported as an unknown flag:\n%s", r)
	}
	if _, err := os.Stat(h.store); err == nil {
		t.Error("a usage error created the store")
	}

	r = h.run(t, 0, append(h.syncArgs(), "--", "-x")...)
	wantSummary(t, r, "uploaded      1 file")
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out)...)
	sameTree(t, filepath.Join(h.dir, "-x"), under(out, filepath.Join(h.dir, "-x")), checkMeta)
}

// Long paths: folders nested beyond PATH_MAX (4096 bytes) can only be made
// and read step by step, relative to an open folder, as these helpers do.

// randomName is n random characters of the base64url alphabet: names that
// do not compress, so the archive metadata of a long path needs
// continuation archives.
func randomName(rng *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// inDeepDir runs fn with a descriptor of root/comps..., creating the
// folders when create is set, however long the path.
func inDeepDir(t *testing.T, root string, comps []string, create bool, fn func(fd int)) {
	t.Helper()
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", root, err)
	}
	for _, c := range comps {
		if create {
			if err := unix.Mkdirat(fd, c, 0o755); err != nil && err != unix.EEXIST {
				t.Fatalf("mkdir %s...: %v", c[:8], err)
			}
		}
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("open folder %s... below %s: %v", c[:8], root, err)
		}
		fd = next
	}
	defer unix.Close(fd)
	fn(fd)
}

func writeDeep(t *testing.T, root string, comps []string, name string, data []byte, mtime time.Time) {
	t.Helper()
	inDeepDir(t, root, comps, true, func(dfd int) {
		fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o640)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fchmod(fd, 0o640); err != nil {
			t.Fatal(err)
		}
		ts := unix.NsecToTimespec(mtime.UnixNano())
		if err := unix.UtimesNanoAt(dfd, name, []unix.Timespec{ts, ts}, 0); err != nil {
			t.Fatal(err)
		}
	})
}

// readDeep returns the content and stat of root/comps.../name.
func readDeep(t *testing.T, root string, comps []string, name string) ([]byte, unix.Stat_t) {
	t.Helper()
	var data []byte
	var st unix.Stat_t
	inDeepDir(t, root, comps, false, func(dfd int) {
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open %s... below %s: %v", name[:8], root, err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		if data, err = io.ReadAll(f); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
	})
	return data, st
}

func TestHostileLongPaths(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type deepFile struct {
		comps []string
		name  string
		size  int // of its path
		data  []byte
		mtime time.Time
	}
	var comps []string
	var files []deepFile
	pathLen := func(name string) int {
		return len(src) + 1 + len(strings.Join(comps, "/")) + 1 + len(name)
	}
	add := func(name string) {
		files = append(files, deepFile{comps: append([]string(nil), comps...), name: name, size: pathLen(name),
			data: []byte(randomName(rng, 100+len(files))), mtime: time.Unix(1500000000+int64(len(files)), int64(len(files)))})
	}
	for pathLen("f") < 1100 {
		comps = append(comps, randomName(rng, 200))
	}
	add("f") // a path over 1024 bytes: more than one archive description
	// Paths of exactly 4095 bytes (the longest one system call takes) and
	// 4096 bytes (the shortest it refuses).
	for pathLen("f") < 4095-250 {
		comps = append(comps, randomName(rng, 200))
	}
	comps = append(comps, randomName(rng, 4095-pathLen("")-2))
	add("x")  // 4095 bytes
	add("xy") // 4096 bytes
	for pathLen("f") < 4400 {
		comps = append(comps, randomName(rng, 250))
	}
	add(randomName(rng, 255)) // over 4096 bytes, with the longest name allowed
	add("short")
	for _, f := range files {
		writeDeep(t, src, f.comps, f.name, f.data, f.mtime)
	}
	if files[1].size != 4095 || files[2].size != 4096 {
		t.Fatalf("test setup: paths of %d and %d bytes, want 4095 and 4096", files[1].size, files[2].size)
	}
	for _, f := range files {
		t.Logf("a path of %d bytes", f.size)
	}

	r := h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      "+ui.Count(len(files), "file"), "failed        0 files")
	r = h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "unchanged     "+ui.Count(len(files), "file"))

	check := func(out string) {
		t.Helper()
		root := under(out, src)
		for _, f := range files {
			data, st := readDeep(t, root, f.comps, f.name)
			if !bytes.Equal(data, f.data) {
				t.Errorf("%d-byte path: content differs", f.size)
			}
			if mt := time.Unix(st.Mtim.Sec, st.Mtim.Nsec); !mt.Equal(f.mtime) || st.Mode&0o777 != 0o640 {
				t.Errorf("%d-byte path: mtime %v mode %o, want %v 640", f.size, mt, st.Mode&0o777, f.mtime)
			}
		}
	}
	out := filepath.Join(h.dir, "out")
	r = h.run(t, 0, h.restoreArgs(out)...)
	wantSummary(t, r, "restored "+ui.Count(len(files), "file"))
	check(out)

	// A lost catalogue: the store's version records give every path back,
	// whatever its length (they are inside an object, not in descriptions).
	fresh := filepath.Join(h.dir, "rebuilt.db")
	r = h.run(t, 0, "inventory", "--rebuild", "--db", fresh, "--local-store", h.store, "--encryption-key-file", h.key)
	wantSummary(t, r, fmt.Sprintf("%d file versions added (%d from version records", len(files), len(files)))
	out2 := filepath.Join(h.dir, "out2")
	h.run(t, 0, append(h.restoreArgs(out2), "--db", fresh)...)
	check(out2)

	for _, db := range []string{"glacier.db", fresh} {
		r = h.run(t, 0, "verify", "--db", db, "--encryption-key-file", h.key)
		wantSummary(t, r, "0 missing, 0 unknown, 0 with another size")
	}
}

func TestHostileDeepTreeEmptyAndSparseFiles(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	tree := filepath.Join(h.dir, "tree")
	base := time.Date(2019, 7, 1, 0, 0, 0, 0, time.UTC)
	p := tree
	for i := 1; i <= 20; i++ {
		p = filepath.Join(p, fmt.Sprintf("level-%02d", i))
		writeFile(t, filepath.Join(p, "file.txt"), []byte(fmt.Sprintf("level %d\n", i)), base.Add(time.Duration(i)*time.Hour))
		writeFile(t, filepath.Join(p, "empty"), nil, base.Add(time.Duration(i)*time.Second))
	}
	if err := os.Chmod(filepath.Join(p, "empty"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A sparse file: 200 MiB long, 1 MiB of data in the middle and a few
	// bytes at the end; the rest are holes.
	const sparseSize = 200 << 20
	sparse := filepath.Join(h.dir, "sparse", "disk.img")
	if err := os.MkdirAll(filepath.Dir(sparse), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 1<<20)
	if _, err := f.WriteAt(data, 100<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("end"), sparseSize-3); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// 20 distinct files, 20 empty ones (one upload, 19 recorded against
	// it) and the sparse file.
	r := h.run(t, 0, h.syncArgs(tree, filepath.Dir(sparse))...)
	// Empty files have no content: they are new files, nothing is stored.
	wantSummary(t, r, "uploaded      41 files", "deduplicated  0 files", "failed        0 files")

	out := filepath.Join(h.dir, "out")
	r = h.run(t, 0, h.restoreArgs(out)...)
	wantSummary(t, r, "restored 41 files")
	sameTree(t, tree, under(out, tree), checkMeta)

	// The sparse file comes back byte for byte, and sparse: restore leaves
	// zero blocks as holes.
	restored := under(out, sparse)
	if a, b := fileDigest(t, sparse), fileDigest(t, restored); a != b {
		t.Errorf("the sparse file's content differs after restore")
	}
	src, dst := allocatedKiB(t, sparse), allocatedKiB(t, restored)
	t.Logf("sparse file of %d MiB: %d KiB allocated in the source, %d KiB after restore", sparseSize>>20, src, dst)
	if dst > 2*src+64 {
		t.Errorf("the restored sparse file allocates %d KiB, the source %d KiB: holes were filled", dst, src)
	}
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func allocatedKiB(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512 / 1024
}

func TestHostileSpecialFilesSkippedWithoutBlocking(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	writeFile(t, filepath.Join(src, "regular.txt"), []byte("regular"), time.Unix(1600000000, 0))
	writeFile(t, filepath.Join(src, "sub", "file.txt"), []byte("in sub"), time.Unix(1600000001, 0))
	skipped := map[string]string{} // name below src → the reason grsync gives
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	skipped["fifo"] = "FIFO skipped"
	// A FIFO with a writer attached: reading it would block until the
	// writer writes.
	if err := syscall.Mkfifo(filepath.Join(src, "fifo-with-writer"), 0o644); err != nil {
		t.Fatal(err)
	}
	skipped["fifo-with-writer"] = "FIFO skipped"
	wfd, err := unix.Open(filepath.Join(src, "fifo-with-writer"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(wfd)
	l, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	skipped["sock"] = "socket skipped"
	devices := true
	for name, mode := range map[string]uint32{"chardev": unix.S_IFCHR, "blockdev": unix.S_IFBLK} {
		if err := unix.Mknod(filepath.Join(src, name), mode|0o600, int(unix.Mkdev(1, 3))); err != nil {
			devices = false
			t.Logf("SKIPPED, NOT TESTED: device nodes (mknod %s: %v)", name, err)
			continue
		}
		skipped[name] = "device skipped"
	}
	if !devices && os.Getenv("GRSYNC_REQUIRE_TOOLS") == "1" {
		t.Fatal("mknod failed and GRSYNC_REQUIRE_TOOLS=1")
	}
	// Symlinks, however odd, are backed up as symlinks, never followed.
	links := map[string]string{
		"loop-a": "loop-b", "loop-b": "loop-a", "self": "self", "sub/up": "..", "sub/here": ".",
		"dangling": "/nonexistent/file", "to-fifo": "fifo", "to-regular": "regular.txt",
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}

	// A symlink named as SRC is followed, so a symlink loop named as SRC
	// leads nowhere: a usage error, nothing uploaded.
	r := h.run(t, 2, h.syncArgs(src, filepath.Join(src, "loop-a"))...)
	wantStderr(t, r, "leads nowhere")
	// A FIFO named as SRC is skipped too (one inside another SRC is
	// walked once, with it).
	lone := filepath.Join(h.dir, "lone-fifo")
	if err := syscall.Mkfifo(lone, 0o644); err != nil {
		t.Fatal(err)
	}
	r = h.run(t, 0, h.syncArgs(src, lone, filepath.Join(src, "fifo"))...)
	wantSummary(t, r, "uploaded      2 files", fmt.Sprintf("symlinks      %d symlinks recorded", len(links)),
		fmt.Sprintf("skipped       %d", len(skipped)+1), "failed        0 files")
	for name, reason := range skipped {
		line := fmt.Sprintf("msg=%q path=%s", reason, filepath.Join(src, name))
		if !strings.Contains(r.stderr, line) {
			t.Errorf("the log should report %s", line)
		}
	}
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out)...)
	sameTree(t, src, under(out, src), checkMeta)
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(under(out, src), p)
		if target, ok := links[rel]; !ok || d.Type() != fs.ModeSymlink {
			t.Errorf("restore made a %v: %s", d.Type(), p)
		} else if got, _ := os.Readlink(p); got != target {
			t.Errorf("symlink %s restored pointing to %q, want %q", rel, got, target)
		}
		return nil
	})
}

// Files that change under grsync. grsync gives no hook into its timing, so
// these tests watch the process instead: /proc/PID/fdinfo tells how far
// grsync has read an open file, and the test changes the file while it is
// in the middle of it. The assertions hold whichever way a race goes.

// readingAt returns how far process pid has read its open descriptor of
// path, and false when it does not have the file open.
func readingAt(pid int, path string) (int64, bool) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || l != path {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(info))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "pos:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n, true
			}
		}
	}
	return 0, false
}

// waitReading waits until grsync is reading path between from and to
// bytes; false if it never was (it finished first, or took too long).
func waitReading(t *testing.T, p *proc, path string, from, to int64) bool {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if p.cmd.ProcessState != nil {
			return false
		}
		if pos, ok := readingAt(p.cmd.Process.Pid, path); ok && pos > from && pos < to {
			return true
		}
		time.Sleep(100 * time.Microsecond)
	}
	return false
}

func TestHostileFileChangesWhileRead(t *testing.T) {
	t.Parallel()
	size := 48 << 20
	if raceEnabled {
		size = 16 << 20 // the race detector reads ten times slower
	}
	for _, c := range []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, int64(size/3)); err != nil {
				t.Fatal(err)
			}
		}},
		{"grown", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(bytes.Repeat([]byte("more"), 1<<18)); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewritten in place", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{'!'}, 4096), int64(size-4096)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHostile(t)
			src := filepath.Join(h.dir, "src")
			big := filepath.Join(src, "big.bin")
			original := randomBytes(t, size)
			writeFile(t, big, original, time.Unix(1600000000, 0))
			writeFile(t, filepath.Join(src, "small.txt"), []byte("small"), time.Unix(1600000000, 0))

			p := startGrsync(t, h.dir, nil, nil, h.syncArgs(src)...)
			during := waitReading(t, p, big, 1<<20, int64(size/2))
			if during {
				c.change(t, big)
			}
			r := p.wait(t)
			if r.code != 0 {
				t.Fatalf("a file that changed once while read is tried again at the end; want exit 0:\n%s", r)
			}
			out := filepath.Join(h.dir, "out-first")
			h.run(t, 0, h.restoreArgs(out)...)
			got, _ := os.ReadFile(under(out, big))
			now, _ := os.ReadFile(big)
			if strings.Contains(r.stderr, "changed while it was read; trying again at the end of the run") {
				// Read again after everything else, as it is now: what is
				// recorded is the file after the change, never a mix.
				t.Logf("the file changed while grsync read it, and was read again")
				wantSummary(t, r, "uploaded      2 files", "failed        0 files")
				if !bytes.Equal(got, now) {
					t.Error("the restored file is not the file as it was read the second time")
				}
				wantSummary(t, h.run(t, 0, h.syncArgs(src)...), "uploaded      0 files", "unchanged     2 files")
			} else {
				// grsync finished reading (and checking) before the change
				// landed: what it recorded must be the whole original.
				t.Logf("grsync finished reading before the change (seen reading: %v)", during)
				if !bytes.Equal(got, original) {
					t.Error("the restored file is not the content grsync read")
				}
				wantSummary(t, h.run(t, 0, h.syncArgs(src)...), "uploaded      1 file", "failed        0 files")
			}
			// Whatever was stored is recorded: nothing in the store is unknown.
			wantSummary(t, h.run(t, 0, "verify"), "0 missing, 0 unknown")
			out = filepath.Join(h.dir, "out")
			h.run(t, 0, h.restoreArgs(out)...)
			sameTree(t, src, under(out, src), checkMeta)
		})
	}
}

func TestHostileFileDeletedBetweenWalkAndRead(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	small := filepath.Join(h.dir, "small")
	old := filepath.Join(small, "old.txt")
	writeFile(t, old, []byte("backed up, then changed, then deleted"), time.Unix(1600000000, 0))
	writeFile(t, filepath.Join(small, "stays.txt"), []byte("stays"), time.Unix(1600000000, 0))
	h.run(t, 0, h.syncArgs(small)...)

	writeFile(t, old, []byte("changed"), time.Unix(1600000100, 0))
	young := filepath.Join(small, "new.txt")
	writeFile(t, young, []byte("new, then deleted"), time.Unix(1600000100, 0))
	bigDir := filepath.Join(h.dir, "big")
	big := filepath.Join(bigDir, "big.bin")
	writeFile(t, big, randomBytes(t, 48<<20), time.Unix(1600000000, 0))

	// One job: big/ is walked first, so its file is read first; the walk
	// of small/ has long finished while big.bin is being read, and the two
	// changed files wait their turn. They are deleted then.
	p := startGrsync(t, h.dir, nil, nil, append(h.syncArgs(bigDir, small), "--jobs", "1")...)
	if !waitReading(t, p, big, 1<<20, 40<<20) {
		p.wait(t)
		t.Fatal("grsync was never seen reading big.bin")
	}
	for _, f := range []string{old, young} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	r := p.wait(t)
	// A file that vanished is gone, like one deleted before the walk: not
	// a failure; a catalogued one is marked deleted.
	if r.code != 0 {
		t.Fatalf("a file deleted before it was read is not a failure:\n%s", r)
	}
	wantSummary(t, r, "uploaded      1 file", "unchanged     1 file", "deleted       1 file", "failed        0 files")
	for _, f := range []string{old, young} {
		if !strings.Contains(r.stderr, `msg="deleted before it could be read; nothing to back up" path=`+f) {
			t.Errorf("the log should say %s vanished:\n%s", f, r)
		}
	}
	ls := h.run(t, 0, "ls", "--deleted")
	if !strings.Contains(ls.stdout, "old.txt\" (deleted)") || strings.Contains(ls.stdout, "new.txt") || !strings.Contains(ls.stdout, "stays.txt") {
		t.Errorf("the vanished files must be deleted or absent in the catalogue, the other kept:\n%s", ls.stdout)
	}
}

func TestHostileFolderDeletedDuringWalk(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	const folders, perFolder = 200, 3
	content := map[string][]byte{}
	for i := range folders {
		for j := range perFolder {
			p := filepath.Join(src, fmt.Sprintf("d%03d", i), fmt.Sprintf("f%d", j))
			content[p] = []byte(fmt.Sprintf("folder %d file %d\n", i, j))
			writeFile(t, p, content[p], time.Unix(1600000000, int64(i)))
		}
	}
	doomed := func(p string) bool { // the odd folders are deleted
		i, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "d"))
		return i%2 == 1
	}

	p := startGrsync(t, h.dir, nil, nil, h.syncArgs(src)...)
	// As soon as the walk has a folder open, delete half of them.
	deadline := time.Now().Add(time.Minute)
	for walking := false; !walking && time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p.cmd.Process.Pid, e.Name()))
			walking = walking || strings.HasPrefix(l, src+"/d")
		}
	}
	for i := 1; i < folders; i += 2 {
		if err := os.RemoveAll(filepath.Join(src, fmt.Sprintf("d%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// A folder or file deleted during the walk, before grsync read it or
	// while it did, is simply gone: not a failure, not recorded.
	r := p.wait(t)
	if r.code != 0 {
		t.Fatalf("deleted folders are not failures:\n%s", r)
	}
	wantSummary(t, r, "failed        0 files")
	ls := h.run(t, 0, "ls")
	backedUpDoomed := 0
	for p := range content {
		listed := strings.Contains(ls.stdout, strconv.Quote(p))
		switch {
		case !doomed(p) && !listed:
			t.Errorf("%s was never deleted but is not backed up", p)
		case doomed(p) && listed:
			backedUpDoomed++
		}
	}
	t.Logf("of %d files in deleted folders, %d were backed up before their folder went, %d vanished after the walk found them",
		folders/2*perFolder, backedUpDoomed, strings.Count(r.stderr, "deleted before it could be read"))
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out)...)
	for rel := range treeFiles(t, out) {
		orig := "/" + rel
		if want, ok := content[orig]; !ok || !bytes.Equal(readOrNil(filepath.Join(out, rel)), want) {
			t.Errorf("restored %s, which was never backed up as such", orig)
		}
	}
	// The next run records the deleted files as deleted and is clean.
	r = h.run(t, 0, h.syncArgs(src)...)
	if backedUpDoomed > 0 {
		wantSummary(t, r, "deleted       "+ui.Count(backedUpDoomed, "file"))
	}
	wantSummary(t, r, "failed        0 files")
}

// nobody is the unprivileged user the permission test runs grsync as.
func nobody() *syscall.Credential { return &syscall.Credential{Uid: 65534, Gid: 65534} }

func TestHostilePermissionDenied(t *testing.T) {
	t.Parallel()
	requireRootFor(t, "running grsync as another user (uid 65534)")
	h := newHostile(t)
	// The unprivileged user must reach the binary, the test folder, the
	// key and the catalogue.
	for _, d := range []string{filepath.Dir(grsyncBin), filepath.Dir(h.dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(h.dir, "src")
	mtime := time.Unix(1600000000, 0)
	for _, n := range []string{"open/a", "open/b", "later-closed/c", "later-unsearchable/d", "closed/e", "secret"} {
		writeFile(t, filepath.Join(src, n), []byte(n), mtime)
	}
	err := filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Owned by root, no access for others: a file and a folder.
	lockOut := func(p string, mode os.FileMode) {
		t.Helper()
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	lockOut(filepath.Join(src, "secret"), 0o000)
	lockOut(filepath.Join(src, "closed"), 0o000)
	probe := exec.Command(grsyncBin, "--help")
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: nobody()}
	if out, err := probe.CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("uid 65534 cannot run grsync here: %v: %s", err, out))
	}

	r := runAs(t, h.dir, nobody(), nil, 1, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      4 files", "failed        2 files",
		filepath.Join(src, "secret")+": cannot open: open "+filepath.Join(src, "secret")+": permission denied",
		filepath.Join(src, "closed")+": cannot read: open "+filepath.Join(src, "closed")+": permission denied")

	// Folders that were backed up become unreadable: their files are
	// reported, and not taken for deleted.
	lockOut(filepath.Join(src, "later-closed"), 0o000)
	lockOut(filepath.Join(src, "later-unsearchable"), 0o444) // names listable, files not reachable
	r = runAs(t, h.dir, nobody(), nil, 1, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      0 files", "failed        4 files",
		filepath.Join(src, "later-unsearchable", "d")+": cannot read: lstat d: permission denied")
	if strings.Contains(r.stdout, "deleted ") {
		t.Errorf("unreadable files must not be marked deleted:\n%s", r)
	}
	ls := runAs(t, h.dir, nobody(), nil, 0, "ls")
	for _, n := range []string{"later-closed/c", "later-unsearchable/d"} {
		if q := strconv.Quote(filepath.Join(src, n)); !strings.Contains(ls.stdout, q+"\n") {
			t.Errorf("ls should still list %s as backed up:\n%s", q, ls.stdout)
		}
	}

	out := filepath.Join(h.dir, "out")
	r = runAs(t, h.dir, nobody(), nil, 0, h.restoreArgs(out)...)
	wantSummary(t, r, "restored 4 files")
	for _, n := range []string{"open/a", "open/b", "later-closed/c", "later-unsearchable/d"} {
		if b := readOrNil(under(out, filepath.Join(src, n))); string(b) != n {
			t.Errorf("%s restored as %q", n, b)
		}
	}

	// A destination the user cannot write to: every file fails clearly.
	ro := filepath.Join(h.dir, "read-only")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	r = runAs(t, h.dir, nobody(), nil, 1, h.restoreArgs(ro)...)
	wantSummary(t, r, "restored 0 files", "failed 4 files", "permission denied")
	if got := treeFiles(t, ro); len(got) != 0 {
		t.Errorf("nothing should be written to a read-only destination: %v", got)
	}
}

func TestHostileHundredThousandFilesInOneFolder(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "one-folder")
	files, contents := 100000, 100
	if n, err := strconv.Atoi(os.Getenv("GRSYNC_FOLDER_FILES")); err == nil && n >= contents {
		files = n
	}
	if raceEnabled {
		files = 1000 // a sync under the race detector takes 7 ms a file
		t.Logf("race detector on: %d files instead of 100,000", files)
	}
	mtime := time.Unix(1600000000, 0)
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		p := filepath.Join(src, fmt.Sprintf("file-%06d.txt", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("content %d\n", i%contents)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// 100 distinct contents: 100 uploads and 99,900 files recorded against
	// them, which keeps the test short; a sync of 10,000 distinct small
	// files takes about 18 s on a 2-core machine.
	timed := func(what string, args ...string) result {
		start := time.Now()
		r := h.run(t, 0, args...)
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
		return r
	}
	r := timed("sync", append(h.syncArgs(src), "--loglevel", "ERROR")...)
	wantSummary(t, r, "uploaded      100 files", "deduplicated  "+ui.Count(files-contents, "file"), "failed        0 files")
	r = timed("no-op re-sync", append(h.syncArgs(src), "--loglevel", "ERROR")...)
	wantSummary(t, r, "unchanged     "+ui.Count(files, "file"))

	out := filepath.Join(h.dir, "out")
	r = timed("restore", append(h.restoreArgs(out), "--loglevel", "ERROR")...)
	wantSummary(t, r, "restored "+ui.Count(files, "file"))
	ents, err := os.ReadDir(under(out, src))
	if err != nil || len(ents) != files {
		t.Fatalf("want %d restored files, got %d (%v)", files, len(ents), err)
	}
	for i := range files {
		name := fmt.Sprintf("file-%06d.txt", i)
		b, err := os.ReadFile(filepath.Join(under(out, src), name))
		if err != nil || string(b) != fmt.Sprintf("content %d\n", i%contents) {
			t.Fatalf("%s restored wrong: %q %v", name, b, err)
		}
	}
}

func TestHostileDiskFullDuringRestore(t *testing.T) {
	t.Parallel()
	requireRootFor(t, "mounting a small tmpfs")
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	want := map[string][]byte{}
	for i := range 6 {
		want[fmt.Sprintf("big-%d.bin", i)] = randomBytes(t, 700<<10)
	}
	for i := range 3 {
		want[fmt.Sprintf("tiny-%d.txt", i)] = []byte(fmt.Sprintf("tiny %d", i))
	}
	for n, b := range want {
		writeFile(t, filepath.Join(src, n), b, time.Unix(1600000000, 0))
	}
	h.run(t, 0, h.syncArgs(src)...)

	disk := filepath.Join(h.dir, "small-disk")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", disk).CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("cannot mount a tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", disk, err, out)
		}
	})

	// 4.2 MB to restore onto 2 MiB.
	r := h.run(t, 1, h.restoreArgs(disk)...)
	if !strings.Contains(r.stdout, "no space left on device") {
		t.Errorf("the failures should name the full disk:\n%s", r)
	}
	got := treeFiles(t, under(disk, src))
	for n := range got {
		if !bytes.Equal(readOrNil(filepath.Join(under(disk, src), n)), want[n]) {
			t.Errorf("%s is under its final name but not complete and correct", n)
		}
	}
	wantSummary(t, r, "restored "+ui.Count(len(got), "file"), "failed "+ui.Count(len(want)-len(got), "file"))
	if len(got) == 0 {
		t.Errorf("the files that fit should be restored:\n%s", r)
	}
	noTemporaryFiles(t, disk)
}

func readOrNil(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

// snapshot describes every file below dir: name, mode, size, mtime and
// content hash.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d %v", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			desc += " " + fileDigest(t, p)
		}
		m[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHostileBadCommandLines(t *testing.T) {
	t.Parallel()
	// An S3 endpoint that counts requests: a bad storage class must be
	// refused before any.
	var requests atomic.Int64
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer s3.Close()
	awsEnv := []string{"AWS_ENDPOINT_URL=" + s3.URL, "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_REGION=us-east-1"}

	// One good backup that every case starts from, with a new file that
	// a bad command must not upload.
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	writeFile(t, filepath.Join(src, "a"), []byte("a"), time.Unix(1600000000, 0))
	h.run(t, 0, h.syncArgs(src)...)
	writeFile(t, filepath.Join(src, "new"), []byte("new"), time.Unix(1600000000, 0))
	writeFile(t, filepath.Join(h.dir, "src2", "b"), []byte("b"), time.Unix(1600000000, 0))

	target := []string{"--local-store", h.store, "--encryption-key-file", h.key}
	sync := func(extra ...string) []string {
		return append(append(append([]string(nil), target...), extra...), "src")
	}
	restore := func(extra ...string) []string {
		return append([]string{"restore", "--encryption-key-file", h.key, "--output", "o"}, extra...)
	}
	cases := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"jobs 0", sync("--jobs", "0"), []string{"invalid --jobs 0", "1 to 64"}},
		{"jobs negative", sync("--jobs", "-3"), []string{"invalid --jobs -3"}},
		{"jobs too many", sync("--jobs", "65"), []string{"invalid --jobs 65"}},
		{"jobs not a number", sync("--jobs", "x"), []string{`invalid argument "x" for "--jobs"`}},
		{"jobs without value", append(append([]string(nil), target...), "src", "--jobs"), []string{"flag needs an argument", "--jobs"}},
		{"part size 3 MiB", sync("--part-size", "3145728"), []string{`invalid --part-size "3145728"`, "power of two"}},
		{"part size 0", sync("--part-size", "0"), []string{`invalid --part-size "0"`}},
		{"part size 8 GiB", sync("--part-size", "8589934592"), []string{`invalid --part-size "8589934592"`}},
		{"part size not a number", sync("--part-size", "1MB"), []string{`invalid --part-size "1MB"`}},
		{"encrypt maybe", sync("--encrypt", "maybe"), []string{"not a boolean"}},
		{"days negative", restore("--days", "-1"), []string{"invalid --days -1"}},
		{"days not a number", restore("--days", "x"), []string{`invalid argument "x" for "--days"`}},
		{"poll not a duration", restore("--poll", "x"), []string{`invalid argument "x" for "--poll"`}},
		{"poll zero", restore("--poll", "0"), []string{"invalid --poll 0s"}},
		{"poll negative", restore("--poll", "-5s"), []string{"invalid --poll -5s"}},
		{"inventory poll zero", []string{"inventory", "--poll", "0s"}, []string{"invalid --poll 0s"}},
		{"verify poll negative", []string{"verify", "--poll", "-1m"}, []string{"invalid --poll -1m0s"}},
		{"tier unknown", restore("--tier", "Fastest"), []string{`invalid --tier "Fastest"`}},
		{"at unknown", restore("--at", "last tuesday"), []string{`invalid --at "last tuesday"`}},
		{"output and in-place", restore("--in-place"), []string{"--output and --in-place both given"}},
		{"storage class unknown", []string{"--bucket", "b", "--region", "us-east-1", "--storage-class", "X", "--encryption-key-file", h.key, "src"}, []string{`unknown storage class "X"`, "DEEP_ARCHIVE"}},
		{"local store and vault", []string{"--local-store", h.store, "--vault", "v", "--region", "r", "src"}, []string{"conflicting targets"}},
		{"vault and bucket", []string{"--vault", "v", "--region", "r", "--bucket", "b", "src"}, []string{"conflicting targets"}},
		{"all three targets", []string{"--local-store", h.store, "--vault", "v", "--region", "r", "--bucket", "b", "src"}, []string{"conflicting targets"}},
		{"a missing SRC among good ones", append(append([]string(nil), target...), "src", "missing", "src2"), []string{"SRC missing does not exist", "nothing was uploaded"}},
		{"a dash SRC without --", append(append([]string(nil), target...), "src", "-x"), []string{"unknown shorthand flag: 'x'"}},
		{"exclude malformed", sync("--exclude", "[abc"), []string{`bad exclude pattern "[abc"`}},
		{"exclude-from missing", sync("--exclude-from", "no-such-file"), []string{"no-such-file"}},
		{"verify with an argument", []string{"verify", "extra"}, []string{`unknown command "extra" for "grsync verify"`, "grsync verify --help"}},
		{"inventory with an argument", []string{"inventory", "--rebuild", "extra"}, []string{`unknown command "extra" for "grsync inventory"`}},
		{"uploads list with an argument", []string{"uploads", "list", "extra"}, []string{"grsync uploads list --help"}},
		{"keygen with two files", []string{"keygen", "k1", "k2"}, []string{"accepts at most 1 arg"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, h.dir)
			requests.Store(0)
			r := runAs(t, h.dir, nil, awsEnv, 2, c.args...)
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr should say %q:\n%s", w, r)
				}
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("a usage error sent %d requests", n)
			}
			after := snapshot(t, h.dir)
			for p, d := range after {
				if before[p] != d {
					t.Errorf("a usage error changed or created %s", p)
				}
			}
			for p := range before {
				if _, ok := after[p]; !ok {
					t.Errorf("a usage error removed %s", p)
				}
			}
		})
	}
}
