package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/legacy"
	"github.com/grsync/grsync/internal/store"
)

// Damaged is an archive that could not be read back whole and intact.
type Damaged struct {
	ID    string
	Paths []string // the files it holds (every version recorded against it)
	Err   error
}

// ReadResult is what reading every archive back found.
type ReadResult struct {
	Archives int   // archives read
	Bytes    int64 // stored bytes read
	Damaged  []Damaged
}

// ErrReadDataKey: archives are encrypted and no key was given, so their
// authentication cannot be checked.
var ErrReadDataKey = errors.New("encrypted archives cannot be checked without the key")

// ReadData reads back every archive the catalogue records for the target,
// as a restore would but writing nothing: each archive's SHA-256 tree hash
// against the catalogue, its decryption and authentication (grsync's
// format, and the Python tools' forms), its size and its content hash.
// The store must serve archives directly (a local store): reading a cold
// store costs a retrieval per archive, so a store that needs one stops the
// run with an error.
func ReadData(ctx context.Context, cfg *Config, stop <-chan struct{}) (ReadResult, error) {
	var res ReadResult
	byArchive, err := cfg.Catalog.ArchiveVersions(cfg.Target.ID)
	if err != nil {
		return res, fmt.Errorf("reading the catalogue: %w", err)
	}
	ids := make([]string, 0, len(byArchive))
	for id := range byArchive {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var mu sync.Mutex
	var keyNeeded, fatal error
	work := make(chan string)
	var wg sync.WaitGroup
	for range cfg.jobs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				vs := byArchive[id]
				n, err := readBack(ctx, cfg, id, vs[len(vs)-1])
				mu.Lock()
				res.Archives++
				res.Bytes += n
				switch {
				case err == nil:
				case errors.Is(err, format.ErrKeyRequired) || errors.Is(err, legacy.ErrKeyRequired):
					keyNeeded = err
				case errors.Is(err, errNotDirect) || ctx.Err() != nil:
					fatal = err
				default:
					res.Damaged = append(res.Damaged, Damaged{ID: id, Paths: pathsOf(vs), Err: err})
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		if stopRequested(ctx, stop) {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	switch {
	case fatal != nil:
		return res, fatal
	case keyNeeded != nil:
		return res, fmt.Errorf("%w (%v)", ErrReadDataKey, keyNeeded)
	case stopRequested(ctx, stop):
		return res, context.Canceled
	}
	sort.Slice(res.Damaged, func(i, j int) bool { return res.Damaged[i].ID < res.Damaged[j].ID })
	return res, nil
}

// errNotDirect: the store needs a retrieval before an archive can be read.
var errNotDirect = errors.New("this store's archives cannot be read without a retrieval")

// readBack reads archive id through every check restore makes and returns
// the stored bytes it read.
func readBack(ctx context.Context, cfg *Config, id string, v catalog.Version) (int64, error) {
	r, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: id})
	if err != nil {
		return 0, fmt.Errorf("archive %s: %w", id, err)
	}
	if !r.Ready || r.JobID != "" {
		return 0, errNotDirect
	}
	var stored atomic.Int64 // over every pass (legacy forms read twice)
	read := func() (io.ReadCloser, error) {
		rc, err := cfg.Store.ReadRange(ctx, r, 0, -1)
		if err != nil {
			return nil, err
		}
		return &countingReader{rc: rc, n: &stored}, nil
	}
	content, closeAll, err := contentReader(cfg, id, v, read)
	if err != nil {
		return stored.Load(), err
	}
	defer closeAll()
	h := cfg.contentHash()
	n, err := io.Copy(h, content)
	if err != nil {
		return stored.Load(), fmt.Errorf("archive %s: %w", id, err)
	}
	if n != v.Size {
		return stored.Load(), fmt.Errorf("archive %s gave %d bytes, the catalogue recorded %d", id, n, v.Size)
	}
	if v.ContentHash != "" && hex.EncodeToString(h.Sum(nil)) != v.ContentHash {
		return stored.Load(), fmt.Errorf("archive %s: content does not match the catalogue's hash", id)
	}
	return stored.Load(), nil
}

// countingReader adds the bytes read through it to n.
type countingReader struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }

// pathsOf returns the distinct paths of vs, sorted.
func pathsOf(vs []catalog.Version) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		if !seen[v.Path] {
			seen[v.Path] = true
			out = append(out, v.Path)
		}
	}
	sort.Strings(out)
	return out
}
