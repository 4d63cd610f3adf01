// Package moto starts the third-party AWS emulator moto
// (`python3 -m moto.server`) on 127.0.0.1 for interop tests.
//
// Locally, tests that need it skip with a loud message when moto is not
// installed. CI sets GRSYNC_REQUIRE_MOTO=1, which turns that skip into a
// failure, so the interop suite can never silently not run there.
package moto

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is a running moto server.
type Server struct {
	URL string // http://127.0.0.1:PORT
	cmd *exec.Cmd
}

// Start runs a fresh moto server for the test and stops it at cleanup.
// Every test gets its own server, so state never leaks between tests.
func Start(t testing.TB) *Server {
	t.Helper()
	if err := exec.Command("python3", "-c", "import moto").Run(); err != nil {
		if os.Getenv("GRSYNC_REQUIRE_MOTO") == "1" {
			t.Fatalf("moto is not installed (python3 -c 'import moto' failed: %v) and GRSYNC_REQUIRE_MOTO=1", err)
		}
		t.Skipf("SKIPPING interop test: moto is not installed (python3 -c 'import moto': %v); CI requires it", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto: %v", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not start on %s: %v", s.URL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Env returns the environment that points AWS clients at the server with
// dummy credentials.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
