// Package moto starts the third-party AWS emulator moto
// (`python3 -m moto.server`) on 127.0.0.1 for interop tests.
//
// Locally, tests that need it skip with a loud message when moto is not
// installed. CI sets GRSYNC_REQUIRE_MOTO=1, which turns that skip into a
// failure, so the interop suite can never silently not run there.
package moto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Server is a running moto server.
type Server struct {
	URL string // http://127.0.0.1:PORT, or https:// (StartTLS)
	// CAFile is the PEM certificate a TLS server presents (self-signed),
	// for AWS_CA_BUNDLE; "" without TLS.
	CAFile string
	// Client is an HTTP client that trusts the server.
	Client *http.Client
	cmd    *exec.Cmd
}

// Start runs a fresh moto server for the test and stops it at cleanup.
// Every test gets its own server, so state never leaks between tests.
func Start(t testing.TB) *Server { return start(t, false) }

// StartTLS is Start with HTTPS, as AWS serves it, under a self-signed
// certificate for 127.0.0.1 (Server.CAFile; Env sets AWS_CA_BUNDLE to it).
// Over HTTPS the AWS SDKs sign requests without hashing their bodies
// (UNSIGNED-PAYLOAD): the path every real upload takes.
func StartTLS(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, withTLS bool) *Server {
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
	args := []string{"-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port)}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Client: http.DefaultClient}
	if withTLS {
		cert, key, pool := selfSigned(t)
		args = append(args, "-c", cert, "-k", key)
		s.URL, s.CAFile = fmt.Sprintf("https://127.0.0.1:%d", port), cert
		s.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	cmd := exec.Command("python3", args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto: %v", err)
	}
	s.cmd = cmd
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.Client.Get(s.URL + "/moto-api/")
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
	env := []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if s.CAFile != "" {
		env = append(env, "AWS_CA_BUNDLE="+s.CAFile)
	}
	return env
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into a temporary folder, and returns their paths and a pool trusting it.
func selfSigned(t testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "moto.crt"), filepath.Join(dir, "moto.key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
