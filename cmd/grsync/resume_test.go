package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/testutil/moto"
	"github.com/grsync/grsync/internal/ui"
)

// resumeMiB is the size of the file the resume tests interrupt: 256 MiB by
// default (CI), GRSYNC_RESUME_MIB=2048 for the 2 GiB figure of
// docs/RELIABILITY.md.
func resumeMiB() int64 {
	if n, err := strconv.ParseInt(os.Getenv("GRSYNC_RESUME_MIB"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 256
}

// writeRandomFile writes n incompressible bytes to p and returns their
// SHA-256 in hex, without holding them in memory.
func writeRandomFile(t *testing.T, p string, n int64, seed uint64) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s [32]byte
	s[0] = byte(seed)
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8(s), n); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// partBytes is what the emulator has read of upload requests so far.
func partBytes(srv *glacieremu.Server) int64 {
	st := srv.Stats()
	return st[glacieremu.OpUploadMultipartPart].BytesIn + st[glacieremu.OpUploadArchive].BytesIn
}

// killWhen starts grsync with args and kills it with SIGKILL as soon as
// cond holds (polled every 5 ms); it fails the test if grsync ends first.
func killWhen(t *testing.T, dir string, env []string, cond func() bool, args ...string) {
	t.Helper()
	cmd := exec.Command(grsyncBin, args...)
	cmd.Dir, cmd.Env = dir, append(cleanEnv(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			t.Fatalf("grsync ended (%v) before it could be interrupted:\n%s", err, out.String())
		case <-tick.C:
			if cond() {
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return
			}
		}
	}
}

// A large file's upload to a vault, killed (SIGKILL) at about 70%: the
// next run sends again only what no stored pack holds (the chunks in packs
// the killed run completed are not sent again; the pack in flight is), the
// upload the killed run left open is aborted, and the file restores
// identical. The emulator counts the bytes it receives.
func TestResumeInterruptedUploadToVault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, env := emulator(t, glacieremu.Config{Dir: t.TempDir()}, "v")
	size := resumeMiB() << 20
	src := filepath.Join(dir, "src", "big.bin")
	want := writeRandomFile(t, src, size, 1)
	key := newKey(t, dir)
	const pack = 16 << 20
	args := []string{"--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, "--pack-size", "16M", filepath.Dir(src)}

	killWhen(t, dir, env, func() bool { return partBytes(srv) >= size*7/10 }, args...)
	// A pack in flight is a multipart upload once its first two parts are
	// read (the vault store sends a pack smaller than that in one request).
	// The kill leaves at most two open: the pack being written and the one
	// before it, whose upload may not have been completed yet. The list
	// says what each held.
	open := 0
	r := mustRunEnv(t, dir, env, 0, "uploads", "list")
	for n := 2; n >= 0; n-- {
		if strings.Contains(r.stdout, ui.Count(n, "unfinished upload")+" in ") {
			open = n
			break
		}
		if n == 0 {
			t.Errorf("the kill left more than the packs in flight open:\n%s", r)
		}
	}
	if open > 0 && strings.Count(r.stdout, "left by an interrupted sync (\"pack ") != open {
		t.Errorf("uploads list must say what each interrupted upload held:\n%s", r)
	}
	before := partBytes(srv)
	start := time.Now()
	r = mustRunEnv(t, dir, env, 0, args...)
	took := time.Since(start)
	resent := partBytes(srv) - before
	t.Logf("%d MiB file: killed after the vault read %d MiB (%.0f%%); the next run sent %d MiB (%.1f%% of the file) in %v",
		size>>20, before>>20, 100*float64(before)/float64(size), resent>>20, 100*float64(resent)/float64(size), took.Round(time.Millisecond))
	if open > 0 && !strings.Contains(r.stderr, "aborted "+ui.Count(open, "unfinished upload")+" left by an interrupted run") {
		t.Errorf("the killed run's open upload should be aborted:\n%s", r)
	}
	if resent >= size/2 {
		t.Errorf("the next run sent %d bytes again, want less than half of the %d-byte file", resent, size)
	}
	// What the vault had not read when grsync died, plus the packs in
	// flight: the one being written and the one before it, whose last
	// parts the vault may have read before its upload was completed and
	// recorded (neither is held; a pack may pass its size by up to one
	// chunk, 8 MiB), plus a little for the encoding.
	if limit := size - before + 2*pack + 8<<20 + 1<<20; resent > limit {
		t.Errorf("the next run sent %d bytes, want at most %d: chunks in stored packs were sent again", resent, limit)
	}
	if r := mustRunEnv(t, dir, env, 0, "uploads", "list"); !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Errorf("uploads left open:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, "restore", "--encryption-key-file", key, "--output", "out", "--wait", "--poll", "50ms")
	if got := fileDigest(t, filepath.Join(dir, "out", strings.TrimPrefix(src, "/"))); got != want {
		t.Error("the restored file differs from the original")
	}
}

// An interrupted upload whose file changed before the next run is aborted,
// and the file is stored anew.
func TestResumeAbortsWhenFileChanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, env := emulator(t, glacieremu.Config{Dir: t.TempDir()}, "v")
	const size = 48 << 20
	src := filepath.Join(dir, "src", "big.bin")
	writeRandomFile(t, src, size, 2)
	key := newKey(t, dir)
	args := []string{"--vault", "v", "--region", "us-east-1", "--encryption-key-file", key, filepath.Dir(src)}
	killWhen(t, dir, env, func() bool { return partBytes(srv) >= size/3 }, args...)

	open := strings.Contains(mustRunEnv(t, dir, env, 0, "uploads", "list").stdout, "1 unfinished upload")
	want := writeRandomFile(t, src, size, 3) // same size, new content, new mtime
	r := mustRunEnv(t, dir, env, 0, args...)
	if (open && !strings.Contains(r.stderr, "aborted 1 unfinished upload left by an interrupted run")) || !strings.Contains(r.stdout, "uploaded      1 file") {
		t.Errorf("the interrupted upload must be aborted and the changed file stored:\n%s", r)
	}
	if r := mustRunEnv(t, dir, env, 0, "uploads", "list"); !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Errorf("uploads left open:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, "restore", "--encryption-key-file", key, "--output", "out", "--wait", "--poll", "50ms")
	if got := fileDigest(t, filepath.Join(dir, "out", strings.TrimPrefix(src, "/"))); got != want {
		t.Error("the restored file is not the new content")
	}
}

// countingProxy passes requests on to target and counts the body bytes of
// part uploads (S3 UploadPart: a PUT with a partNumber) and single PUTs.
type countingProxy struct {
	URL   string
	bytes atomic.Int64
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, ErrorLog: log.New(io.Discard, "", 0)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, n: &p.bytes}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// The same against moto's S3 (a third-party emulator), through a proxy
// that counts the bytes sent: the next run skips the chunks in stored packs.
func TestResumeInterruptedUploadToMotoS3(t *testing.T) {
	t.Parallel()
	m := moto.Start(t)
	createBucket(t, s3Client(m), "resume")
	p := newCountingProxy(t, m.URL)
	env := append(m.Env(), "AWS_ENDPOINT_URL="+p.URL) // the later value wins
	dir := t.TempDir()
	const size = 96 << 20
	src := filepath.Join(dir, "src", "big.bin")
	want := writeRandomFile(t, src, size, 4)
	key := newKey(t, dir)
	const pack = 16 << 20
	args := []string{"--bucket", "resume", "--region", "us-east-1", "--storage-class", "STANDARD",
		"--part-size", strconv.Itoa(8 << 20), "--pack-size", "16M", "--encryption-key-file", key, filepath.Dir(src)}

	killWhen(t, dir, env, func() bool { return p.bytes.Load() >= size*6/10 }, args...)
	before := p.bytes.Load()
	mustRunEnv(t, dir, env, 0, args...)
	resent := p.bytes.Load() - before
	t.Logf("%d MiB file: killed after %d MiB sent (%.0f%%); the next run sent %d MiB (%.1f%% of the file)",
		size>>20, before>>20, 100*float64(before)/float64(size), resent>>20, 100*float64(resent)/float64(size))
	// What S3 had not read when grsync died, plus the pack in flight (up
	// to one 8 MiB chunk past its size) and the next one's 4 parts in
	// flight (S3 reads them before the first is completed), plus a little
	// for the encoding's overhead.
	if limit := size - before + pack + 8<<20 + 4*(8<<20) + 1<<20; resent > limit {
		t.Errorf("the next run sent %d bytes, want at most %d: chunks in stored packs were sent again", resent, limit)
	}
	if r := mustRunEnv(t, dir, env, 0, "uploads", "list"); !strings.Contains(r.stdout, "0 unfinished uploads") {
		t.Errorf("uploads left open:\n%s", r)
	}
	mustRunEnv(t, dir, env, 0, "restore", "--encryption-key-file", key, "--output", "out")
	if got := fileDigest(t, filepath.Join(dir, "out", strings.TrimPrefix(src, "/"))); got != want {
		t.Error("the restored file differs from the original")
	}
}
