package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// The pack and put stages. Members are added to a pack by the worker that
// read them, under the pack's lock (workers read, hash and look up content
// in parallel; a pack is written one member at a time), and stream through
// a pipe into the store's Put, which runs in a goroutine of its own. There
// are two lanes: whole small files, and the chunks of large files, so that
// a large file's chunks lie together in few packs. A pack is closed (its
// index and trailer written) once it holds PackSize bytes; its upload then
// completes in the background and the record stage commits it with the
// versions it completes. Memory is bounded by the store's part size times
// its parts in flight, not by the pack size. With NoPacking every worker
// has packs of its own, closed after each file: one object per file.

// pack is one pack being written and uploaded.
type pack struct {
	id      format.PackID
	w       *format.PackWriter
	pw      *io.PipeWriter
	put     chan putResult // the Put goroutine's result
	note    int64          // the catalogue's upload note
	blobs   []*catalog.Blob
	keys    []contentKey
	members int
	rec     packRecord // guarded by the recorder's mutex
}

type putResult struct {
	arch store.Archive
	err  error
}

// packer is a lane's current pack.
type packer struct {
	s   *syncer
	mu  sync.Mutex // held while a member is written, and to close
	cur *pack
}

// errPutEnded: the pack's upload ended before the pack was complete (the
// store's own error says why).
var errPutEnded = errors.New("the upload of the pack ended")

// open starts a new pack: notes it in the catalogue, starts its upload.
func (pk *packer) open(ctx context.Context) (*pack, error) {
	s := pk.s
	var id format.PackID
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("pack id: %w", err)
	}
	desc, group, err := s.describe(id)
	if err != nil {
		return nil, err
	}
	note, err := s.cfg.Catalog.BeginUpload(s.cfg.Target.ID, "pack "+hex.EncodeToString(id[:]), group, s.cfg.now())
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	pr, pw := io.Pipe()
	p := &pack{id: id, pw: pw, put: make(chan putResult, 1), note: note, rec: packRecord{waiters: map[*recordItem]bool{}}}
	p.w, err = format.NewPackWriter(pw, format.PackOptions{Pack: id, Created: s.cfg.now(), Compress: s.cfg.Compress, Recipient: s.recipient})
	if err != nil {
		pw.Close()
		pr.Close()
		_ = s.cfg.Catalog.EndUpload(note)
		return nil, err
	}
	s.uploads.Add(1)
	go func() {
		a, err := s.cfg.Store.Put(store.WithSizeHint(ctx, s.packSize), pr, desc)
		pr.CloseWithError(errPutEnded)
		p.put <- putResult{a, err}
	}()
	return p, nil
}

// current returns the lane's pack, opening one when there is none.
func (pk *packer) current(ctx context.Context) (*pack, error) {
	if pk.cur == nil {
		p, err := pk.open(ctx)
		if err != nil {
			return nil, err
		}
		pk.cur = p
	}
	return pk.cur, nil
}

// add appends a member with write, records its blob in the pack, and
// closes the pack when it is full. It returns the blob and its pack.
func (pk *packer) add(ctx context.Context, k contentKey, kind catalog.BlobKind,
	write func(w *format.PackWriter) (format.IndexEntry, error)) (*pack, *catalog.Blob, error) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	p, err := pk.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	e, err := write(p.w)
	if err != nil {
		if p.w.Err() != nil { // the pack itself is broken: its upload failed
			pk.abandon(p, err)
		}
		return nil, nil, err
	}
	b := &catalog.Blob{Hash: k.hex(), Size: e.Size, Offset: e.Offset, Length: e.Length, Member: int64(e.Number),
		Kind: kind, Encoding: format.PackEncoding(pk.s.cfg.Compress, pk.s.recipient != nil)}
	p.blobs = append(p.blobs, b)
	p.keys = append(p.keys, k)
	p.members++
	if p.w.Size() >= pk.s.packSize {
		pk.closeLocked()
	}
	return p, b, nil
}

// close finishes the current pack, if any: its index and trailer are
// written and its upload completes in the background.
func (pk *packer) close() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	pk.closeLocked()
}

func (pk *packer) closeLocked() {
	p := pk.cur
	if p == nil {
		return
	}
	pk.cur = nil
	s := pk.s
	if p.members == 0 {
		// Nothing went in (the first file failed): no object at all.
		p.pw.CloseWithError(errEmptyPack)
		go s.settle(p, nil)
		return
	}
	idx, err := p.w.Close()
	if err != nil {
		p.pw.CloseWithError(err)
	} else {
		p.pw.Close()
	}
	go s.settle(p, idx)
}

// errEmptyPack cancels the upload of a pack nothing was added to.
var errEmptyPack = errors.New("nothing to store in this pack")

