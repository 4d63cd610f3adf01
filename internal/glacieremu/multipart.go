package glacieremu

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/treehash"
)

// upload is an in-progress multipart upload.
type upload struct {
	id          string
	description string
	created     time.Time
	seq         uint64
	partSize    int64
	parts       map[int64]*part // by index: start / partSize
}

// part is one received part.
type part struct {
	start  int64
	data   blob
	leaves []treehash.Digest
	tree   treehash.Digest
}

// completedUpload remembers a finished upload so that repeating Complete
// returns the same archive, as Glacier does.
type completedUpload struct {
	archiveID string
	size      int64
	tree      treehash.Digest
}

func (u *upload) removeParts() {
	for _, p := range u.parts {
		p.data.remove()
	}
}

// validPartSize reports whether n is MinPartSize × 2^k and at most 4 GiB.
func (s *Server) validPartSize(n int64) bool {
	m := s.cfg.MinPartSize
	return n >= m && n <= MaxPartSize && n%m == 0 && (n/m)&(n/m-1) == 0
}

// lookupUpload returns the vault and the upload. The caller holds s.mu.
func (s *Server) lookupUpload(vaultName, id string) (*vault, *upload, *apiError) {
	v, aerr := s.lookupVault(vaultName)
	if aerr != nil {
		return nil, nil, aerr
	}
	u, ok := v.uploads[id]
	if !ok {
		return v, nil, notFound("Multipart upload not found: %s", clip(id))
	}
	return v, u, nil
}

