package s3store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// proxy sits between the store and moto: it names the S3 operation of
// every request, counts requests and the most of each kind in flight at
// once, and lets a test inject faults or rewrite replies.
type proxy struct {
	URL string

	mu          sync.Mutex
	counts      map[string]int
	succeeded   map[string]int // requests moto answered with 2xx
	inflight    map[string]int
	maxInflight map[string]int
	requests    []seenRequest
	// fault, if set, may answer a request itself (returning true) instead
	// of passing it on.
	fault func(op string, w http.ResponseWriter, r *http.Request) bool
	// modify, if set, may change moto's reply.
	modify func(op string, resp *http.Response)
}

// seenRequest is what the proxy recorded of one request.
type seenRequest struct {
	Op     string
	Path   string
	Query  url.Values
	Header http.Header
	Length int64
	Body   []byte // kept for RestoreObject only
	// BodySHA256 is the hex SHA-256 of the body of a PutObject or
	// UploadPart, as S3 computes it to check X-Amz-Content-Sha256.
	BodySHA256 string
	Attempt    int // 1 for the first request of this op and path
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{counts: map[string]int{}, succeeded: map[string]int{}, inflight: map[string]int{}, maxInflight: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ModifyResponse: func(resp *http.Response) error {
			p.mu.Lock()
			modify := p.modify
			if resp.StatusCode < 300 {
				p.succeeded[operation(resp.Request)]++
			}
			p.mu.Unlock()
			if modify != nil {
				modify(operation(resp.Request), resp)
			}
			return nil
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		seen := seenRequest{Op: op, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Length: r.ContentLength}
		if op == "RestoreObject" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			seen.Body = body
		}
		if op == "PutObject" || op == "UploadPart" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			sum := sha256.Sum256(body)
			seen.BodySHA256 = hex.EncodeToString(sum[:])
		}
		p.mu.Lock()
		for _, prev := range p.requests {
			if prev.Op == op && prev.Path == seen.Path && prev.Query.Get("partNumber") == seen.Query.Get("partNumber") {
				seen.Attempt++
			}
		}
		seen.Attempt++
		p.requests = append(p.requests, seen)
		p.counts[op]++
		p.inflight[op]++
		p.maxInflight[op] = max(p.maxInflight[op], p.inflight[op])
		fault := p.fault
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.inflight[op]--
			p.mu.Unlock()
		}()
		if fault != nil && fault(op, w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// setFault installs a fault injector (nil removes it).
func (p *proxy) setFault(f func(op string, w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// setModify installs a reply rewriter (nil removes it).
func (p *proxy) setModify(f func(op string, resp *http.Response)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.modify = f
}

// count returns how many requests of op were seen.
func (p *proxy) count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[op]
}

// successes returns how many requests of op moto answered with success.
// A request S3 answered with an error (moto may answer 500 to an abort
// racing a part still arriving) is retried and not counted here.
func (p *proxy) successes(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.succeeded[op]
}

// total returns how many requests were seen.
func (p *proxy) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// maxConcurrent returns the most requests of op seen in flight at once.
func (p *proxy) maxConcurrent(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxInflight[op]
}

// seen returns the recorded requests of op.
func (p *proxy) seen(op string) []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []seenRequest
	for _, r := range p.requests {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// reset forgets what was counted.
func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts, p.succeeded, p.maxInflight, p.requests = map[string]int{}, map[string]int{}, map[string]int{}, nil
}

// operation names the S3 operation of a path-style request.
func operation(r *http.Request) string {
	q := r.URL.Query()
	hasKey := strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
	switch r.Method {
	case http.MethodHead:
		if hasKey {
			return "HeadObject"
		}
		return "HeadBucket"
	case http.MethodGet:
		switch {
		case q.Has("uploads"):
			return "ListMultipartUploads"
		case q.Has("uploadId"):
			return "ListParts"
		case q.Has("object-lock"):
			return "GetObjectLockConfiguration"
		case q.Has("versioning"):
			return "GetBucketVersioning"
		case q.Has("versions"):
			return "ListObjectVersions"
		case q.Has("retention"):
			return "GetObjectRetention"
		case !hasKey:
			return "ListObjects"
		}
		return "GetObject"
	case http.MethodPut:
		switch {
		case q.Has("partNumber"):
			return "UploadPart"
		case q.Has("retention"):
			return "PutObjectRetention"
		case !hasKey:
			return "CreateBucket"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return "CreateMultipartUpload"
		case q.Has("uploadId"):
			return "CompleteMultipartUpload"
		case q.Has("restore"):
			return "RestoreObject"
		}
	case http.MethodDelete:
		if q.Has("uploadId") {
			return "AbortMultipartUpload"
		}
		if hasKey {
			return "DeleteObject"
		}
		return "DeleteBucket"
	}
	return r.Method + " " + r.URL.Path
}

// s3Error answers with an S3 XML error.
func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>injected by the test proxy</Message></Error>`)
}

// dropConnection closes the client's connection without a reply.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
