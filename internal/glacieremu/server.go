package glacieremu

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server emulates the Amazon S3 Glacier vault API. It is an http.Handler, so
// it can be mounted on an httptest.Server; Start serves it on an address of
// its own. All methods are safe for concurrent use.
type Server struct {
	cfg   Config
	store storage
	stats map[Op]*opCounters // fixed at New; the counters are atomic

	mu     sync.Mutex // guards the fields below
	vaults map[string]*vault

	faultMu sync.Mutex // guards faults and rng
	faults  map[Op]Fault
	rng     *mathrand.Rand

	httpMu  sync.Mutex // guards httpSrv and url
	httpSrv *http.Server
	url     string
}

// New returns a Server configured by cfg.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		store:  memStorage{},
		stats:  make(map[Op]*opCounters),
		vaults: make(map[string]*vault),
		faults: make(map[Op]Fault),
		rng:    mathrand.New(mathrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	for _, op := range Ops() {
		s.stats[op] = &opCounters{}
	}
	for op, f := range cfg.Faults {
		if err := s.SetFault(op, f); err != nil {
			return nil, err
		}
	}
	if cfg.Dir != "" {
		ds, err := newDirStorage(cfg.Dir)
		if err != nil {
			return nil, err
		}
		s.store = ds
	}
	return s, nil
}

func validateConfig(c Config) error {
	switch {
	case c.MinPartSize < 1 || c.MinPartSize&(c.MinPartSize-1) != 0:
		return fmt.Errorf("min part size %d is not a power of two", c.MinPartSize)
	case c.MinPartSize > MaxPartSize:
		return fmt.Errorf("min part size %d exceeds 4 GiB", c.MinPartSize)
	case c.MaxPartCount < 1:
		return fmt.Errorf("max part count %d must be positive", c.MaxPartCount)
	case c.JobExpiry < 0:
		return fmt.Errorf("negative job expiry %v", c.JobExpiry)
	case c.Delays.Expedited < 0 || c.Delays.Standard < 0 || c.Delays.Bulk < 0 || c.Delays.Inventory < 0:
		return errors.New("negative job delay")
	}
	return nil
}

// SetFault replaces the faults injected into op (or, for AllOps, into every
// operation without its own entry). Setting the zero Fault on an operation
// exempts it from the AllOps faults; ClearFault removes its entry instead.
func (s *Server) SetFault(op Op, f Fault) error {
	for _, r := range []float64{f.ErrorRate, f.ThrottleRate, f.DropRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("fault rate %v outside [0, 1]", r)
		}
	}
	if f.ErrorRate+f.ThrottleRate+f.DropRate > 1 {
		return errors.New("fault rates add up to more than 1")
	}
	if f.Latency < 0 {
		return errors.New("negative latency")
	}
	if op != AllOps {
		if _, ok := s.stats[op]; !ok {
			return fmt.Errorf("unknown operation %q", op)
		}
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults[op] = f
	return nil
}

// ClearFault removes op's own fault entry, so that the AllOps entry (if any)
// applies to it again. ClearFault(AllOps) removes the AllOps entry.
func (s *Server) ClearFault(op Op) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	delete(s.faults, op)
}

