package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
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
	Pending  int // objects whose retrieval is not ready yet
}

// ErrReadDataKey: archives are encrypted and no key was given, so their
// authentication cannot be checked.
var ErrReadDataKey = errors.New("encrypted archives cannot be checked without the key")

// ReadDataOptions says which objects verify --read-data reads and how.
type ReadDataOptions struct {
	// Sample is the share of the objects to read, in percent (0 or 100:
	// all), picked at random with Rand (nil: a random seed).
	Sample float64
	Rand   *rand.Rand
	// Tier and Days are the retrievals on a cold store; Wait waits for
	// them, polling every Poll (growing to PollMax).
	Tier          store.Tier
	Days          int
	Wait          bool
	Poll, PollMax time.Duration
	Stop          <-chan struct{}
}

// ReadDataPlan is which objects verify --read-data reads, and what reading
// them costs.
type ReadDataPlan struct {
	Objects []catalog.Object
	Total   int   // objects the target holds that could be read
	Bytes   int64 // stored bytes of Objects
	// Retrievals counts the objects that need one (a cold store) and
	// Estimate prices reading them all (no estimate on a local store).
	Retrievals int
	Priced     bool
	Estimate   cost.Estimate
	Tier       store.Tier
	Wait       cost.Wait
	versions   map[string][]catalog.Version
}

