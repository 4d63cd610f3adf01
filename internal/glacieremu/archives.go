package glacieremu

import (
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/grsync/grsync/internal/treehash"
)

// Lengths of the ids Glacier hands out.
const (
	archiveIDLen = 138
	uploadIDLen  = 92
	jobIDLen     = 92
)

// validDescription applies Glacier's rule for archive and job descriptions:
// at most 1,024 bytes of printable ASCII (0x20 to 0x7e).
func validDescription(d string) bool {
	if len(d) > MaxDescription {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < 0x20 || d[i] > 0x7e {
			return false
		}
	}
	return true
}

// descriptionHeader reads and checks x-amz-archive-description.
func descriptionHeader(r *http.Request) (string, *apiError) {
	d := r.Header.Get("x-amz-archive-description")
	if !validDescription(d) {
		return "", invalidParam("Invalid archive description: at most %d printable ASCII characters are allowed", MaxDescription)
	}
	return d, nil
}

// treeHashHeader reads a required tree hash header.
func treeHashHeader(r *http.Request) (treehash.Digest, *apiError) {
	v := r.Header.Get("x-amz-sha256-tree-hash")
	if v == "" {
		return treehash.Digest{}, missingParam("Required header x-amz-sha256-tree-hash is missing")
	}
	d, err := treehash.ParseHex(v)
	if err != nil {
		return treehash.Digest{}, invalidParam("Invalid x-amz-sha256-tree-hash: %s", clip(v))
	}
	return d, nil
}

// received is a request body stored and hashed.
type received struct {
	data   blob
	leaves []treehash.Digest
	tree   treehash.Digest
}

// receiveBody stores exactly the request's Content-Length bytes, hashing them
// on the way, and checks the tree hash (and the linear x-amz-content-sha256
// when it carries a hash rather than a signing mode such as
// UNSIGNED-PAYLOAD). On error nothing is kept.
func (s *Server) receiveBody(r *http.Request, wantTree treehash.Digest) (*received, *apiError) {
	bw, err := s.store.create(r.ContentLength)
	if err != nil {
		return nil, newError(http.StatusInternalServerError, CodeServiceUnavailable, "store data: %v", err)
	}
	h := newLeafHasher()
	n, err := io.CopyN(io.MultiWriter(bw, h), r.Body, r.ContentLength)
	if err != nil {
		bw.abort()
		if n < r.ContentLength {
			return nil, newError(http.StatusRequestTimeout, CodeRequestTimeout,
				"Request body ended after %d of %d bytes", n, r.ContentLength)
		}
		return nil, newError(http.StatusInternalServerError, CodeServiceUnavailable, "store data: %v", err)
	}
	leaves, tree, linear := h.finish()
	if tree != wantTree {
		bw.abort()
		return nil, invalidParam("Checksum mismatch: expected %s (calculated), got %s", tree, wantTree)
	}
	if v := r.Header.Get("x-amz-content-sha256"); len(v) == 2*treehash.Size {
		if want, err := hex.DecodeString(v); err == nil && string(want) != string(linear[:]) {
			bw.abort()
			return nil, invalidParam("x-amz-content-sha256 does not match the payload: expected %s (calculated), got %s", linear, v)
		}
	}
	b, err := bw.commit()
	if err != nil {
		return nil, newError(http.StatusInternalServerError, CodeServiceUnavailable, "store data: %v", err)
	}
	return &received{data: b, leaves: leaves, tree: tree}, nil
}

// contentLength requires a known Content-Length (Glacier does not take
// chunked uploads).
func contentLength(r *http.Request) *apiError {
	if r.ContentLength < 0 {
		return missingParam("Required header Content-Length is missing")
	}
	return nil
}

func (s *Server) uploadArchive(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	desc, aerr := descriptionHeader(r)
	if aerr != nil {
		return aerr
	}
	if aerr := contentLength(r); aerr != nil {
		return aerr
	}
	if r.ContentLength > MaxUploadArchiveSize {
		return invalidParam("Archive size %d exceeds the single-upload limit of 4 GiB; use a multipart upload", r.ContentLength)
	}
	wantTree, aerr := treeHashHeader(r)
	if aerr != nil {
		return aerr
	}
	s.mu.Lock()
	_, aerr = s.lookupVault(rt.vault)
	s.mu.Unlock()
	if aerr != nil {
		return aerr
	}
	got, aerr := s.receiveBody(r, wantTree)
	if aerr != nil {
		return aerr
	}
	a, aerr := s.addArchive(rt.vault, newID(archiveIDLen), desc, s.now(), got)
	if aerr != nil {
		got.data.remove()
		return aerr
	}
	s.writeArchiveCreated(w, rt.vault, a.id, a.treeHash)
	return nil
}

// addArchive stores a new archive in the vault.
func (s *Server) addArchive(vaultName, id, desc string, created time.Time, got *received) (*archive, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, aerr := s.lookupVault(vaultName)
	if aerr != nil {
		return nil, aerr
	}
	a := &archive{
		id:          id,
		description: desc,
		created:     created,
		seq:         v.nextSeq(),
		data:        got.data,
		leaves:      got.leaves,
		treeHash:    got.tree,
	}
	v.archives[id] = a
	v.hadArchive = true
	return a, nil
}

// writeArchiveCreated sends the 201 response of UploadArchive and
// CompleteMultipartUpload.
func (s *Server) writeArchiveCreated(w http.ResponseWriter, vaultName, id string, tree treehash.Digest) {
	w.Header().Set("Location", s.location("vaults", vaultName, "archives", id))
	w.Header().Set("x-amz-archive-id", id)
	w.Header().Set("x-amz-sha256-tree-hash", tree.String())
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) deleteArchive(w http.ResponseWriter, rt route) *apiError {
	s.mu.Lock()
	v, aerr := s.lookupVault(rt.vault)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	a, ok := v.archives[rt.id]
	if !ok {
		s.mu.Unlock()
		return notFound("Archive not found for ARN: %s/archives/%s", s.vaultARN(v.name), clip(rt.id))
	}
	delete(v.archives, rt.id)
	// A retrieval job still holding the archive keeps its data alive.
	inUse := false
	for _, j := range v.jobs {
		if j.archive == a {
			inUse = true
			break
		}
	}
	s.mu.Unlock()
	if !inUse {
		a.data.remove()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
