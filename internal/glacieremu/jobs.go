package glacieremu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/treehash"
)

// Job actions, as DescribeJob reports them.
const (
	actionArchive   = "ArchiveRetrieval"
	actionInventory = "InventoryRetrieval"
)

// job is a retrieval job. Fields are fixed at initiation; its status follows
// from the clock.
type job struct {
	id          string
	action      string
	description string
	snsTopic    string
	tier        Tier
	created     time.Time
	completes   time.Time
	seq         uint64

	// Archive retrieval: the archive and the retrieved byte range.
	archive    *archive
	rangeStart int64
	rangeLen   int64
	ranged     bool // a RetrievalByteRange was given

	// Inventory retrieval: the output, built at initiation.
	format    string // "JSON" or "CSV"
	inventory []byte
}

func (j *job) done(now time.Time) bool { return !now.Before(j.completes) }

func (j *job) outputSize() int64 {
	if j.action == actionInventory {
		return int64(len(j.inventory))
	}
	return j.rangeLen
}

// alignedRange reports whether the retrieved range has a tree hash that is
// a node of the archive's tree (the whole archive always does).
func (j *job) alignedRange() bool {
	return !j.ranged || treehash.RangeAligned(j.rangeStart, j.rangeLen, j.archive.size())
}

// wholeArchive reports whether the job retrieves all of its archive.
func (j *job) wholeArchive() bool {
	return j.rangeStart == 0 && j.rangeLen == j.archive.size()
}

// rangeTreeHash returns the tree hash of archive bytes [start, start+n),
// which must be MiB aligned at the start, from the stored leaf hashes.
func (a *archive) rangeTreeHash(start, n int64) treehash.Digest {
	if start == 0 && n == a.size() {
		return a.treeHash
	}
	first := start / treehash.LeafSize
	last := (start + n + treehash.LeafSize - 1) / treehash.LeafSize
	return treehash.TreeHashOfLeaves(a.leaves[first:last])
}

// jobParams is the InitiateJob request body.
type jobParams struct {
	Type                         string          `json:"Type"`
	ArchiveID                    *string         `json:"ArchiveId"`
	Description                  string          `json:"Description"`
	Format                       string          `json:"Format"`
	RetrievalByteRange           *string         `json:"RetrievalByteRange"`
	SNSTopic                     string          `json:"SNSTopic"`
	Tier                         string          `json:"Tier"`
	InventoryRetrievalParameters json.RawMessage `json:"InventoryRetrievalParameters"`
	SelectParameters             json.RawMessage `json:"SelectParameters"`
	OutputLocation               json.RawMessage `json:"OutputLocation"`
}

// maxJobBody bounds the InitiateJob body the emulator will read.
const maxJobBody = 64 << 10

// parseJobParams decodes and checks what can be checked without the vault.
func parseJobParams(body []byte) (*jobParams, *apiError) {
	var p jobParams
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		return nil, newError(http.StatusBadRequest, CodeSerialization, "Invalid JSON in request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, newError(http.StatusBadRequest, CodeSerialization, "Unexpected data after the JSON request body")
	}
	switch p.Type {
	case "archive-retrieval", "inventory-retrieval":
	case "":
		return nil, missingParam("Required parameter missing: Type")
	case "select":
		return nil, invalidParam("Job type select is not supported by the emulator")
	default:
		return nil, invalidParam("Invalid job type: %s", clip(p.Type))
	}
	if !validDescription(p.Description) {
		return nil, invalidParam("Invalid job description: at most %d printable ASCII characters are allowed", MaxDescription)
	}
	switch Tier(p.Tier) {
	case "", TierExpedited, TierStandard, TierBulk:
	default:
		return nil, invalidParam("Invalid tier: %s", clip(p.Tier))
	}
	if len(p.SelectParameters) > 0 || len(p.OutputLocation) > 0 {
		return nil, invalidParam("Select parameters and output locations are only for select jobs")
	}
	if p.Type == "archive-retrieval" {
		if p.ArchiveID == nil || *p.ArchiveID == "" {
			return nil, missingParam("Required parameter missing: ArchiveId")
		}
		if len(p.InventoryRetrievalParameters) > 0 || p.Format != "" {
			return nil, invalidParam("Format and InventoryRetrievalParameters apply to inventory-retrieval jobs only")
		}
		return &p, nil
	}
	if p.ArchiveID != nil {
		return nil, invalidParam("ArchiveId is not allowed for an inventory-retrieval job")
	}
	if p.RetrievalByteRange != nil {
		return nil, invalidParam("RetrievalByteRange is not allowed for an inventory-retrieval job")
	}
	switch p.Format {
	case "":
		p.Format = "JSON"
	case "JSON", "CSV":
	default:
		return nil, invalidParam("Invalid inventory format: %s", clip(p.Format))
	}
	if raw := bytes.TrimSpace(p.InventoryRetrievalParameters); len(raw) > 0 && !bytes.Equal(raw, []byte("{}")) && !bytes.Equal(raw, []byte("null")) {
		return nil, invalidParam("InventoryRetrievalParameters (date ranges, limit, marker) are not supported by the emulator")
	}
	return &p, nil
}

