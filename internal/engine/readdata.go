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

	"filippo.io/age"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/legacy"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
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
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		return res, fmt.Errorf("reading the catalogue: %w", err)
	}
	byArchive, err := cfg.Catalog.ArchiveVersions(cfg.Target.ID)
	if err != nil {
		return res, fmt.Errorf("reading the catalogue: %w", err)
	}
	var mu sync.Mutex
	var keyNeeded, fatal error
	work := make(chan catalog.Object)
	var wg sync.WaitGroup
	for range cfg.jobs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				var n int64
				var err error
				if o.Kind == catalog.ObjectArchive {
					vs := byArchive[o.ArchiveID]
					if len(vs) == 0 {
						continue // no version uses it any more: prune's business
					}
					n, err = readBack(ctx, cfg, o.ArchiveID, vs[len(vs)-1])
				} else {
					n, err = readPack(ctx, cfg, o)
				}
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
					res.Damaged = append(res.Damaged, Damaged{ID: o.ArchiveID, Err: err})
				}
				mu.Unlock()
			}
		}()
	}
	for _, o := range objs {
		if stopRequested(ctx, stop) {
			break
		}
		work <- o
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
	for i := range res.Damaged {
		paths, err := cfg.Catalog.ObjectPaths(cfg.Target.ID, res.Damaged[i].ID)
		if err != nil {
			return res, fmt.Errorf("reading the catalogue: %w", err)
		}
		res.Damaged[i].Paths = paths
	}
	sort.Slice(res.Damaged, func(i, j int) bool { return res.Damaged[i].ID < res.Damaged[j].ID })
	return res, nil
}

// readPack reads a pack (or records or snapshot object) back whole: its
// bytes against the recorded tree hash, its index, and every member
// through decryption, decompression and the tar framing, against the
// hash its index records. It returns the stored bytes read.
func readPack(ctx context.Context, cfg *Config, o catalog.Object) (int64, error) {
	r, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: o.ArchiveID})
	if err != nil {
		return 0, fmt.Errorf("object %s: %w", o.ArchiveID, err)
	}
	if !r.Ready || r.JobID != "" {
		return 0, errNotDirect
	}
	var stored atomic.Int64
	if o.TreeHash != "" {
		rc, err := cfg.Store.ReadRange(ctx, r, 0, -1)
		if err != nil {
			return 0, fmt.Errorf("object %s: %w", o.ArchiveID, err)
		}
		tv := &treeVerifier{rc: &countingReader{rc: rc, n: &stored}, th: treehash.New(), want: o.TreeHash, id: o.ArchiveID}
		_, err = io.Copy(io.Discard, tv)
		tv.Close()
		if err != nil {
			return stored.Load(), err
		}
	}
	pack, err := format.ParsePackID(o.PackID)
	if err != nil {
		return stored.Load(), fmt.Errorf("object %s: %w", o.ArchiveID, err)
	}
	var id age.Identity
	if cfg.Key != nil {
		id = format.NewPackIdentity(cfg.Key.AgeIdentity())
	}
	at := &storeReaderAt{ctx: ctx, s: cfg.Store, r: r}
	idx, err := format.ReadPackIndex(at, o.Size, id, pack)
	if errors.Is(err, format.ErrNotEncrypted) && cfg.Key != nil {
		id = nil // an unencrypted target read with a key at hand
		idx, err = format.ReadPackIndex(at, o.Size, nil, pack)
	}
	if err != nil {
		return stored.Load(), fmt.Errorf("object %s: %w", o.ArchiveID, err)
	}
	for _, e := range idx.Members {
		if e.Kind != format.KindFile && e.Kind != format.KindChunk {
			continue
		}
		rc, err := cfg.Store.ReadRange(ctx, r, e.Offset, e.Length)
		if err != nil {
			return stored.Load(), fmt.Errorf("object %s: %w", o.ArchiveID, err)
		}
		m, err := format.OpenMember(&countingReader{rc: rc, n: &stored}, id, e.Ref(pack))
		if err != nil {
			rc.Close()
			return stored.Load(), fmt.Errorf("object %s: %w", o.ArchiveID, err)
		}
		h := cfg.contentHash()
		_, err = io.Copy(h, m)
		m.Close()
		rc.Close()
		if err != nil {
			return stored.Load(), fmt.Errorf("object %s: %s: %w", o.ArchiveID, e.Ref(pack), err)
		}
		if len(e.Hash) > 0 && hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(e.Hash) {
			return stored.Load(), fmt.Errorf("object %s: %s: content does not match its hash", o.ArchiveID, e.Ref(pack))
		}
	}
	return stored.Load(), nil
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
