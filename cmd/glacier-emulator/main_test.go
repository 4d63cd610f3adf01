package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0"} {
		err := run(context.Background(), []string{"-listen", addr}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-allow-remote") {
			t.Errorf("-listen %s: err = %v, want a refusal naming -allow-remote", addr, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9000": true, "[::1]:9000": true, "localhost:1": true, "127.5.5.5:0": true,
		"0.0.0.0:9000": false, ":9000": false, "10.0.0.1:9000": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-fault-rate", "x"}, {"-drop-rate", "2"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"-fault-rate", "0.6", "-throttle-rate", "0.6"}, io.Discard, io.Discard); err == nil {
		t.Error("fault rates adding up to more than 1 accepted")
	}
	if err := run(context.Background(), []string{"-min-part-size", "1000"}, io.Discard, io.Discard); err == nil {
		t.Error("-min-part-size 1000 accepted")
	}
	if err := run(context.Background(), []string{"-log-level", "loud"}, io.Discard, io.Discard); err == nil {
		t.Error("-log-level loud accepted")
	}
}

func TestServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-dir", t.TempDir(), "-throttle-rate", "1"}, pw, io.Discard)
		pw.Close()
	}()
	url, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	url = strings.TrimSpace(url)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("printed %q, want the URL", url)
	}
	req, _ := http.NewRequest("GET", url+"/-/vaults", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	req.Header.Set("x-amz-glacier-version", "2012-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// -throttle-rate 1 throttles every request.
	if resp.StatusCode != 400 || !strings.Contains(string(body), "ThrottlingException") {
		t.Errorf("got %d %s, want a ThrottlingException", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not stop after cancellation")
	}
}
