package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/grsync/grsync/internal/store"
)

const (
	markerFormat  = "grsync-local-store"
	markerVersion = 1
)

// marker is the content of DIR/grsync-store.json.
type marker struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
}

// archiveMeta is the content of archives/<id>.json, and of
// uploads/<upload-id>.json once the upload's bytes are complete.
type archiveMeta struct {
	Description string    `json:"description"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
	TreeHash    string    `json:"tree_hash"`
}

// uploadMeta is the content of uploads/<upload-id>.json while the bytes are
// being written (a subset of archiveMeta).
type uploadMeta struct {
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	// Archive is the id the upload is published under, so aborting an
	// upload that died half-published also removes its archive bytes.
	Archive string `json:"archive,omitempty"`
	// PartSize is set for uploads of PutResumable: a continued upload
	// keeps the whole parts of this size already written.
	PartSize int64 `json:"part_size,omitempty"`
}

// jobMeta is the content of jobs/<job-id>.json.
type jobMeta struct {
	Kind      string    `json:"kind"` // "archive" or "inventory"
	ArchiveID string    `json:"archive_id,omitempty"`
	Tier      string    `json:"tier,omitempty"`
	Requested time.Time `json:"requested"`
	ReadyAt   time.Time `json:"ready_at"`
}

const (
	jobKindArchive   = "archive"
	jobKindInventory = "inventory"
)

// decodeStrict decodes exactly one JSON object into v, rejecting unknown
// fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON object")
	}
	return nil
}

// parseMarker decodes and checks a marker file.
func parseMarker(data []byte) (marker, error) {
	var m marker
	// Unknown fields are allowed so that a newer grsync may add some and
	// still be told apart by its version number.
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return marker{}, fmt.Errorf("%s is not a grsync store marker: %w", markerName, err)
	}
	switch {
	case m.Format != markerFormat:
		return marker{}, fmt.Errorf("%s is not a grsync store marker: format %q", markerName, m.Format)
	case m.Version < 1:
		return marker{}, fmt.Errorf("%s: invalid version %d", markerName, m.Version)
	case m.Version > markerVersion:
		return marker{}, fmt.Errorf("store format version %d was written by a newer grsync (this one knows version %d); upgrade grsync", m.Version, markerVersion)
	}
	return m, nil
}

// checkMarker reads and checks the marker at path; a missing marker yields
// an error wrapping os.ErrNotExist.
func checkMarker(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = parseMarker(data)
	return err
}

// writeMarker writes DIR/grsync-store.json atomically and durably.
func writeMarker(dir string, now time.Time) error {
	data, err := json.MarshalIndent(marker{Format: markerFormat, Version: markerVersion, Created: now.UTC()}, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+markerName+".tmp")
	if err := writeFileSync(tmp, append(data, '\n'), os.O_CREATE|os.O_TRUNC); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, markerName)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// parseArchiveMeta decodes and checks an archive's metadata.
func parseArchiveMeta(data []byte) (archiveMeta, error) {
	var m archiveMeta
	if err := decodeStrict(data, &m); err != nil {
		return archiveMeta{}, fmt.Errorf("invalid archive metadata: %w", err)
	}
	switch {
	case m.Size < 0:
		return archiveMeta{}, fmt.Errorf("invalid archive metadata: negative size %d", m.Size)
	case !store.ValidDescription(m.Description):
		return archiveMeta{}, errors.New("invalid archive metadata: description is not printable ASCII of at most 1024 bytes")
	case !validTreeHash(m.TreeHash):
		return archiveMeta{}, fmt.Errorf("invalid archive metadata: tree hash %q is not 64 lower-case hex digits", m.TreeHash)
	}
	return m, nil
}

// parseUploadMeta decodes an upload's metadata, leniently: it may be the
// initial record or the final archive metadata.
func parseUploadMeta(data []byte) (uploadMeta, error) {
	var m uploadMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return uploadMeta{}, fmt.Errorf("invalid upload metadata: %w", err)
	}
	return m, nil
}

// parseJobMeta decodes and checks a retrieval job file.
func parseJobMeta(data []byte) (jobMeta, error) {
	var j jobMeta
	if err := decodeStrict(data, &j); err != nil {
		return jobMeta{}, fmt.Errorf("invalid job file: %w", err)
	}
	switch j.Kind {
	case jobKindArchive:
		if !validID(j.ArchiveID) {
			return jobMeta{}, fmt.Errorf("invalid job file: archive id %q", j.ArchiveID)
		}
	case jobKindInventory:
		if j.ArchiveID != "" {
			return jobMeta{}, errors.New("invalid job file: inventory job with an archive id")
		}
	default:
		return jobMeta{}, fmt.Errorf("invalid job file: kind %q", j.Kind)
	}
	if j.ReadyAt.Before(j.Requested) {
		return jobMeta{}, errors.New("invalid job file: ready before requested")
	}
	return j, nil
}

func validTreeHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
