package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// Repacking: the live members of partly used packs are read back (ranged
// reads of each member, after a retrieval on a cold store), checked as
// restore checks them, and written into new packs of the same class; one
// catalogue transaction per new pack records it and re-points the version
// pieces to it. An old pack then has no kept version using it and is
// deleted by the usual rules. Content the target already stores in another
// object is re-pointed there without being read. A prune killed while a
// new pack is uploaded leaves an upload note: the next prune (or sync) adopts the
// pack, and the next repack re-points to its content instead of writing it
// again.

// repackJob is one old pack to repack: the live blobs still to copy.
type repackJob struct {
	it    RepackItem
	blobs []catalog.Blob
	r     store.Retrieval
}

// repackAll repacks items, as far as their retrievals are ready.
func repackAll(ctx context.Context, cfg *Config, opt PruneOptions, items []RepackItem, res *PruneResult) error {
	if len(items) == 0 {
		return nil
	}
	exclude := map[int64]bool{}
	for _, it := range items {
		exclude[it.Object.ID] = true
	}
	var reuse []catalog.Move
	var jobs []*repackJob
	for _, it := range items {
		blobs, live, err := cfg.Catalog.ObjectBlobs(cfg.Target.ID, it.Object.ID)
		if err != nil {
			return err
		}
		j := &repackJob{it: it}
		for i, b := range blobs {
			if !live[i] {
				continue
			}
			if other, ok, err := cfg.Catalog.FindBlobElsewhere(cfg.Target.ID, b.Hash, exclude); err != nil {
				return err
			} else if ok {
				reuse = append(reuse, catalog.Move{From: b.ID, To: &other})
				continue
			}
			j.blobs = append(j.blobs, b)
		}
		if len(j.blobs) > 0 {
			jobs = append(jobs, j)
		} else {
			res.Repacked++
		}
	}
	if len(reuse) > 0 {
		if err := cfg.Catalog.Repoint(cfg.Target.ID, nil, reuse, nil); err != nil {
			return fmt.Errorf("re-pointing versions to content already stored: %w", err)
		}
		res.Reused += len(reuse)
	}
	if len(jobs) == 0 {
		return nil
	}
	ready, err := awaitRetrievals(ctx, cfg, opt, jobs)
	if err != nil {
		return err
	}
	res.PendingRetrievals = len(jobs) - len(ready)
	w := &repacker{ctx: ctx, cfg: cfg, res: res, lanes: map[string]*newPack{}}
	defer w.abortAll()
	for _, j := range ready {
		if stopRequested(ctx, opt.Stop) {
			res.Interrupted = true
			break
		}
		if err := w.copyPack(j); err != nil {
			return err
		}
	}
	return w.closeAll()
}

// awaitRetrievals requests (or reuses) a retrieval of every job's pack and
// returns the jobs whose pack can be read, waiting for the others with
// opt.Wait.
func awaitRetrievals(ctx context.Context, cfg *Config, opt PruneOptions, jobs []*repackJob) ([]*repackJob, error) {
	ropt := RestoreOptions{Tier: opt.tier(), Days: opt.Days}
	for _, j := range jobs {
		r, _, err := retrieval(ctx, cfg, ropt, wholeObject(j.it.Object.ArchiveID))
		if err != nil {
			return nil, err
		}
		j.r = r
	}
	interval := opt.Poll
	if interval <= 0 {
		interval = 30 * time.Second
	}
	for {
		var ready []*repackJob
		for _, j := range jobs {
			r, err := refreshRetrieval(ctx, cfg, ropt, wholeObject(j.it.Object.ArchiveID), j.r)
			if err != nil {
				return nil, err
			}
			j.r = r
			if j.r.Ready {
				ready = append(ready, j)
			}
		}
		if len(ready) == len(jobs) || !opt.Wait || stopRequested(ctx, opt.Stop) {
			return ready, nil
		}
		cfg.observer().Notice("", fmt.Sprintf("waiting for %d of %d packs to be retrieved (%s tier)", len(jobs)-len(ready), len(jobs), opt.tier()))
		if err := sleepCtx(ctx, opt.Stop, interval); err != nil {
			return ready, nil
		}
		if opt.PollMax > 0 {
			interval = min(interval*2, opt.PollMax)
		}
	}
}

// newPack is a pack a repack is writing.
type newPack struct {
	id       format.PackID
	w        *format.PackWriter
	pw       *io.PipeWriter
	put      chan putResult
	note     int64
	class    string
	encoding string
	blobs    []*catalog.Blob
	moves    []catalog.Move
	olds     int // old packs whose every live member went in
}