// abandon gives up the lane's current pack after its upload failed.
func (pk *packer) abandon(p *pack, err error) {
	if pk.cur == p {
		pk.cur = nil
	}
	p.pw.CloseWithError(err)
	go pk.s.settle(p, nil)
}

// settle waits for a pack's upload to end and records the outcome: the
// pack and the versions it completes, or their failure.
func (s *syncer) settle(p *pack, idx *format.PackIndex) {
	defer s.uploads.Done()
	res := <-p.put
	err := res.err
	if err == nil && idx == nil {
		// The pack was abandoned but its upload succeeded anyway: it is
		// in the store and unrecorded; remove it.
		err = errors.New("the pack could not be completed")
		s.removeUnrecorded(res.arch, p)
	}
	if err == nil && res.arch.Size != idx.Size {
		err = fmt.Errorf("the store holds %d bytes of pack %s, %d were written", res.arch.Size, p.id, idx.Size)
		s.removeUnrecorded(res.arch, p)
	}
	if err != nil {
		if !errors.Is(err, errEmptyPack) && p.members > 0 {
			s.cfg.log().Warn("a pack could not be stored; its files are retried by the next run", "pack", p.id.String(), "err", err)
		}
		s.recorder.failed(p, err)
		s.index.settle(p, p.keys)
		if eerr := s.cfg.Catalog.EndUpload(p.note); eerr != nil {
			s.cfg.log().Warn("could not update the catalogue", "err", eerr)
		}
		return
	}
	obj := &catalog.NewObject{
		Object: catalog.Object{
			TargetID: s.cfg.Target.ID, ArchiveID: res.arch.ID, Kind: catalog.ObjectPack, PackID: p.id.String(),
			Size: res.arch.Size, TreeHash: res.arch.TreeHash, Class: s.class, Uploaded: s.cfg.now(), RunID: s.run,
			LockMode: string(res.arch.Lock.Mode), LockUntil: res.arch.Lock.Until,
		},
		Blobs: p.blobs,
	}
	if err := s.recorder.stored(p, obj, p.note); err != nil {
		s.fatal(err)
	}
	s.index.settle(p, p.keys)
	s.mu.Lock()
	s.res.Objects++
	s.res.StoredBytes += res.arch.Size
	s.mu.Unlock()
}

// removeUnrecorded deletes a pack's object that cannot be recorded as
// the pack (it is incomplete). When the store refuses (credentials that
// may not delete, or the object's Object Lock), the object is recorded
// as what it is, an object no version needs, so that the catalogue says
// what is in the store and prune deletes it where deleting is allowed.
func (s *syncer) removeUnrecorded(a store.Archive, p *pack) {
	if a.ID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.cfg.Store.Delete(ctx, a.ID)
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound):
		return
	case errors.Is(err, store.ErrAccessDenied), errors.Is(err, store.ErrLocked):
		u := Undeleted{ArchiveID: a.ID, Size: a.Size, Locked: errors.Is(err, store.ErrLocked), Until: a.Lock.Until}
		obj := catalog.Object{TargetID: s.cfg.Target.ID, ArchiveID: a.ID, Kind: catalog.ObjectPack, PackID: p.id.String(),
			Size: a.Size, TreeHash: a.TreeHash, Class: s.class, Uploaded: s.cfg.now(), RunID: s.run,
			LockMode: string(a.Lock.Mode), LockUntil: a.Lock.Until}
		if rerr := s.cfg.Catalog.AddObject(obj); rerr != nil {
			s.cfg.log().Warn("could not record an object the store keeps; grsync verify lists it", "archive", a.ID, "err", rerr)
			return
		}
		s.mu.Lock()
		s.res.Undeleted = append(s.res.Undeleted, u)
		s.mu.Unlock()
	default:
		s.cfg.log().Warn("could not delete an unrecorded object; grsync verify lists it", "archive", a.ID, "err", err)
	}
}

// packers are all lanes, for closing them all at the end.
type packers struct {
	mu  sync.Mutex
	all []*packer
}

func (ps *packers) new(s *syncer) *packer {
	pk := &packer{s: s}
	ps.mu.Lock()
	ps.all = append(ps.all, pk)
	ps.mu.Unlock()
	return pk
}

// describe returns the description of a new pack and its group id.
func (s *syncer) describe(id format.PackID) (string, string, error) {
	var mk *format.MetaKey
	if s.recipient != nil {
		k := format.MetaKey(s.cfg.Key.MetadataKey())
		mk = &k
	}
	desc, m, err := format.EncodeObjectDescription(format.ObjectMeta{Kind: format.ObjectPack, ID: id, Created: s.cfg.now(),
		Encoding: format.PackEncoding(s.cfg.Compress, s.recipient != nil)}, mk, rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("describing a pack: %w", err)
	}
	return desc, m.Group, nil
}
