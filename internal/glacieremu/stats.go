package glacieremu

import "sync/atomic"

// OpStats counts what the emulator saw of one operation.
type OpStats struct {
	Requests int64 // requests routed to the operation, whatever their outcome
	Errors   int64 // requests answered with an API error (injected ones excluded)
	Faults   int64 // requests that got an injected fault
	BytesIn  int64 // request body bytes read, including rejected and dropped requests
	BytesOut int64 // response body bytes written
}

type opCounters struct {
	requests, errors, faults, bytesIn, bytesOut atomic.Int64
}

// Stats returns a snapshot of the counters of every operation.
func (s *Server) Stats() map[Op]OpStats {
	out := make(map[Op]OpStats, len(s.stats))
	for op, c := range s.stats {
		out[op] = OpStats{
			Requests: c.requests.Load(),
			Errors:   c.errors.Load(),
			Faults:   c.faults.Load(),
			BytesIn:  c.bytesIn.Load(),
			BytesOut: c.bytesOut.Load(),
		}
	}
	return out
}

// BytesReceived returns the request body bytes received for op so far.
func (s *Server) BytesReceived(op Op) int64 {
	if c, ok := s.stats[op]; ok {
		return c.bytesIn.Load()
	}
	return 0
}

// ResetStats sets every counter back to zero.
func (s *Server) ResetStats() {
	for _, c := range s.stats {
		c.requests.Store(0)
		c.errors.Store(0)
		c.faults.Store(0)
		c.bytesIn.Store(0)
		c.bytesOut.Store(0)
	}
}
