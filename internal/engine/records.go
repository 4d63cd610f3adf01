package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// Version records in the store (docs/FORMAT.md section 10): after every
// sync that changed the catalogue, the changes (objects, blobs, versions of
// files, folders and symlinks, deletions) are stored as one small records
// object, in the hot class, so the store alone gives back every version.

// recordsPath is the name of the one member of a records object.
const recordsPath = "/grsync/records.jsonl"

// StoreRecords stores the catalogue changes made since the last records
// object, if any, and returns how many lines it stored.
func StoreRecords(ctx context.Context, cfg *Config, run int64) (int, error) {
	sp, err := newRecordsSpool(cfg)
	if err != nil {
		return 0, err
	}
	defer sp.close()
	return sp.store(ctx, run)
}

// recordsSpool writes the records of a run to a temporary file while the
// run commits them, a part after each stored pack (on a goroutine of its
// own, see catalog.ExportRecordsPart), so that the end of a sync stores a
// file already written instead of reading back every row it added: for
// 50,000 new files that export took 0.75 s after the last pack, on one
// core, while the other waited.
type recordsSpool struct {
	cfg *Config
	f   *os.File

	mu   sync.Mutex
	from catalog.RecordsMark // where the stored records end
	to   catalog.RecordsMark // where the spool ends
	n    int                 // lines in the spool, header aside
	err  error               // sticky: the spool is not usable

	kick chan struct{}
	done chan struct{}
}

