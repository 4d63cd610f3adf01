package glacieremu

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// inventoryTime is the date format of inventory documents.
const inventoryTime = "2006-01-02T15:04:05Z"

type inventoryArchive struct {
	ArchiveID          string `json:"ArchiveId"`
	ArchiveDescription string `json:"ArchiveDescription"`
	CreationDate       string `json:"CreationDate"`
	Size               int64  `json:"Size"`
	SHA256TreeHash     string `json:"SHA256TreeHash"`
}

type inventoryDoc struct {
	VaultARN      string             `json:"VaultARN"`
	InventoryDate string             `json:"InventoryDate"`
	ArchiveList   []inventoryArchive `json:"ArchiveList"`
}

// buildInventory renders the vault's archives as they are now, in the
// inventory-retrieval output format: AWS's JSON document, or CSV. A vault
// given an inventory by SetInventory serves that instead, verbatim. The
// caller holds s.mu.
func (s *Server) buildInventory(v *vault, now time.Time, format string) ([]byte, *apiError) {
	if v.inventory != nil {
		return bytes.Clone(v.inventory), nil
	}
	if !v.hadArchive {
		// Glacier prepares a vault's first inventory only after it has held
		// an archive; until then inventory jobs are refused.
		return nil, notFound("Inventory not found for vault: %s", s.vaultARN(v.name))
	}
	archives := make([]*archive, 0, len(v.archives))
	for _, a := range v.archives {
		archives = append(archives, a)
	}
	sort.Slice(archives, func(i, j int) bool { return archives[i].seq < archives[j].seq })
	doc := inventoryDoc{
		VaultARN:      s.vaultARN(v.name),
		InventoryDate: now.UTC().Format(inventoryTime),
		ArchiveList:   make([]inventoryArchive, len(archives)),
	}
	for i, a := range archives {
		doc.ArchiveList[i] = inventoryArchive{
			ArchiveID:          a.id,
			ArchiveDescription: a.description,
			CreationDate:       a.created.UTC().Format(inventoryTime),
			Size:               a.size(),
			SHA256TreeHash:     a.treeHash.String(),
		}
	}
	if format == "CSV" {
		return inventoryCSV(doc.ArchiveList), nil
	}
	b, err := marshalJSON(doc)
	if err != nil {
		return nil, newError(500, CodeServiceUnavailable, "encode inventory: %v", err)
	}
	return b, nil
}

// inventoryCSV renders archives as Glacier's CSV inventory: a header line,
// then one line per archive. A field holding a comma or a double quote is
// enclosed in double quotes, and quotes inside it are escaped with a
// backslash (backslashes themselves are not escaped).
func inventoryCSV(list []inventoryArchive) []byte {
	var b strings.Builder
	b.WriteString("ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash\n")
	for _, a := range list {
		fields := []string{a.ArchiveID, a.ArchiveDescription, a.CreationDate, strconv.FormatInt(a.Size, 10), a.SHA256TreeHash}
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			if strings.ContainsAny(f, ",\"") {
				f = `"` + strings.ReplaceAll(f, `"`, `\"`) + `"`
			}
			b.WriteString(f)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// SeedArchive stores an archive with a chosen id, description and creation
// time, as if uploaded earlier; the vault is created if needed. Use it to
// load fixtures, such as a legacy vault's archives.
func (s *Server) SeedArchive(vaultName, id, description string, created time.Time, data []byte) error {
	if !validVaultName(vaultName) {
		return fmt.Errorf("seed archive: invalid vault name %q", vaultName)
	}
	if id == "" {
		return fmt.Errorf("seed archive: empty archive id")
	}
	if !validDescription(description) {
		return fmt.Errorf("seed archive %s: description is not at most %d printable ASCII characters", id, MaxDescription)
	}
	bw, err := s.store.create(int64(len(data)))
	if err != nil {
		return fmt.Errorf("seed archive %s: %w", id, err)
	}
	h := newLeafHasher()
	h.Write(data)
	if _, err := bw.Write(data); err != nil {
		bw.abort()
		return fmt.Errorf("seed archive %s: %w", id, err)
	}
	b, err := bw.commit()
	if err != nil {
		return fmt.Errorf("seed archive %s: %w", id, err)
	}
	leaves, tree, _ := h.finish()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.ensureVault(vaultName)
	if old, ok := v.archives[id]; ok && !jobsUse(v, old) {
		old.data.remove()
	}
	v.archives[id] = &archive{
		id:          id,
		description: description,
		created:     created.UTC(),
		seq:         v.nextSeq(),
		data:        b,
		leaves:      leaves,
		treeHash:    tree,
	}
	v.hadArchive = true
	return nil
}

// SetInventory makes inventory-retrieval jobs on the vault, from now on,
// return exactly the given document (JSON or anything else; it is served
// verbatim whatever Format the job asks for). The vault is created if
// needed. A nil inventory goes back to inventories built from the archives.
func (s *Server) SetInventory(vaultName string, inventory []byte) error {
	if !validVaultName(vaultName) {
		return fmt.Errorf("set inventory: invalid vault name %q", vaultName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.ensureVault(vaultName)
	v.inventory = bytes.Clone(inventory)
	return nil
}

// ensureVault returns the named vault, creating it. The caller holds s.mu.
func (s *Server) ensureVault(name string) *vault {
	v, ok := s.vaults[name]
	if !ok {
		v = newVault(name, s.now())
		s.vaults[name] = v
	}
	return v
}
