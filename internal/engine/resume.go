package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// resumeVersion is the version of resumeRecord; records of other versions
// are not continued (their uploads are aborted).
const resumeVersion = 1

// resumeRecord is what an upload intent keeps so that a later run can
// continue the multipart upload (docs/DESIGN.md, "Resumable uploads"). It
// is written before the upload's first part is sent. Everything in it but
// State is known to the store or to the catalogue already; State, the age
// stream's file key, is sealed under the user's key.
type resumeRecord struct {
	V           int    `json:"v"`
	UploadID    string `json:"upload"`
	PartSize    int64  `json:"part_size"`
	Description string `json:"desc"`
	// The file as it was read: a continued upload must encode the very
	// same bytes, so all of these must match again.
	Size        int64  `json:"size"`
	MTimeNS     int64  `json:"mtime_ns"`
	CTimeNS     int64  `json:"ctime_ns"`
	Ino         uint64 `json:"ino"`
	Dev         uint64 `json:"dev"`
	ContentHash string `json:"hash"`
	Writer      string `json:"writer"`   // format.WriterID()
	Encoding    string `json:"encoding"` // format.Encoding of the options
	State       []byte `json:"state,omitempty"`
}

// decodeResume parses a resume record from the catalogue.
func decodeResume(b []byte) (resumeRecord, error) {
	var r resumeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("resume record: %w", err)
	}
	switch {
	case r.V != resumeVersion:
		return r, fmt.Errorf("resume record of version %d, want %d", r.V, resumeVersion)
	case r.UploadID == "" || r.PartSize <= 0 || r.Size < 0 || r.Description == "" || r.ContentHash == "":
		return r, errors.New("resume record is incomplete")
	}
	return r, nil
}

// fileIdentity returns what a resume record compares of a file.
func fileIdentity(fi fs.FileInfo) (ctimeNS int64, ino, dev uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Sec*1e9 + st.Ctim.Nsec, st.Ino, uint64(st.Dev)
	}
	return 0, 0, 0
}

// newResumeRecord describes a new upload of fi for a later run.
func (s *syncer) newResumeRecord(ref store.UploadRef, desc string, fi fs.FileInfo, hexSum string, st *format.StreamState) ([]byte, error) {
	ctime, ino, dev := fileIdentity(fi)
	r := resumeRecord{
		V: resumeVersion, UploadID: ref.ID, PartSize: ref.PartSize, Description: desc,
		Size: fi.Size(), MTimeNS: fi.ModTime().UnixNano(), CTimeNS: ctime, Ino: ino, Dev: dev,
		ContentHash: hexSum, Writer: format.WriterID(), Encoding: format.Encoding(s.fopts),
	}
	if s.fopts.Recipient != nil {
		if st == nil {
			return nil, errors.New("the archive writer did not report its stream state")
		}
		sealed, err := format.SealStreamState(*st, s.cfg.Key.ResumeKey(), rand.Reader)
		if err != nil {
			return nil, err
		}
		r.State = sealed
	}
	return json.Marshal(r)
}

// resumeCandidate is an upload a dead run left that this run may continue.
type resumeCandidate struct {
	intent catalog.PendingUpload
	rec    resumeRecord
}