// parseRetrievalRange checks a RetrievalByteRange "first-last" against an
// archive of size bytes: first must be MiB aligned, and last+1 MiB aligned
// or the archive's end.
func parseRetrievalRange(v string, size int64) (start, n int64, ok bool) {
	a, b, found := strings.Cut(v, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := parseUint(a)
	last, err2 := parseUint(b)
	if err1 != nil || err2 != nil || last < first || last >= size {
		return 0, 0, false
	}
	if first%treehash.LeafSize != 0 || ((last+1)%treehash.LeafSize != 0 && last != size-1) {
		return 0, 0, false
	}
	return first, last - first + 1, true
}

func (s *Server) initiateJob(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJobBody+1))
	if err != nil {
		return newError(http.StatusRequestTimeout, CodeRequestTimeout, "read request body: %v", err)
	}
	if len(body) > maxJobBody {
		return invalidParam("Request body too large")
	}
	p, aerr := parseJobParams(body)
	if aerr != nil {
		return aerr
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		return aerr
	}
	j := &job{
		id:          newID(jobIDLen),
		description: p.Description,
		snsTopic:    p.SNSTopic,
		tier:        Tier(p.Tier),
		created:     now,
		seq:         v.nextSeq(),
	}
	if j.tier == "" {
		j.tier = TierStandard
	}
	if p.Type == "archive-retrieval" {
		a, ok := v.archives[*p.ArchiveID]
		if !ok {
			return notFound("Archive not found for ARN: %s/archives/%s", s.vaultARN(v.name), clip(*p.ArchiveID))
		}
		j.action = actionArchive
		j.archive = a
		j.rangeLen = a.size()
		if p.RetrievalByteRange != nil {
			start, n, ok := parseRetrievalRange(*p.RetrievalByteRange, a.size())
			if !ok {
				return invalidParam("Invalid RetrievalByteRange: %s. The range must be megabyte aligned and within the archive of %d bytes",
					clip(*p.RetrievalByteRange), a.size())
			}
			j.rangeStart, j.rangeLen, j.ranged = start, n, true
		}
		j.completes = now.Add(s.cfg.Delays.forTier(j.tier))
	} else {
		inv, aerr := s.buildInventory(v, now, p.Format)
		if aerr != nil {
			return aerr
		}
		j.action = actionInventory
		j.format = p.Format
		j.inventory = inv
		j.completes = now.Add(s.cfg.Delays.Inventory)
		v.lastInventory = now
	}
	v.jobs[j.id] = j
	w.Header().Set("Location", s.location("vaults", v.name, "jobs", j.id))
	w.Header().Set("x-amz-job-id", j.id)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// purgeExpired drops jobs whose output is no longer available, freeing the
// data of archives deleted meanwhile. The caller holds s.mu.
func (s *Server) purgeExpired(v *vault, now time.Time) {
	for id, j := range v.jobs {
		if now.Before(j.completes.Add(s.cfg.JobExpiry)) {
			continue
		}
		delete(v.jobs, id)
		if a := j.archive; a != nil && v.archives[a.id] != a && !jobsUse(v, a) {
			a.data.remove()
		}
	}
}

func jobsUse(v *vault, a *archive) bool {
	for _, j := range v.jobs {
		if j.archive == a {
			return true
		}
	}
	return false
}