// repacker writes new packs, one lane per class and encoding.
type repacker struct {
	ctx   context.Context
	cfg   *Config
	res   *PruneResult
	lanes map[string]*newPack
}

// copyPack copies the live members of job j's pack into the lane of its
// class and encoding. A member that cannot be read fails the old pack
// alone (it stays as it is, reported); what it wrote is dead weight in the
// new pack.
func (w *repacker) copyPack(j *repackJob) error {
	cfg := w.cfg
	class := j.it.Object.Class
	if class == "" {
		class = cfg.Class
	}
	encoding := j.blobs[0].Encoding
	lane := class + " " + encoding
	packID, err := format.ParsePackID(j.it.Object.PackID)
	if err != nil {
		w.res.Failed = append(w.res.Failed, Failure{Path: j.it.Object.ArchiveID, Err: err})
		return nil
	}
	var id age.Identity
	if strings.HasSuffix(encoding, "+age") {
		if cfg.Key == nil {
			return errors.New("the packs are encrypted: repacking needs the key")
		}
		id = format.NewPackIdentity(cfg.Key.AgeIdentity())
	}
	var moves []catalog.Move // of this old pack, into the lane's current pack
	counted := false
	for i, b := range j.blobs {
		p, err := w.lane(lane, class, encoding)
		if err != nil {
			return err
		}
		nb, err := w.copyMember(p, j, b, packID, id)
		if errors.Is(err, format.ErrPackFull) {
			p.moves, moves = append(p.moves, moves...), nil
			if err := w.close(lane); err != nil {
				return err
			}
			if p, err = w.lane(lane, class, encoding); err != nil {
				return err
			}
			nb, err = w.copyMember(p, j, b, packID, id)
		}
		if err != nil {
			if p.w.Err() != nil { // the new pack's upload failed
				return fmt.Errorf("writing a new pack: %w", err)
			}
			w.res.Failed = append(w.res.Failed, Failure{Path: j.it.Object.ArchiveID, Err: fmt.Errorf("not repacked: %w", err)})
			return nil
		}
		moves = append(moves, catalog.Move{From: b.ID, To: nb})
		if p.w.Size() >= cfg.packSize() {
			// Full: the moves so far are recorded with this pack.
			p.moves, moves = append(p.moves, moves...), nil
			if i == len(j.blobs)-1 {
				p.olds++
				counted = true
			}
			if err := w.close(lane); err != nil {
				return err
			}
		}
	}
	if !counted {
		p := w.lanes[lane]
		p.moves = append(p.moves, moves...)
		p.olds++
	}
	return nil
}

// copyMember reads blob b of the old pack and adds it to p, checking its
// content against the catalogue's hash.
func (w *repacker) copyMember(p *newPack, j *repackJob, b catalog.Blob, pack format.PackID, id age.Identity) (*catalog.Blob, error) {
	cfg := w.cfg
	kind := format.KindFile
	if b.Kind == catalog.BlobChunk {
		kind = format.KindChunk
	}
	raw, err := cfg.Store.ReadRange(w.ctx, j.r, b.Offset, b.Length)
	if err != nil {
		return nil, fmt.Errorf("reading member %d: %w", b.Member, err)
	}
	defer raw.Close()
	m, err := format.OpenMember(raw, id, format.MemberRef{Pack: pack, Number: uint32(b.Member), Kind: kind})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	h := cfg.contentHash()
	src := io.TeeReader(m, h)
	want, _ := hex.DecodeString(b.Hash)
	var e format.IndexEntry
	if kind == format.KindChunk {
		data, err := io.ReadAll(io.LimitReader(src, b.Size+1))
		if err != nil {
			return nil, fmt.Errorf("member %d: %w", b.Member, err)
		}
		if int64(len(data)) != b.Size {
			return nil, fmt.Errorf("member %d holds %d bytes, the catalogue recorded %d", b.Member, len(data), b.Size)
		}
		if b.Hash != "" && hex.EncodeToString(h.Sum(nil)) != b.Hash {
			return nil, fmt.Errorf("member %d does not match the catalogue's hash", b.Member)
		}
		if e, err = p.w.AddChunk(format.ChunkMeta{Hash: want}, data); err != nil {
			return nil, err
		}
	} else {
		info := m.Info()
		if info.Size != b.Size {
			return nil, fmt.Errorf("member %d holds %d bytes, the catalogue recorded %d", b.Member, info.Size, b.Size)
		}
		if e, err = p.w.AddFile(format.FileMeta{FileInfo: info, Hash: want}, src); err != nil {
			return nil, err
		}
		if b.Hash != "" && hex.EncodeToString(h.Sum(nil)) != b.Hash {
			return nil, fmt.Errorf("member %d does not match the catalogue's hash", b.Member)
		}
	}
	if e.Kind == format.KindVoid {
		return nil, fmt.Errorf("member %d could not be copied", b.Member)
	}
	nb := &catalog.Blob{Hash: b.Hash, Size: e.Size, Offset: e.Offset, Length: e.Length, Member: int64(e.Number),
		Kind: b.Kind, Encoding: p.encoding}
	p.blobs = append(p.blobs, nb)
	return nb, nil
}