func (s *Server) initiateMultipart(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	desc, aerr := descriptionHeader(r)
	if aerr != nil {
		return aerr
	}
	ps := r.Header.Get("x-amz-part-size")
	if ps == "" {
		return missingParam("Required header x-amz-part-size is missing")
	}
	partSize, err := strconv.ParseInt(ps, 10, 64)
	if err != nil || !s.validPartSize(partSize) {
		return invalidParam("Invalid part size: %s. Part size must be a power of two multiple of %d bytes, at most 4 GiB",
			clip(ps), s.cfg.MinPartSize)
	}
	s.mu.Lock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	u := &upload{
		id:          newID(uploadIDLen),
		description: desc,
		created:     s.now(),
		seq:         v.nextSeq(),
		partSize:    partSize,
		parts:       make(map[int64]*part),
	}
	v.uploads[u.id] = u
	s.mu.Unlock()
	w.Header().Set("Location", s.location("vaults", rt.vault, "multipart-uploads", u.id))
	w.Header().Set("x-amz-multipart-upload-id", u.id)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// parseContentRange parses an upload part's "bytes first-last/*".
func parseContentRange(v string) (first, last int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, "/*")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := parseUint(a)
	last, err2 := parseUint(b)
	if err1 != nil || err2 != nil || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// parseUint parses a non-negative decimal int64 with no sign or spaces.
func parseUint(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return missingParam("Required header Content-Range is missing")
	}
	first, last, ok := parseContentRange(cr)
	if !ok {
		return invalidParam("Invalid Content-Range: %s (expected bytes first-last/*)", clip(cr))
	}
	if aerr := contentLength(r); aerr != nil {
		return aerr
	}
	if last-first+1 != r.ContentLength {
		return invalidParam("Content-Range %s does not match Content-Length %d", clip(cr), r.ContentLength)
	}
	wantTree, aerr := treeHashHeader(r)
	if aerr != nil {
		return aerr
	}
	s.mu.Lock()
	_, u, aerr := s.lookupUpload(rt.vault, rt.id)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	partSize := u.partSize
	s.mu.Unlock()
	if first%partSize != 0 {
		return invalidParam("Content-Range %s is not aligned to the part size %d", clip(cr), partSize)
	}
	if r.ContentLength > partSize {
		return invalidParam("Part of %d bytes is larger than the part size %d", r.ContentLength, partSize)
	}
	index := first / partSize
	if index >= int64(s.cfg.MaxPartCount) {
		return invalidParam("Content-Range %s is beyond the limit of %d parts", clip(cr), s.cfg.MaxPartCount)
	}
	got, aerr := s.receiveBody(r, wantTree)
	if aerr != nil {
		return aerr
	}
	s.mu.Lock()
	_, u, aerr = s.lookupUpload(rt.vault, rt.id)
	if aerr != nil {
		s.mu.Unlock()
		got.data.remove()
		return aerr
	}
	old := u.parts[index]
	u.parts[index] = &part{start: first, data: got.data, leaves: got.leaves, tree: got.tree}
	s.mu.Unlock()
	if old != nil {
		// Uploading a range again replaces it.
		old.data.remove()
	}
	w.Header().Set("x-amz-sha256-tree-hash", got.tree.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) completeMultipart(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	sz := r.Header.Get("x-amz-archive-size")
	if sz == "" {
		return missingParam("Required header x-amz-archive-size is missing")
	}
	size, err := parseUint(sz)
	if err != nil {
		return invalidParam("Invalid x-amz-archive-size: %s", clip(sz))
	}
	wantTree, aerr := treeHashHeader(r)
	if aerr != nil {
		return aerr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	v, u, aerr := s.lookupUpload(rt.vault, rt.id)
	if aerr != nil {
		if v != nil {
			if c, ok := v.completed[rt.id]; ok && c.size == size && c.tree == wantTree {
				if _, still := v.archives[c.archiveID]; still {
					s.writeArchiveCreated(w, v.name, c.archiveID, c.tree)
					return nil
				}
			}
		}
		return aerr
	}
	parts, aerr := s.assemble(u, size)
	if aerr != nil {
		return aerr
	}
	blobs := make([]blob, len(parts))
	for i, p := range parts {
		blobs[i] = p.data
	}
	data := newMultiBlob(blobs)
	var leaves []treehash.Digest
	if u.partSize%treehash.LeafSize == 0 {
		for _, p := range parts {
			leaves = append(leaves, p.leaves...)
		}
	} else {
		// Parts smaller than a leaf (MinPartSize override): hash afresh.
		h := newLeafHasher()
		if _, err := data.CopyRange(h, 0, size); err != nil {
			return newError(http.StatusInternalServerError, CodeServiceUnavailable, "read parts: %v", err)
		}
		leaves, _, _ = h.finish()
	}
	tree := treehash.TreeHashOfLeaves(leaves)
	if tree != wantTree {
		return invalidParam("Checksum mismatch: expected %s (calculated), got %s", tree, wantTree)
	}
	a := &archive{
		id:          newID(archiveIDLen),
		description: u.description,
		created:     s.now(),
		seq:         v.nextSeq(),
		data:        data,
		leaves:      leaves,
		treeHash:    tree,
	}
	v.archives[a.id] = a
	v.hadArchive = true
	delete(v.uploads, u.id)
	v.completed[u.id] = completedUpload{archiveID: a.id, size: size, tree: tree}
	s.writeArchiveCreated(w, v.name, a.id, tree)
	return nil
}

// assemble checks that the upload's parts cover exactly [0, size), each of
// the part size but the last, and returns them in order. The caller holds
// s.mu.
func (s *Server) assemble(u *upload, size int64) ([]*part, *apiError) {
	if size == 0 {
		return nil, invalidParam("Invalid x-amz-archive-size: 0; a multipart upload needs at least one part")
	}
	n := (size + u.partSize - 1) / u.partSize
	if n > int64(s.cfg.MaxPartCount) {
		return nil, invalidParam("Archive size %d needs %d parts of %d bytes, more than the limit of %d",
			size, n, u.partSize, s.cfg.MaxPartCount)
	}
	for index := range u.parts {
		if index >= n {
			return nil, invalidParam("Part at byte %d lies beyond the archive size %d", index*u.partSize, size)
		}
	}
	parts := make([]*part, n)
	for i := int64(0); i < n; i++ {
		p, ok := u.parts[i]
		want := u.partSize
		if i == n-1 {
			want = size - i*u.partSize
		}
		if !ok {
			return nil, invalidParam("Missing part for range %d-%d", i*u.partSize, i*u.partSize+want-1)
		}
		if p.data.Size() != want {
			return nil, invalidParam("Part at byte %d has %d bytes; expected %d", p.start, p.data.Size(), want)
		}
		parts[i] = p
	}
	return parts, nil
}

func (s *Server) abortMultipart(w http.ResponseWriter, rt route) *apiError {
	s.mu.Lock()
	v, u, aerr := s.lookupUpload(rt.vault, rt.id)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	delete(v.uploads, u.id)
	s.mu.Unlock()
	u.removeParts()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type partJSON struct {
	RangeInBytes   string `json:"RangeInBytes"`
	SHA256TreeHash string `json:"SHA256TreeHash"`
}

func (s *Server) listParts(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	q := r.URL.Query()
	limit, aerr := parseLimit(q, 50, 1000)
	if aerr != nil {
		return aerr
	}
	from := int64(0)
	if m := q.Get("marker"); m != "" {
		n, err := parseUint(m)
		if err != nil {
			return invalidParam("Invalid marker: %s", clip(m))
		}
		from = n
	}
	s.mu.Lock()
	_, u, aerr := s.lookupUpload(rt.vault, rt.id)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	parts := make([]*part, 0, len(u.parts))
	for _, p := range u.parts {
		if p.start >= from {
			parts = append(parts, p)
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].start < parts[j].start })
	out := struct {
		ArchiveDescription *string    `json:"ArchiveDescription"`
		CreationDate       string     `json:"CreationDate"`
		Marker             *string    `json:"Marker"`
		MultipartUploadId  string     `json:"MultipartUploadId"`
		PartSizeInBytes    int64      `json:"PartSizeInBytes"`
		Parts              []partJSON `json:"Parts"`
		VaultARN           string     `json:"VaultARN"`
	}{
		ArchiveDescription: nullIfEmpty(u.description),
		CreationDate:       isoTime(u.created),
		MultipartUploadId:  u.id,
		PartSizeInBytes:    u.partSize,
		Parts:              []partJSON{},
		VaultARN:           s.vaultARN(rt.vault),
	}
	s.mu.Unlock()
	for _, p := range parts {
		if len(out.Parts) == limit {
			m := strconv.FormatInt(p.start, 10)
			out.Marker = &m
			break
		}
		out.Parts = append(out.Parts, partJSON{
			RangeInBytes:   fmt.Sprintf("%d-%d", p.start, p.start+p.data.Size()-1),
			SHA256TreeHash: p.tree.String(),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type uploadJSON struct {
	ArchiveDescription *string `json:"ArchiveDescription"`
	CreationDate       string  `json:"CreationDate"`
	MultipartUploadId  string  `json:"MultipartUploadId"`
	PartSizeInBytes    int64   `json:"PartSizeInBytes"`
	VaultARN           string  `json:"VaultARN"`
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	q := r.URL.Query()
	limit, aerr := parseLimit(q, 50, 1000)
	if aerr != nil {
		return aerr
	}
	marker := q.Get("marker")
	s.mu.Lock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	uploads := make([]*upload, 0, len(v.uploads))
	for _, u := range v.uploads {
		uploads = append(uploads, u)
	}
	s.mu.Unlock()
	sort.Slice(uploads, func(i, j int) bool { return uploads[i].seq < uploads[j].seq })
	start, aerr := markerIndex(len(uploads), marker, func(i int) string { return uploads[i].id })
	if aerr != nil {
		return aerr
	}
	out := struct {
		Marker      *string      `json:"Marker"`
		UploadsList []uploadJSON `json:"UploadsList"`
	}{UploadsList: []uploadJSON{}}
	for _, u := range uploads[start:] {
		if len(out.UploadsList) == limit {
			m := u.id
			out.Marker = &m
			break
		}
		out.UploadsList = append(out.UploadsList, uploadJSON{
			ArchiveDescription: nullIfEmpty(u.description),
			CreationDate:       isoTime(u.created),
			MultipartUploadId:  u.id,
			PartSizeInBytes:    u.partSize,
			VaultARN:           s.vaultARN(rt.vault),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// markerIndex finds where a listing continues: the index of the item whose
// id is marker, or 0 for no marker.
func markerIndex(n int, marker string, id func(int) string) (int, *apiError) {
	if marker == "" {
		return 0, nil
	}
	for i := 0; i < n; i++ {
		if id(i) == marker {
			return i, nil
		}
	}
	return 0, invalidParam("Invalid marker: %s", clip(marker))
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
