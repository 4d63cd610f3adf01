package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// resumeAlign is the granularity at which an interrupted download resumes:
// bytes after the last whole MiB on disk are fetched again.
const resumeAlign = treehash.LeafSize

// downloadName is the name of the temporary file a retrieval downloads
// into, beside the destination. It is stable across runs so an interrupted
// download resumes.
func downloadName(archiveID string) string {
	h := sha256.Sum256([]byte(archiveID))
	return ".grsync-download-" + hex.EncodeToString(h[:8]) + ".part"
}

// download fetches a ready retrieval into a file in folder d, resuming
// from what an earlier run left, and verifies the whole archive's SHA-256
// tree hash against want (the catalogue's record, else the store's). The
// store verifies each chunk it hands over; what is on disk was handed
// over. It returns the file's name in d.
func download(ctx context.Context, s store.Store, r store.Retrieval, want string, d *destDir, obs Observer) (string, error) {
	name := downloadName(r.ArchiveID)
	f, err := d.open(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating download file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	off := fi.Size() / resumeAlign * resumeAlign
	if r.Size >= 0 && off > r.Size {
		off = 0
	}
	if err := f.Truncate(off); err != nil {
		return "", fmt.Errorf("download file: %w", err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return "", err
	}
	if off > 0 {
		obs.Notice(d.name(name), fmt.Sprintf("resuming download of archive %s at %d bytes", r.ArchiveID, off))
	}
	if r.Size < 0 || off < r.Size {
		rc, err := s.ReadRange(ctx, r, off, -1)
		if err != nil {
			return "", fmt.Errorf("downloading archive %s: %w", r.ArchiveID, err)
		}
		_, err = io.Copy(f, rc)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("downloading archive %s: %w", r.ArchiveID, err)
		}
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("download file: %w", err)
	}
	if want == "" {
		want = r.TreeHash
	}
	if want != "" {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		th := treehash.New()
		if _, err := io.Copy(th, f); err != nil {
			return "", fmt.Errorf("verifying download: %w", err)
		}
		if got := hex.EncodeToString(th.Sum(nil)); got != want {
			f.Close()
			d.remove(name) // start over next time
			return "", fmt.Errorf("archive %s downloaded corrupt: tree hash %s, expected %s", r.ArchiveID, got, want)
		}
	}
	return name, nil
}
