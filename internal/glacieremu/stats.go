package glacieremu

import (
	"sort"
	"sync/atomic"
)

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

// JobInfo is what the emulator knows of one job, for tests that check
// what a client asked for.
type JobInfo struct {
	ID        string
	Action    string // "ArchiveRetrieval" or "InventoryRetrieval"
	ArchiveID string
	Tier      Tier
	// Ranged: the job was initiated with a RetrievalByteRange; Start and
	// Length are the bytes of the archive it retrieves (all of them when
	// not ranged).
	Ranged        bool
	Start, Length int64
}

// Jobs lists the live jobs of vault, oldest first; nil for an unknown
// vault.
func (s *Server) Jobs(vault string) []JobInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vaults[vault]
	if !ok {
		return nil
	}
	jobs := make([]*job, 0, len(v.jobs))
	for _, j := range v.jobs {
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].seq < jobs[b].seq })
	out := make([]JobInfo, len(jobs))
	for i, j := range jobs {
		out[i] = JobInfo{ID: j.id, Action: j.action, Tier: j.tier, Ranged: j.ranged}
		if j.archive != nil {
			out[i].ArchiveID, out[i].Start, out[i].Length = j.archive.id, j.rangeStart, j.rangeLen
		}
	}
	return out
}