// PlanReadData picks the objects to read: every archive a kept version
// uses, every pack, records object and snapshot (those prune condemned
// left out), or a random Sample percent of them (at least one), and
// prices their retrieval.
func PlanReadData(cfg *Config, opt ReadDataOptions, prices *cost.Prices) (*ReadDataPlan, error) {
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	byArchive, err := cfg.Catalog.ArchiveVersions(cfg.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	plan := &ReadDataPlan{versions: byArchive, Tier: opt.Tier}
	if plan.Tier == "" {
		plan.Tier = store.TierStandard
	}
	var all []catalog.Object
	for _, o := range objs {
		if !o.Condemned.IsZero() {
			continue // prune's: no kept version uses it
		}
		if o.Kind == catalog.ObjectArchive && len(byArchive[o.ArchiveID]) == 0 {
			continue // no version uses it any more: prune's business
		}
		all = append(all, o)
	}
	plan.Total = len(all)
	if opt.Sample > 0 && opt.Sample < 100 && len(all) > 0 {
		r := opt.Rand
		if r == nil {
			r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		}
		n := max(1, int(math.Ceil(float64(len(all))*opt.Sample/100)))
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		all = all[:n]
		sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	}
	plan.Objects = all
	if prices == nil {
		prices = cost.Default()
	}
	groups := map[cost.Class]cost.Retrieval{}
	for _, o := range all {
		plan.Bytes += o.Size
		c, ok := PriceClass(cfg.Target.Location, o.Class, cfg.Class)
		if !ok {
			continue
		}
		plan.Priced = true
		cp, err := prices.Class(c)
		if err != nil {
			return nil, err
		}
		if cp.Archive() {
			plan.Retrievals++
		}
		g := groups[c]
		g.Objects++
		g.Bytes += o.Size
		groups[c] = g
	}
	var es []cost.Estimate
	for _, c := range sortedClasses(groups) {
		e, err := prices.Restore(c, cost.RestoreOptions{Tier: plan.Tier, Days: opt.Days}, groups[c])
		if err != nil {
			return nil, err
		}
		if e.Wait.Max > plan.Wait.Max {
			plan.Wait = e.Wait
		}
		es = append(es, e.Estimate)
	}
	plan.Estimate = cost.Sum(es...)
	return plan, nil
}

// ReadData reads back the plan's objects, as a restore would but writing
// nothing: each archive's SHA-256 tree hash against the catalogue, its
// decryption and authentication (grsync's format, and the Python tools'
// forms), its size and its content hash; a pack's index and every member
// against the hash its index records. On a cold store each object's
// retrieval is requested first (and recorded, so a later run reuses it),
// and its output is downloaded once, into a temporary file; objects whose
// retrieval is not ready are counted as Pending (with opt.Wait, waited
// for).
func ReadData(ctx context.Context, cfg *Config, opt ReadDataOptions, plan *ReadDataPlan) (ReadResult, error) {
	var res ReadResult
	ropt := RestoreOptions{Tier: opt.Tier, Days: opt.Days}
	rs := map[string]store.Retrieval{}
	for _, o := range plan.Objects {
		if stopRequested(ctx, opt.Stop) {
			return res, context.Canceled
		}
		r, _, err := retrieval(ctx, cfg, ropt, wholeObject(o.ArchiveID))
		if err != nil {
			return res, err
		}
		rs[o.ArchiveID] = r
	}
	pending := plan.Objects
	interval := opt.Poll
	if interval <= 0 {
		interval = 30 * time.Second
	}
	for {
		var ready, still []catalog.Object
		for _, o := range pending {
			r, err := refreshRetrieval(ctx, cfg, ropt, wholeObject(o.ArchiveID), rs[o.ArchiveID])
			if err != nil {
				return res, err
			}
			rs[o.ArchiveID] = r
			if r.Ready {
				ready = append(ready, o)
			} else {
				still = append(still, o)
			}
		}
		if err := readObjects(ctx, cfg, opt.Stop, plan, ready, rs, &res); err != nil {
			return res, err
		}
		pending = still
		if len(pending) == 0 || !opt.Wait || stopRequested(ctx, opt.Stop) {
			break
		}
		cfg.observer().Notice("", fmt.Sprintf("waiting for %d objects to be retrieved (%s tier)", len(pending), tierOrDefault(opt.Tier)))
		if err := sleepCtx(ctx, opt.Stop, interval); err != nil {
			break
		}
		if opt.PollMax > 0 {
			interval = min(interval*2, opt.PollMax)
		}
	}
	res.Pending = len(pending)
	if stopRequested(ctx, opt.Stop) {
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

// readObjects reads the ready objects, several at a time.
func readObjects(ctx context.Context, cfg *Config, stop <-chan struct{}, plan *ReadDataPlan, objs []catalog.Object,
	rs map[string]store.Retrieval, res *ReadResult) error {
	var mu sync.Mutex
	var keyNeeded, fatal error
	eachObject(cfg.jobs(), objs, func() bool { return stopRequested(ctx, stop) }, func(o catalog.Object) {
		n, err := readObject(ctx, cfg, o, plan.versions[o.ArchiveID], rs[o.ArchiveID])
		mu.Lock()
		defer mu.Unlock()
		res.Archives++
		res.Bytes += n
		switch {
		case err == nil:
		case errors.Is(err, format.ErrKeyRequired) || errors.Is(err, legacy.ErrKeyRequired):
			keyNeeded = err
		case ctx.Err() != nil:
			fatal = err
		default:
			res.Damaged = append(res.Damaged, Damaged{ID: o.ArchiveID, Err: err})
		}
	})
	switch {
	case fatal != nil:
		return fatal
	case keyNeeded != nil:
		return fmt.Errorf("%w (%v)", ErrReadDataKey, keyNeeded)
	}
	return nil
}

// readObject reads one object through a ready retrieval. A cold store's
// output is downloaded once, into a temporary file, and read from there.
func readObject(ctx context.Context, cfg *Config, o catalog.Object, vs []catalog.Version, r store.Retrieval) (int64, error) {
	src := objectBytes{ctx: ctx, s: cfg.Store, r: r}
	var stored atomic.Int64
	if r.JobID != "" {
		f, err := os.CreateTemp("", "grsync-read-data-*")
		if err != nil {
			return 0, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		rc, err := cfg.Store.ReadRange(ctx, r, 0, -1)
		if err != nil {
			return 0, fmt.Errorf("object %s: %w", o.ArchiveID, err)
		}
		_, err = io.Copy(f, &countingReader{rc: rc, n: &stored})
		rc.Close()
		if err != nil {
			return stored.Load(), fmt.Errorf("object %s: downloading: %w", o.ArchiveID, err)
		}
		src.file = f
	}
	var n int64
	var err error
	if o.Kind == catalog.ObjectArchive {
		n, err = readBack(src, cfg, o.ArchiveID, vs[len(vs)-1])
	} else {
		n, err = readPack(src, cfg, o)
	}
	if src.file != nil {
		return stored.Load(), err
	}
	return n, err
}

// objectBytes reads an object's bytes: from a ready retrieval, or from a
// file its output was downloaded into.
type objectBytes struct {
	ctx  context.Context
	s    store.Store
	r    store.Retrieval
	file *os.File
}

func (b objectBytes) readRange(off, length int64) (io.ReadCloser, error) {
	if b.file == nil {
		return b.s.ReadRange(b.ctx, b.r, off, length)
	}
	if length < 0 {
		fi, err := b.file.Stat()
		if err != nil {
			return nil, err
		}
		length = fi.Size() - off
	}
	return io.NopCloser(io.NewSectionReader(b.file, off, length)), nil
}

func (b objectBytes) readerAt() io.ReaderAt {
	if b.file != nil {
		return b.file
	}
	return &storeReaderAt{ctx: b.ctx, s: b.s, r: b.r}
}

// readPack reads a pack (or records or snapshot object) back whole: its
// bytes against the recorded tree hash, its index, and every member
// through decryption, decompression and the tar framing, against the
// hash its index records. It returns the stored bytes read.
func readPack(src objectBytes, cfg *Config, o catalog.Object) (int64, error) {
	var stored atomic.Int64
	if o.TreeHash != "" {
		rc, err := src.readRange(0, -1)
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
	at := src.readerAt()
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
		rc, err := src.readRange(e.Offset, e.Length)
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

// readBack reads archive id through every check restore makes and returns
// the stored bytes it read.
func readBack(src objectBytes, cfg *Config, id string, v catalog.Version) (int64, error) {
	var stored atomic.Int64 // over every pass (legacy forms read twice)
	read := func() (io.ReadCloser, error) {
		rc, err := src.readRange(0, -1)
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