// lane returns the open new pack of a lane, opening one if needed.
func (w *repacker) lane(key, class, encoding string) (*newPack, error) {
	if p := w.lanes[key]; p != nil {
		return p, nil
	}
	cfg := w.cfg
	p := &newPack{put: make(chan putResult, 1), class: class, encoding: encoding}
	if _, err := rand.Read(p.id[:]); err != nil {
		return nil, err
	}
	var recipient age.Recipient
	var mk *format.MetaKey
	if strings.HasSuffix(encoding, "+age") {
		recipient = cfg.Key.AgeIdentity().Recipient()
		mk = cfg.metaKey()
	}
	now := cfg.now()
	desc, meta, err := format.EncodeObjectDescription(format.ObjectMeta{Kind: format.ObjectPack, ID: p.id, Created: now,
		Encoding: encoding}, mk, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("describing a pack: %w", err)
	}
	if p.note, err = cfg.Catalog.BeginUpload(cfg.Target.ID, "pack "+p.id.String(), meta.Group, now); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	p.pw = pw
	p.w, err = format.NewPackWriter(pw, format.PackOptions{Pack: p.id, Created: now,
		Compress: strings.Contains(encoding, "zstd"), Recipient: recipient})
	if err != nil {
		pw.Close()
		pr.Close()
		_ = cfg.Catalog.EndUpload(p.note)
		return nil, err
	}
	ctx := store.WithClass(store.WithSizeHint(w.ctx, cfg.packSize()), class)
	go func() {
		a, err := cfg.Store.Put(ctx, pr, desc)
		pr.CloseWithError(errPutEnded)
		p.put <- putResult{a, err}
	}()
	w.lanes[key] = p
	return p, nil
}

// close finishes a lane's pack and records it with its moves.
func (w *repacker) close(key string) error {
	p := w.lanes[key]
	if p == nil {
		return nil
	}
	delete(w.lanes, key)
	cfg := w.cfg
	if len(p.blobs) == 0 {
		p.pw.CloseWithError(errEmptyPack)
		<-p.put
		return cfg.Catalog.EndUpload(p.note)
	}
	idx, err := p.w.Close()
	if err != nil {
		p.pw.CloseWithError(err)
	} else {
		p.pw.Close()
	}
	put := <-p.put
	if err == nil {
		err = put.err
	}
	if err == nil && put.arch.Size != idx.Size {
		err = fmt.Errorf("the store holds %d bytes of pack %s, %d were written", put.arch.Size, p.id, idx.Size)
	}
	if err != nil {
		_ = cfg.Catalog.EndUpload(p.note)
		return fmt.Errorf("storing a new pack: %w", err)
	}
	obj := &catalog.NewObject{Object: catalog.Object{TargetID: cfg.Target.ID, ArchiveID: put.arch.ID, Kind: catalog.ObjectPack,
		PackID: p.id.String(), Size: put.arch.Size, TreeHash: put.arch.TreeHash, Class: p.class, Uploaded: cfg.now(),
		LockMode: string(put.arch.Lock.Mode), LockUntil: put.arch.Lock.Until}, Blobs: p.blobs}
	if err := cfg.Catalog.Repoint(cfg.Target.ID, []*catalog.NewObject{obj}, p.moves, []int64{p.note}); err != nil {
		return fmt.Errorf("recording a new pack: %w", err)
	}
	w.res.NewPacks++
	w.res.Repacked += p.olds
	w.res.RepackedBytes += put.arch.Size
	return nil
}

func (w *repacker) closeAll() error {
	for key := range w.lanes {
		if err := w.close(key); err != nil {
			return err
		}
	}
	return nil
}

// abortAll gives up the packs still open (after an error): their uploads
// end without an object, and their notes are settled.
func (w *repacker) abortAll() {
	for key, p := range w.lanes {
		delete(w.lanes, key)
		p.pw.CloseWithError(errors.New("repack stopped"))
		if put := <-p.put; put.err == nil && put.arch.ID != "" {
			_ = w.cfg.Store.Delete(context.Background(), put.arch.ID)
		}
		_ = w.cfg.Catalog.EndUpload(p.note)
	}
}