// lookupJob returns a live job. The caller holds s.mu.
func (s *Server) lookupJob(vaultName, id string, now time.Time) (*job, *apiError) {
	v, aerr := s.lookupVault(vaultName)
	if aerr != nil {
		return nil, aerr
	}
	s.purgeExpired(v, now)
	j, ok := v.jobs[id]
	if !ok {
		return nil, notFound("The job ID was not found: %s", clip(id))
	}
	return j, nil
}

type inventoryParamsJSON struct {
	EndDate   *string `json:"EndDate"`
	Format    string  `json:"Format"`
	Limit     *string `json:"Limit"`
	Marker    *string `json:"Marker"`
	StartDate *string `json:"StartDate"`
}

type jobJSON struct {
	Action                       string               `json:"Action"`
	ArchiveID                    *string              `json:"ArchiveId"`
	ArchiveSHA256TreeHash        *string              `json:"ArchiveSHA256TreeHash"`
	ArchiveSizeInBytes           *int64               `json:"ArchiveSizeInBytes"`
	Completed                    bool                 `json:"Completed"`
	CompletionDate               *string              `json:"CompletionDate"`
	CreationDate                 string               `json:"CreationDate"`
	InventoryRetrievalParameters *inventoryParamsJSON `json:"InventoryRetrievalParameters,omitempty"`
	InventorySizeInBytes         *int64               `json:"InventorySizeInBytes"`
	JobDescription               *string              `json:"JobDescription"`
	JobID                        string               `json:"JobId"`
	RetrievalByteRange           *string              `json:"RetrievalByteRange"`
	SHA256TreeHash               *string              `json:"SHA256TreeHash"`
	SNSTopic                     *string              `json:"SNSTopic"`
	StatusCode                   string               `json:"StatusCode"`
	StatusMessage                string               `json:"StatusMessage"`
	Tier                         string               `json:"Tier"`
	VaultARN                     string               `json:"VaultARN"`
}

// describeJobJSON renders a job as DescribeJob and ListJobs do.
func (s *Server) describeJobJSON(vaultName string, j *job, now time.Time) jobJSON {
	done := j.done(now)
	out := jobJSON{
		Action:         j.action,
		Completed:      done,
		CreationDate:   isoTime(j.created),
		JobDescription: nullIfEmpty(j.description),
		JobID:          j.id,
		SNSTopic:       nullIfEmpty(j.snsTopic),
		StatusCode:     "InProgress",
		StatusMessage:  "Operation in progress.",
		Tier:           string(j.tier),
		VaultARN:       s.vaultARN(vaultName),
	}
	if done {
		c := isoTime(j.completes)
		out.CompletionDate = &c
		out.StatusCode = "Succeeded"
		out.StatusMessage = "Succeeded"
	}
	if j.action == actionInventory {
		out.InventoryRetrievalParameters = &inventoryParamsJSON{Format: j.format}
		if done {
			n := int64(len(j.inventory))
			out.InventorySizeInBytes = &n
		}
		return out
	}
	a := j.archive
	id, size, whole := a.id, a.size(), a.treeHash.String()
	out.ArchiveID = &id
	out.ArchiveSizeInBytes = &size
	out.ArchiveSHA256TreeHash = &whole
	if j.rangeLen > 0 {
		rng := fmt.Sprintf("%d-%d", j.rangeStart, j.rangeStart+j.rangeLen-1)
		out.RetrievalByteRange = &rng
	}
	// As documented: null for unaligned ranges, and for a retrieval of the
	// whole archive (with or without a range that spans it) still in
	// progress.
	if j.alignedRange() && (done || !j.wholeArchive()) {
		h := a.rangeTreeHash(j.rangeStart, j.rangeLen).String()
		out.SHA256TreeHash = &h
	}
	return out
}