// loadResumable returns, by path, the uploads dead runs left that can be
// continued, and the ids of their uploads (which AbortDeadUploads must
// leave alone). Of several for one path, the newest is kept; the others
// are aborted with the rest.
func loadResumable(cfg *Config) (map[string]*resumeCandidate, map[string]bool, error) {
	ps, err := cfg.Catalog.PendingUploads(cfg.Target.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	// An intent that will not be continued loses its resume record, so it
	// is settled like any dead upload: AbortDeadUploads aborts its upload,
	// verify lists what it stored.
	forget := func(p catalog.PendingUpload) {
		if err := cfg.Catalog.SetUploadResume(p.ID, nil); err != nil {
			cfg.log().Warn("could not update the catalogue", "err", err)
		}
	}
	byPath := map[string]*resumeCandidate{}
	for _, p := range ps { // oldest first
		if p.Resume == nil {
			continue
		}
		rec, err := decodeResume(p.Resume)
		if err != nil {
			cfg.log().Warn("an interrupted upload cannot be continued", "path", p.Path, "err", err)
			forget(p)
			continue
		}
		if old := byPath[p.Path]; old != nil {
			forget(old.intent)
		}
		byPath[p.Path] = &resumeCandidate{intent: p, rec: rec}
	}
	keep := map[string]bool{}
	for _, c := range byPath {
		keep[c.rec.UploadID] = true
	}
	return byPath, keep, nil
}

// takeResume hands out the candidate for path, at most once.
func (s *syncer) takeResume(path string) *resumeCandidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.resumable[path]
	delete(s.resumable, path)
	return c
}

// compatible reports why c cannot be continued for the file as read now,
// or "" if it can.
func (s *syncer) compatible(c *resumeCandidate, fi fs.FileInfo, hexSum string) string {
	ctime, ino, dev := fileIdentity(fi)
	r := c.rec
	switch {
	case r.Size != fi.Size() || r.MTimeNS != fi.ModTime().UnixNano() || r.CTimeNS != ctime || r.Ino != ino || r.Dev != dev:
		return "the file changed since"
	case r.ContentHash != hexSum:
		return "the file's content changed since"
	case r.Writer != format.WriterID():
		return "it was made by another version of grsync"
	case r.Encoding != format.Encoding(s.fopts):
		return "it was made with other compression or encryption settings"
	case groupOf(r.Description) != c.intent.Group:
		return "its record does not match its description"
	case (s.fopts.Recipient != nil) != (r.State != nil):
		return "its record does not match the encryption setting"
	}
	return ""
}

// dropResume abandons an upload that will not be continued: it is aborted
// and forgotten. If the store no longer has it (expired, aborted by hand,
// or completed just before the run died), the intent stays, without its
// resume record, for verify to settle as any interrupted upload.
func (s *syncer) dropResume(c *resumeCandidate, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.cfg.Store.AbortUpload(ctx, c.rec.UploadID)
	switch {
	case err == nil:
		s.cfg.observer().Notice(c.intent.Path, "aborted the interrupted upload of an earlier run: "+why)
		if err := s.cfg.Catalog.EndUpload(c.intent.ID); err != nil {
			s.cfg.log().Warn("could not update the catalogue", "err", err)
		}
	case errors.Is(err, store.ErrNotFound):
		if err := s.cfg.Catalog.SetUploadResume(c.intent.ID, nil); err != nil {
			s.cfg.log().Warn("could not update the catalogue", "err", err)
		}
	default:
		s.cfg.log().Warn("could not abort an interrupted upload; the next run tries again", "path", c.intent.Path, "upload", c.rec.UploadID, "err", err)
	}
}

// keepForResume reports whether a failed multipart upload should stay in
// the store for the next run to continue: the file was read and encoded
// fine, and the store failed transiently or the run was cancelled. A file
// that changed or could not be read, or a store that refused the upload,
// ends it.
func keepForResume(ctx context.Context, res encodeResult) bool {
	if res.putErr == nil {
		return false
	}
	if res.encErr != nil && !errors.Is(res.encErr, errPutFailed) {
		return false
	}
	return ctx.Err() != nil || errors.Is(res.putErr, context.Canceled) || !store.IsPermanent(res.putErr)
}

// ResumableUploads returns, by store upload id, the paths of the uploads
// interrupted runs left that the next sync will continue (if the file is
// unchanged) or abort.
func ResumableUploads(cat *catalog.Catalog, targetID int64) (map[string]string, error) {
	ps, err := cat.PendingUploads(targetID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	out := map[string]string{}
	for _, p := range ps {
		if p.Resume == nil {
			continue
		}
		if rec, err := decodeResume(p.Resume); err == nil {
			out[rec.UploadID] = p.Path
		}
	}
	return out, nil
}