func newRecordsSpool(cfg *Config) (*recordsSpool, error) {
	mark, err := cfg.Catalog.RecordsMark(cfg.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	f, err := os.CreateTemp("", "grsync-records-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	return &recordsSpool{cfg: cfg, f: f, from: mark, to: mark}, nil
}

// catchUp adds to the spool what was committed since its end.
func (sp *recordsSpool) catchUp() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.err != nil {
		return sp.err
	}
	next, n, err := sp.cfg.Catalog.ExportRecordsPart(sp.cfg.Target.ID, sp.to, sp.cfg.now(), sp.f, sp.n == 0)
	if err != nil {
		sp.err = err
		return err
	}
	sp.to, sp.n = next, sp.n+n
	return nil
}

// batch asks for the version records of a batch about to be committed
// (see catalog.BatchRecords); nil without a spool, or when it failed.
func (sp *recordsSpool) batch() *catalog.BatchRecords {
	if sp == nil {
		return nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.err != nil {
		return nil
	}
	return &catalog.BatchRecords{TargetID: sp.cfg.Target.ID, From: sp.to}
}

// committed is told of every committed batch: its records are added when
// they continue the spool; otherwise a part is asked for, which exports
// them from the catalogue in the background.
func (sp *recordsSpool) committed(br *catalog.BatchRecords) {
	if sp != nil && !sp.take(br) {
		sp.poke()
	}
}

// take adds the records of a committed batch when they continue the spool
// (nothing else was committed between, and no part exported them yet),
// and reports whether it did.
func (sp *recordsSpool) take(br *catalog.BatchRecords) bool {
	if sp == nil || br == nil || !br.OK {
		return false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.err != nil || sp.to != br.From {
		return false
	}
	n, err := catalog.WriteRecordLines(sp.f, br.Lines, sp.cfg.now(), sp.n == 0)
	if err != nil {
		sp.err = fmt.Errorf("records: %w", err)
		return false
	}
	sp.to, sp.n = br.To, sp.n+n
	return true
}

// start writes parts in the background, each time poke is called.
func (sp *recordsSpool) start() {
	sp.kick, sp.done = make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(sp.done)
		for range sp.kick {
			_ = sp.catchUp() // kept in sp.err, reported by store
		}
	}()
}

// poke asks for a part (it never waits).
func (sp *recordsSpool) poke() {
	if sp.kick == nil {
		return
	}
	select {
	case sp.kick <- struct{}{}:
	default: // a part is asked for already
	}
}

// stop ends the background writing.
func (sp *recordsSpool) stop() {
	if sp.kick != nil {
		close(sp.kick)
		<-sp.done
		sp.kick = nil
	}
}

// store writes the last part and stores the spool as a records object,
// recorded with the mark it reaches, and returns its lines.
func (sp *recordsSpool) store(ctx context.Context, run int64) (int, error) {
	sp.stop()
	if err := sp.catchUp(); err != nil {
		return 0, err
	}
	if sp.n == 0 {
		return 0, nil
	}
	size, err := sp.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("records: %w", err)
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("records: %w", err)
	}
	cfg := sp.cfg
	obj, note, err := storeMetaObject(ctx, cfg, format.ObjectRecords, recordsPath, sp.f, size)
	if err != nil {
		return 0, fmt.Errorf("storing version records: %w", err)
	}
	obj.RunID = run
	if err := cfg.Catalog.MarkRecords(cfg.Target.ID, sp.to, obj, note); err != nil {
		return 0, fmt.Errorf("recording the version records: %w", err)
	}
	// The store's pointers name the new records at once: a run killed
	// later (while its snapshot uploads) leaves nothing a recovery misses.
	if err := WritePointers(ctx, cfg); err != nil {
		cfg.log().Warn("could not write the store's catalogue pointers; the next run tries again", "err", err)
	}
	return sp.n, nil
}

// close stops the spool and removes its file.
func (sp *recordsSpool) close() {
	sp.stop()
	sp.f.Close()
	os.Remove(sp.f.Name())
}

// storeMetaObject stores content (size bytes) as a one-member pack of the
// given kind in the hot class, noted in the catalogue before it is sent,
// and returns the object and the note (to settle when it is recorded).
func storeMetaObject(ctx context.Context, cfg *Config, kind, name string, content io.Reader, size int64) (catalog.Object, int64, error) {
	var id format.PackID
	if _, err := rand.Read(id[:]); err != nil {
		return catalog.Object{}, 0, err
	}
	var recipient age.Recipient
	var mk *format.MetaKey
	if cfg.Encrypt || (cfg.Key != nil && cfg.Target.Encrypted) {
		recipient = cfg.Key.AgeIdentity().Recipient()
		k := format.MetaKey(cfg.Key.MetadataKey())
		mk = &k
	}
	now := cfg.now()
	encoding := format.PackEncoding(true, recipient != nil)
	desc, meta, err := format.EncodeObjectDescription(format.ObjectMeta{Kind: kind, ID: id, Created: now, Encoding: encoding}, mk, rand.Reader)
	if err != nil {
		return catalog.Object{}, 0, err
	}
	note, err := cfg.Catalog.BeginUpload(cfg.Target.ID, kind+" "+id.String(), meta.Group, now)
	if err != nil {
		return catalog.Object{}, 0, err
	}
	pr, pw := io.Pipe()
	go func() {
		w, err := format.NewPackWriter(pw, format.PackOptions{Pack: id, Created: now, Compress: true, Recipient: recipient})
		if err == nil {
			_, err = w.AddFile(format.FileMeta{FileInfo: format.FileInfo{Path: name, Size: size, Mode: 0o600, ModTime: now}}, content)
		}
		if err == nil {
			_, err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	pctx := store.WithSizeHint(ctx, size)
	if cfg.HotClass != "" {
		pctx = store.WithClass(pctx, cfg.HotClass)
	}
	a, err := cfg.Store.Put(pctx, pr, desc)
	pr.CloseWithError(errPutEnded)
	if err != nil {
		_ = cfg.Catalog.EndUpload(note)
		return catalog.Object{}, 0, err
	}
	return catalog.Object{TargetID: cfg.Target.ID, ArchiveID: a.ID, Kind: catalog.ObjectKind(kind), PackID: id.String(),
		Size: a.Size, TreeHash: a.TreeHash, Class: cfg.metaClass(), Uploaded: now,
		LockMode: string(a.Lock.Mode), LockUntil: a.Lock.Until}, note, nil
}

// metaClass is the class records and snapshots are billed in.
func (c *Config) metaClass() string {
	if c.HotClass != "" {
		return c.HotClass
	}
	return c.Class
}

// metaObject is a records or snapshot object found in a listing.
type metaObject struct {
	archive store.Archive
	meta    format.ObjectMeta
}

// findMetaObjects returns the listing's objects of kind, oldest first.
// Objects whose description cannot be read with the key are returned in
// problems.
func findMetaObjects(cfg *Config, archives []store.Archive, kind string) (found []metaObject, problems []Failure) {
	mk := cfg.metaKey()
	for _, a := range archives {
		if _, ok := format.IsObjectDescription(a.Description); !ok {
			continue
		}
		m, err := format.ParseObjectDescription(a.Description, mk)
		if err != nil {
			problems = append(problems, Failure{Path: "object " + a.ID, Err: err})
			continue
		}
		if m.Kind == kind {
			found = append(found, metaObject{archive: a, meta: m})
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].meta.Created.Before(found[j].meta.Created) })
	return found, problems
}

// WaitOptions say whether and how to wait for cold-storage retrievals.
type WaitOptions struct {
	Wait bool
	Poll time.Duration // first poll interval; grows to 15 minutes
	Tier store.Tier
	Stop <-chan struct{}
}

// readMetaObject reads the one member of a records or snapshot object. On
// a cold store its retrieval is requested (and recorded, so the next run
// reuses it) and, with w.Wait, waited for; otherwise an object that is not
// readable yet gives an error wrapping store.ErrNotReady.
func readMetaObject(ctx context.Context, cfg *Config, o metaObject, w WaitOptions) ([]byte, error) {
	r, _, err := retrieval(ctx, cfg, RestoreOptions{Tier: w.Tier}, wholeObject(o.archive.ID))
	if err != nil {
		return nil, err
	}
	poll := w.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	for !r.Ready {
		if r, err = cfg.Store.Poll(ctx, r); err != nil {
			return nil, err
		}
		if r.Ready {
			_ = saveRetrieval(cfg, r)
			break
		}
		if !w.Wait {
			return nil, fmt.Errorf("object %s: %w", o.archive.ID, store.ErrNotReady)
		}
		if err := sleepCtx(ctx, w.Stop, poll); err != nil {
			return nil, err
		}
		poll = min(poll*2, 15*time.Minute)
	}
	rc, err := cfg.Store.ReadRange(ctx, r, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxMetaObject+1))
	if err != nil {
		return nil, err
	}
	return metaMember(cfg, o, raw)
}

// metaMember returns the one file member of records or snapshot object o,
// whose bytes are raw.
func metaMember(cfg *Config, o metaObject, raw []byte) ([]byte, error) {
	if len(raw) > maxMetaObject {
		return nil, fmt.Errorf("object %s is larger than %d bytes", o.archive.ID, maxMetaObject)
	}
	id := cfg.identityFor(o.meta.Encoding)
	idx, err := format.ReadPackIndex(bytes.NewReader(raw), int64(len(raw)), id, format.PackID(o.meta.ID))
	if err != nil {
		return nil, err
	}
	if len(idx.Members) != 1 || idx.Members[0].Kind != format.KindFile {
		return nil, fmt.Errorf("object %s: not one file member", o.archive.ID)
	}
	e := idx.Members[0]
	m, err := format.OpenMember(bytes.NewReader(raw[e.Offset:e.Offset+e.Length]), id, e.Ref(format.PackID(o.meta.ID)))
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return io.ReadAll(m)
}

// maxMetaObject bounds what is read of a records object into memory.
const maxMetaObject = 1 << 30

// RecordsResult says what reading the store's version records gave.
type RecordsResult struct {
	Objects  int // records objects read
	Stats    catalog.ImportStats
	Waiting  int // records objects not readable without a retrieval
	Problems []Failure
}

// ImportStoreRecords adds to the catalogue what every records object in
// the listing holds, oldest first.
func ImportStoreRecords(ctx context.Context, cfg *Config, archives []store.Archive, w WaitOptions) (RecordsResult, error) {
	var res RecordsResult
	found, problems := findMetaObjects(cfg, archives, format.ObjectRecords)
	res.Problems = problems
	for _, o := range found {
		doc, err := readMetaObject(ctx, cfg, o, w)
		if errors.Is(err, store.ErrNotReady) {
			res.Waiting++
			continue
		}
		if err != nil {
			res.Problems = append(res.Problems, Failure{Path: "records object " + o.archive.ID, Err: err})
			continue
		}
		_, lines, err := catalog.ReadRecords(bytes.NewReader(doc))
		if err != nil {
			res.Problems = append(res.Problems, Failure{Path: "records object " + o.archive.ID, Err: err})
			continue
		}
		lines = safeLines(lines, func(err error) {
			res.Problems = append(res.Problems, Failure{Path: "records object " + o.archive.ID, Err: err})
		})
		st, err := cfg.Catalog.ImportRecords(cfg.Target.ID, lines)
		if err != nil {
			res.Problems = append(res.Problems, Failure{Path: "records object " + o.archive.ID, Err: err})
			continue
		}
		if err := cfg.Catalog.AddObject(catalog.Object{TargetID: cfg.Target.ID, ArchiveID: o.archive.ID, Kind: catalog.ObjectRecords,
			PackID: format.PackID(o.meta.ID).String(), Size: o.archive.Size, TreeHash: o.archive.TreeHash, Class: cfg.metaClass(),
			Uploaded: o.meta.Created, LockMode: string(o.archive.Lock.Mode), LockUntil: o.archive.Lock.Until}); err != nil {
			return res, err
		}
		res.Objects++
		res.Stats.Objects += st.Objects
		res.Stats.Blobs += st.Blobs
		res.Stats.Versions += st.Versions
		res.Stats.Known += st.Known
		res.Stats.Entries += st.Entries
	}
	return res, nil
}

// metaKey is the key descriptions are encrypted with, nil without a key.
func (c *Config) metaKey() *format.MetaKey {
	if c.Key == nil {
		return nil
	}
	k := format.MetaKey(c.Key.MetadataKey())
	return &k
}

// identityFor returns the identity to read content of this encoding: nil
// unless it is encrypted (a plaintext object is never read with a key).
func (c *Config) identityFor(encoding string) age.Identity {
	if c.Key == nil || len(encoding) < 4 || encoding[len(encoding)-4:] != "+age" {
		return nil
	}
	return c.Key.AgeIdentity()
}

// safeLines drops the version lines whose path is not a clean absolute
// path (a hostile or damaged store), reporting each.
func safeLines(lines []catalog.RecordLine, report func(error)) []catalog.RecordLine {
	out := lines[:0]
	for _, l := range lines {
		if v := l.Version; v != nil {
			p := v.Path
			if v.PathB64 != "" {
				b, _ := base64.StdEncoding.DecodeString(v.PathB64)
				p = string(b)
			}
			if err := checkSafePath(p); err != nil {
				report(fmt.Errorf("a version names %w; not added", err))
				continue
			}
		}
		out = append(out, l)
	}
	return out
}
