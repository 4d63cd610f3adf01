package glacieremu

import (
	"io"
	"net/http"
	"time"
)

// faultKind is what injectFault decided for one request.
type faultKind int

const (
	faultNone faultKind = iota
	faultDrop
	faultThrottle
	faultError
)

// pickFault draws the fault for one request of op and returns it with the
// latency to add.
func (s *Server) pickFault(op Op) (faultKind, time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f, ok := s.faults[op]
	if !ok {
		f = s.faults[AllOps]
	}
	if f.DropRate == 0 && f.ThrottleRate == 0 && f.ErrorRate == 0 {
		return faultNone, f.Latency
	}
	x := s.rng.Float64()
	switch {
	case x < f.DropRate:
		return faultDrop, f.Latency
	case x < f.DropRate+f.ThrottleRate:
		return faultThrottle, f.Latency
	case x < f.DropRate+f.ThrottleRate+f.ErrorRate:
		return faultError, f.Latency
	}
	return faultNone, f.Latency
}

// injectFault applies latency and maybe a fault to the request. It reports
// handled if it has answered (or dropped) the request itself. A drop of
// GetJobOutput happens later, mid-response: it is reported as dropLater.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, op Op) (handled, dropLater bool) {
	kind, latency := s.pickFault(op)
	if kind != faultNone {
		// Counted before acting, so that a client seeing the fault also
		// sees it in Stats.
		s.stats[op].faults.Add(1)
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch kind {
	case faultDrop:
		if op == OpGetJobOutput {
			return false, true
		}
		s.cfg.Logger.Info("injected fault: connection dropped", "op", op)
		// Read about half of the body, so the client is cut off mid-upload.
		if r.ContentLength > 0 {
			io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		}
		dropConnection(w)
		return true, false
	case faultThrottle:
		s.cfg.Logger.Info("injected fault: throttled", "op", op)
		io.Copy(io.Discard, r.Body)
		writeError(w, newError(http.StatusBadRequest, CodeThrottling, "Rate exceeded"))
		return true, false
	case faultError:
		s.cfg.Logger.Info("injected fault: service unavailable", "op", op)
		io.Copy(io.Discard, r.Body)
		writeError(w, newError(http.StatusInternalServerError, CodeServiceUnavailable,
			"Service is unavailable; please try again"))
		return true, false
	}
	return false, false
}

// dropConnection takes the connection over and closes it without a proper
// response. Whatever was already written (and is flushed here) reaches the
// client first. If the connection cannot be taken over (HTTP/2), the request
// is answered with a 500 instead.
func dropConnection(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	conn, buf, err := rc.Hijack()
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, CodeServiceUnavailable,
			"connection could not be dropped: %v", err))
		return
	}
	buf.Flush()
	conn.Close()
}