func (s *Server) describeJob(w http.ResponseWriter, rt route) *apiError {
	now := s.now()
	s.mu.Lock()
	j, aerr := s.lookupJob(rt.vault, rt.id, now)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	out := s.describeJobJSON(rt.vault, j, now)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	q := r.URL.Query()
	limit, aerr := parseLimit(q, 50, 1000)
	if aerr != nil {
		return aerr
	}
	var wantDone *bool
	switch c := q.Get("completed"); c {
	case "":
	case "true", "false":
		b := c == "true"
		wantDone = &b
	default:
		return invalidParam("Invalid completed value: %s (expected true or false)", clip(c))
	}
	status := q.Get("statuscode")
	switch status {
	case "", "InProgress", "Succeeded", "Failed":
	default:
		return invalidParam("The job status code is not valid: %s", clip(status))
	}
	now := s.now()
	s.mu.Lock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	s.purgeExpired(v, now)
	var jobs []jobJSON
	var ids []string
	sorted := make([]*job, 0, len(v.jobs))
	for _, j := range v.jobs {
		sorted = append(sorted, j)
	}
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].seq < sorted[b].seq })
	for _, j := range sorted {
		d := s.describeJobJSON(v.name, j, now)
		if wantDone != nil && d.Completed != *wantDone || status != "" && d.StatusCode != status {
			continue
		}
		jobs = append(jobs, d)
		ids = append(ids, j.id)
	}
	s.mu.Unlock()
	start, aerr := markerIndex(len(ids), q.Get("marker"), func(i int) string { return ids[i] })
	if aerr != nil {
		return aerr
	}
	out := struct {
		JobList []jobJSON `json:"JobList"`
		Marker  *string   `json:"Marker"`
	}{JobList: []jobJSON{}}
	for i := start; i < len(jobs); i++ {
		if len(out.JobList) == limit {
			m := ids[i]
			out.Marker = &m
			break
		}
		out.JobList = append(out.JobList, jobs[i])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseRangeHeader parses a GetJobOutput Range header, "bytes=first-last" or
// "bytes=first-", against output of size bytes. A last beyond the end is
// cut to the end, as in HTTP.
func parseRangeHeader(v string, size int64) (start, n int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes=")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	first, err := parseUint(a)
	if err != nil || first >= size {
		return 0, 0, false
	}
	last := size - 1
	if b != "" {
		l, err := parseUint(b)
		if err != nil || l < first {
			return 0, 0, false
		}
		last = min(l, size-1)
	}
	return first, last - first + 1, true
}

func (s *Server) getJobOutput(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	now := s.now()
	s.mu.Lock()
	j, aerr := s.lookupJob(rt.vault, rt.id, now)
	s.mu.Unlock()
	if aerr != nil {
		return aerr
	}
	if !j.done(now) {
		return invalidParam("The job is not currently available for download: %s", j.id)
	}
	total := j.outputSize()
	start, n := int64(0), total
	ranged := false
	if v := r.Header.Get("Range"); v != "" {
		var ok bool
		start, n, ok = parseRangeHeader(v, total)
		if !ok {
			return invalidParam("Invalid Range: %s for job output of %d bytes", clip(v), total)
		}
		ranged = true
	}

	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	if ranged {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, total))
	}
	var write func(io.Writer, int64, int64) (int64, error)
	switch j.action {
	case actionInventory:
		h.Set("Content-Type", contentTypeJSON)
		if j.format == "CSV" {
			h.Set("Content-Type", "text/csv")
		}
		write = func(w io.Writer, off, n int64) (int64, error) {
			m, err := w.Write(j.inventory[off : off+n])
			return int64(m), err
		}
	default:
		a := j.archive
		h.Set("Content-Type", "application/octet-stream")
		if a.description != "" {
			h.Set("x-amz-archive-description", a.description)
		}
		abs := j.rangeStart + start
		if j.alignedRange() && (n == total || treehash.RangeAligned(abs, n, a.size())) {
			h.Set("x-amz-sha256-tree-hash", a.rangeTreeHash(abs, n).String())
		}
		write = func(w io.Writer, off, n int64) (int64, error) {
			return a.data.CopyRange(w, j.rangeStart+off, n)
		}
	}
	status := http.StatusOK
	if ranged {
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if rt.dropMidResponse {
		s.cfg.Logger.Info("injected fault: connection dropped mid-response", "op", rt.op)
		write(w, start, n/2)
		dropConnection(w)
		return nil
	}
	if _, err := write(w, start, n); err != nil {
		s.cfg.Logger.Debug("job output cut short", "job", j.id, "err", err)
	}
	return nil
}