// Start serves the emulator on addr (host:port; port 0 picks a free one) in
// the background until Close.
func (s *Server) Start(addr string) error {
	s.httpMu.Lock()
	defer s.httpMu.Unlock()
	if s.httpSrv != nil {
		return errors.New("already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go s.httpSrv.Serve(ln)
	return nil
}

// URL returns the base URL Start is serving on ("" before Start). Point the
// SDK's BaseEndpoint at it.
func (s *Server) URL() string {
	s.httpMu.Lock()
	defer s.httpMu.Unlock()
	return s.url
}

// Close stops serving (if started) and removes stored data files.
func (s *Server) Close() error {
	s.httpMu.Lock()
	srv := s.httpSrv
	s.httpMu.Unlock()
	var errs []error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down: %w", err))
			srv.Close()
		}
	}
	if err := s.store.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ServeHTTP handles one Glacier API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set(headerRequestID, newID(24))
	rt, aerr := parseRoute(r.Method, r.URL.EscapedPath(), r.URL.Query().Get("operation"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if s.cfg.NoTags && isTagOp(rt.op) {
		notImplemented(w)
		return
	}
	c := s.stats[rt.op]
	c.requests.Add(1)
	r.Body = &countingBody{ReadCloser: r.Body, n: &c.bytesIn}
	cw := &countingWriter{ResponseWriter: w, n: &c.bytesOut}

	aerr = s.checkCommon(r, rt)
	if aerr == nil {
		handled, dropLater := s.injectFault(cw, r, rt.op)
		if handled {
			return
		}
		rt.dropMidResponse = dropLater
		aerr = s.dispatch(cw, r, rt)
	}
	if aerr != nil {
		c.errors.Add(1)
		// Read what is left of the body first, so that a client still
		// sending it gets the error rather than a reset connection.
		io.Copy(io.Discard, r.Body)
		writeError(cw, aerr)
		s.cfg.Logger.Debug("request failed", "op", rt.op, "vault", rt.vault,
			"code", aerr.code, "message", aerr.message, "took", time.Since(start))
		return
	}
	s.cfg.Logger.Debug("request", "op", rt.op, "vault", rt.vault, "took", time.Since(start))
}

// checkCommon applies the rules every request must pass: a SigV4
// Authorization header (not verified), the API version header, and the
// account.
func (s *Server) checkCommon(r *http.Request, rt route) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return newError(http.StatusBadRequest, CodeMissingAuth, "Missing Authentication Token")
	}
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return newError(http.StatusForbidden, CodeInvalidSignature,
			"the Authorization header is not an AWS Signature Version 4 signature")
	}
	switch v := r.Header.Get("x-amz-glacier-version"); v {
	case APIVersion:
	case "":
		return missingParam("Required header x-amz-glacier-version is missing")
	default:
		return invalidParam("Invalid x-amz-glacier-version: %s", clip(v))
	}
	if rt.account != "-" && rt.account != s.cfg.AccountID {
		return newError(http.StatusForbidden, CodeAccessDenied,
			"Access denied for account %s", clip(rt.account))
	}
	return nil
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	switch rt.op {
	case OpCreateVault:
		return s.createVault(w, rt)
	case OpDescribeVault:
		return s.describeVault(w, rt)
	case OpListVaults:
		return s.listVaults(w, r)
	case OpDeleteVault:
		return s.deleteVault(w, rt)
	case OpUploadArchive:
		return s.uploadArchive(w, r, rt)
	case OpDeleteArchive:
		return s.deleteArchive(w, rt)
	case OpInitiateMultipartUpload:
		return s.initiateMultipart(w, r, rt)
	case OpUploadMultipartPart:
		return s.uploadPart(w, r, rt)
	case OpListParts:
		return s.listParts(w, r, rt)
	case OpCompleteMultipartUpload:
		return s.completeMultipart(w, r, rt)
	case OpAbortMultipartUpload:
		return s.abortMultipart(w, rt)
	case OpListMultipartUploads:
		return s.listUploads(w, r, rt)
	case OpInitiateJob:
		return s.initiateJob(w, r, rt)
	case OpDescribeJob:
		return s.describeJob(w, rt)
	case OpListJobs:
		return s.listJobs(w, r, rt)
	case OpGetJobOutput:
		return s.getJobOutput(w, r, rt)
	case OpAddTagsToVault:
		return s.addTags(w, r, rt)
	case OpRemoveTagsFromVault:
		return s.removeTags(w, r, rt)
	case OpListTagsForVault:
		return s.listTags(w, rt)
	}
	return unknownOp(r.Method, r.URL.Path)
}

// now returns the configured clock's time, in UTC.
func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// location returns a Location header value for a path under the account.
func (s *Server) location(parts ...string) string {
	return "/" + s.cfg.AccountID + "/" + strings.Join(parts, "/")
}

// writeJSON sends v as a JSON body with the given status. Like AWS it does
// not escape <, > and & in strings.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshalJSON(v)
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, CodeServiceUnavailable, "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func marshalJSON(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// newID returns a random URL-safe identifier of n characters' worth of
// entropy (6 bits each), like Glacier's archive, upload and job ids.
func newID(chars int) string {
	b := make([]byte, (chars*6+7)/8)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:chars]
}

// isoTime formats t as Glacier's JSON does: ISO 8601, UTC, milliseconds.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// countingBody counts the request bytes read.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// countingWriter counts the response body bytes written.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (for Flush and
// Hijack).
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
