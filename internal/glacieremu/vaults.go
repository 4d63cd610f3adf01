package glacieremu

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/grsync/grsync/internal/treehash"
)

// maxVaults is AWS's limit of vaults per account and region.
const maxVaults = 1000

// vault is one vault and everything in it. Guarded by Server.mu.
type vault struct {
	name    string
	created time.Time
	seq     uint64 // counter for stable ordering of archives, uploads, jobs

	archives map[string]*archive
	// hadArchive: an archive was ever stored. Glacier has no inventory for a
	// vault that never held one, so inventory jobs are refused until then.
	hadArchive    bool
	lastInventory time.Time // InventoryDate of the latest inventory job; zero if none

	uploads   map[string]*upload
	completed map[string]completedUpload // upload id → result, for idempotent Complete
	jobs      map[string]*job

	// inventory, if set by SetInventory, is served verbatim by inventory jobs.
	inventory []byte

	tags map[string]string // vault tags (AddTagsToVault)
}

// archive is one stored archive.
type archive struct {
	id          string
	description string
	created     time.Time
	seq         uint64
	data        blob
	leaves      []treehash.Digest // SHA-256 of each MiB, for range tree hashes
	treeHash    treehash.Digest
}

func (a *archive) size() int64 { return a.data.Size() }

func newVault(name string, created time.Time) *vault {
	return &vault{
		name:      name,
		created:   created,
		archives:  make(map[string]*archive),
		uploads:   make(map[string]*upload),
		completed: make(map[string]completedUpload),
		jobs:      make(map[string]*job),
		tags:      make(map[string]string),
	}
}

func (v *vault) nextSeq() uint64 {
	v.seq++
	return v.seq
}

// validVaultName applies Glacier's rule: 1 to 255 of a-z, A-Z, 0-9, '_',
// '-' and '.'.
func validVaultName(name string) bool {
	if len(name) == 0 || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (s *Server) vaultARN(name string) string {
	return "arn:aws:glacier:" + s.cfg.Region + ":" + s.cfg.AccountID + ":vaults/" + name
}

// lookupVault returns the named vault. The caller holds s.mu.
func (s *Server) lookupVault(name string) (*vault, *apiError) {
	if !validVaultName(name) {
		return nil, invalidParam("Invalid vault name: %s", clip(name))
	}
	v, ok := s.vaults[name]
	if !ok {
		return nil, notFound("Vault not found for ARN: %s", s.vaultARN(name))
	}
	return v, nil
}

type vaultJSON struct {
	CreationDate      string  `json:"CreationDate"`
	LastInventoryDate *string `json:"LastInventoryDate"`
	NumberOfArchives  int64   `json:"NumberOfArchives"`
	SizeInBytes       int64   `json:"SizeInBytes"`
	VaultARN          string  `json:"VaultARN"`
	VaultName         string  `json:"VaultName"`
}

// describe reports the vault. Unlike AWS, whose counts lag until the next
// daily inventory, the counts are current. The caller holds s.mu.
func (s *Server) describe(v *vault) vaultJSON {
	out := vaultJSON{
		CreationDate: isoTime(v.created),
		VaultARN:     s.vaultARN(v.name),
		VaultName:    v.name,
	}
	if !v.lastInventory.IsZero() {
		d := isoTime(v.lastInventory)
		out.LastInventoryDate = &d
	}
	for _, a := range v.archives {
		out.NumberOfArchives++
		out.SizeInBytes += a.size()
	}
	return out
}

func (s *Server) createVault(w http.ResponseWriter, rt route) *apiError {
	if !validVaultName(rt.vault) {
		return invalidParam("Invalid vault name: %s", clip(rt.vault))
	}
	s.mu.Lock()
	if _, ok := s.vaults[rt.vault]; !ok {
		if len(s.vaults) >= maxVaults {
			s.mu.Unlock()
			return newError(http.StatusBadRequest, CodeLimitExceeded, "Vault limit of %d exceeded", maxVaults)
		}
		s.vaults[rt.vault] = newVault(rt.vault, s.now())
	}
	s.mu.Unlock()
	// Creating an existing vault succeeds: the operation is idempotent.
	w.Header().Set("Location", s.location("vaults", rt.vault))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) describeVault(w http.ResponseWriter, rt route) *apiError {
	s.mu.Lock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	out := s.describe(v)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listVaults(w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	limit, aerr := parseLimit(q, 10, 1000)
	if aerr != nil {
		return aerr
	}
	marker := q.Get("marker")
	s.mu.Lock()
	names := make([]string, 0, len(s.vaults))
	for n := range s.vaults {
		names = append(names, n)
	}
	sort.Strings(names)
	start := 0
	if marker != "" {
		start = -1
		for i, n := range names {
			if s.vaultARN(n) == marker {
				start = i
				break
			}
		}
		if start < 0 {
			s.mu.Unlock()
			return invalidParam("Invalid marker: %s", clip(marker))
		}
	}
	out := struct {
		Marker    *string     `json:"Marker"`
		VaultList []vaultJSON `json:"VaultList"`
	}{VaultList: []vaultJSON{}}
	for i := start; i < len(names); i++ {
		if len(out.VaultList) == limit {
			m := s.vaultARN(names[i])
			out.Marker = &m
			break
		}
		out.VaultList = append(out.VaultList, s.describe(s.vaults[names[i]]))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deleteVault(w http.ResponseWriter, rt route) *apiError {
	s.mu.Lock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	if len(v.archives) > 0 {
		s.mu.Unlock()
		return invalidParam("Vault not empty or recently written to: %s", s.vaultARN(v.name))
	}
	delete(s.vaults, v.name)
	s.mu.Unlock()
	for _, u := range v.uploads {
		u.removeParts()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseLimit reads the "limit" query parameter: an integer in [1, max], or
// def when absent.
func parseLimit(q url.Values, def, max int) (int, *apiError) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, invalidParam("Invalid limit: %s (must be between 1 and %d)", clip(s), max)
	}
	return n, nil
}
