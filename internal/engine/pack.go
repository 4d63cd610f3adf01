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

// The pack and put stages. A worker reads, hashes and looks up content,
// then hands what must be stored to a lane: whole small files, or the
// chunks of large files (so a large file's chunks lie together in few
// packs). The worker goes on at once; the lane's own goroutine compresses
// and encrypts the members, one at a time, into the lane's current pack,
// which streams through a pipe into the store's Put (a goroutine of its
// own). So reading and hashing (the workers) overlap with encoding (the
// lanes) and with uploading. A pack is closed (its index and trailer
// written) once the members given to it reach PackSize bytes; its upload
// then completes in the background and the record stage commits it with the
// versions it completes. Memory is bounded by the lanes' queues and the
// store's part size times its parts in flight, not by the pack size. With
// NoPacking every worker has a lane of its own, closed after each file:
// one object per file.

// laneQueue is how many members wait for a lane's goroutine; a worker
// that finds the queue full waits (so memory stays bounded).
const laneQueue = 4

// pack is one pack being written and uploaded.
type pack struct {
	id      format.PackID
	w       *format.PackWriter
	enc     *format.MemberEncoder
	next    uint32 // the number the next member given to the pack gets
	index   int    // a bound of the bytes of the index so far
	pw      *io.PipeWriter
	put     chan putResult // the Put goroutine's result
	note    int64          // the catalogue's upload note
	blobs   []*catalog.Blob
	keys    []contentKey
	members int
	broken  error      // writing to the upload failed: later members are dropped
	rec     packRecord // guarded by the recorder's mutex
}

type putResult struct {
	arch store.Archive
	err  error
}

// packer is a lane: its current pack, and the goroutine that writes it.
type packer struct {
	s        *syncer
	ctx      context.Context
	mu       sync.Mutex // orders members into packs
	cur      *pack
	reserved int64 // plaintext bytes given to cur so far
	jobs     chan memberJob
	done     chan struct{} // closed when the lane's goroutine ends
	closed   bool
}

// memberJob is a member on its way into pack p: a whole file encoded on a
// goroutine of its own (handed over on ready), a chunk the lane encodes
// (data), or a whole file the lane reads into the pack itself (stream);
// or (none of them and closeAfter) the order to close p.
type memberJob struct {
	p          *pack
	blob       *catalog.Blob // Hash, Size, Kind set; Offset, Length, Member once written
	key        contentKey
	ready      chan encodedMember
	data       []byte // a chunk
	release    func() // gives data's buffer back
	stream     *streamJob
	closeAfter bool // p is full (or the lane closes): close it after this
}

// streamJob is a whole file too large for a worker's buffer: the lane
// reads it from r into the pack and says on done how that went (nil: the
// member and its blob are written).
type streamJob struct {
	meta format.FileMeta
	r    io.Reader
	done chan error
}

// encodedMember is a member's bytes, or why it could not be encoded.
type encodedMember struct {
	m   format.EncodedMember
	err error
}

// errPutEnded: the pack's upload ended before the pack was complete (the
// store's own error says why).
var errPutEnded = errors.New("the upload of the pack ended")

func newPacker(s *syncer, ctx context.Context) *packer {
	pk := &packer{s: s, ctx: ctx, jobs: make(chan memberJob, laneQueue), done: make(chan struct{})}
	go pk.run()
	return pk
}

// open starts a new pack: notes it in the catalogue, starts its upload.
func (pk *packer) open() (*pack, error) {
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
	p.enc = p.w.Encoder()
	s.uploads.Add(1)
	go func() {
		a, err := s.cfg.Store.Put(store.WithSizeHint(pk.ctx, s.packSize), pr, desc)
		pr.CloseWithError(errPutEnded)
		p.put <- putResult{a, err}
	}()
	return p, nil
}

// add gives a member to the lane: the content data (which the lane owns
// from now on and gives back with release), a whole file when file is
// set, else a chunk. It returns the pack the member goes into and its
// blob, whose place in the pack is filled in when it is written; the
// caller may record versions of it at once (they wait for the pack).
//
// A whole file gets its number in the pack here, so it is encoded (tar,
// zstd, age: most of what a small member costs) on a goroutine of its own,
// in parallel with the members before and after it; the lane's goroutine
// appends the encoded members in number order. Memory stays bounded: a
// member is encoded only once its job is in the lane's queue (laneQueue
// long) or its caller is waiting to put it there. Chunks are encoded by
// the lane's goroutine itself, while the worker reads and cuts the next
// ones: measured, encoding chunks apart as well made a big file's backup
// slower (1.49-1.61 s against 1.68-1.77 s for 512 MiB) and doubled its
// memory (encoded copies of 8 MiB chunks in flight).
func (pk *packer) add(k contentKey, kind catalog.BlobKind, file *format.FileMeta, data []byte, release func()) (*pack, *catalog.Blob, error) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	pathLen := 0
	if file != nil {
		pathLen = len(file.Path)
	}
	j, number, err := pk.reserve(k, kind, int64(len(data)), pathLen)
	if err != nil {
		release()
		return nil, nil, err
	}
	if file != nil {
		j.ready = make(chan encodedMember, 1)
		go pk.s.encode(j.p, number, *file, data, release, j.ready)
	} else {
		j.data, j.release = data, release
	}
	pk.jobs <- j
	return j.p, j.blob, nil
}

// addStream gives the lane a whole file to read from r into its pack
// itself (a file too large for a worker's buffer). The caller must wait
// on the returned channel before it touches r again: nil there means the
// member and its blob are written.
func (pk *packer) addStream(k contentKey, file format.FileMeta, r io.Reader) (*pack, *catalog.Blob, <-chan error, error) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	j, _, err := pk.reserve(k, catalog.BlobFile, file.Size, len(file.Path))
	if err != nil {
		return nil, nil, nil, err
	}
	j.stream = &streamJob{meta: file, r: r, done: make(chan error, 1)}
	pk.jobs <- j
	return j.p, j.blob, j.stream.done, nil
}

// reserve takes the next member of the lane's current pack (opening one)
// for content k of size bytes, and closes the pack to new members once it
// is full. It returns the member's job, without its content, and its
// number. Call with pk.mu held.
func (pk *packer) reserve(k contentKey, kind catalog.BlobKind, size int64, pathLen int) (memberJob, uint32, error) {
	if pk.closed {
		return memberJob{}, 0, errors.New("the lane is closed")
	}
	if pk.cur == nil {
		p, err := pk.open()
		if err != nil {
			return memberJob{}, 0, err
		}
		pk.cur, pk.reserved = p, 0
	}
	p := pk.cur
	b := &catalog.Blob{Hash: k.hex(), Size: size, Member: -1, Kind: kind,
		Encoding: format.PackEncoding(pk.s.cfg.Compress, pk.s.recipient != nil)}
	number := p.next
	p.next++
	p.index += format.IndexLineMax(pathLen)
	// A member costs its content and, stored, about 1 KiB more (headers):
	// counted, so that a pack of tiny files is not far past its size, and
	// its index is kept under the format's bound, closing the pack early
	// when its members are many and their paths long.
	pk.reserved += size + memberOverhead
	indexMax := maxPackIndex
	if pk.s.cfg.packIndexMax > 0 {
		indexMax = pk.s.cfg.packIndexMax
	}
	full := pk.reserved >= pk.s.packSize || p.index >= indexMax
	if full {
		pk.cur = nil
	}
	return memberJob{p: p, blob: b, key: k, closeAfter: full}, number, nil
}

// memberOverhead is about what a member adds to its content in a pack.
const memberOverhead = 1 << 10

// maxPackIndex is where a lane closes a pack for the size of its index: a
// margin below the format's bound (the index's own head and tail).
const maxPackIndex = format.MaxIndexSize - 1<<20

// encode encodes a whole file as member number of p and hands it to the
// lane on ready.
func (s *syncer) encode(p *pack, number uint32, file format.FileMeta, data []byte, release func(), ready chan<- encodedMember) {
	var r encodedMember
	r.m, r.err = p.enc.File(number, file, data, s.bufs.encoded())
	release()
	ready <- r
}

// close closes the lane's current pack, if any (its upload then completes
// in the background).
func (pk *packer) close() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.cur != nil {
		pk.jobs <- memberJob{p: pk.cur, closeAfter: true}
		pk.cur = nil
	}
}

// shut closes the current pack and ends the lane's goroutine, once it has
// written everything given to it.
func (pk *packer) shut() {
	pk.close()
	pk.mu.Lock()
	if !pk.closed {
		pk.closed = true
		close(pk.jobs)
	}
	pk.mu.Unlock()
	<-pk.done
}

// run is the lane's goroutine: it writes members into their packs in the
// order they were given, and closes each pack after its last member.
func (pk *packer) run() {
	defer close(pk.done)
	for j := range pk.jobs {
		switch {
		case j.stream != nil:
			pk.writeStream(j)
		case j.ready != nil || j.data != nil:
			pk.write(j)
		}
		if j.closeAfter {
			pk.finish(j.p)
		}
	}
}

// write adds one member to its pack (a file once it is encoded).
func (pk *packer) write(j memberJob) {
	var e format.IndexEntry
	var err error
	if j.ready != nil {
		r := <-j.ready
		defer pk.s.bufs.putEncoded(r.m.Bytes)
		if err = r.err; err == nil && j.p.broken == nil {
			e, err = j.p.w.AddEncoded(r.m)
		}
	} else {
		defer j.release()
		if j.p.broken == nil {
			e, err = j.p.w.AddChunk(format.ChunkMeta{Hash: j.key[:]}, j.data)
		}
	}
	p := j.p
	if p.broken != nil {
		return // the pack's upload failed: its versions fail with it
	}
	if err != nil {
		// The content is in memory: only the upload can fail here (or
		// what the format refuses, which the walk has checked).
		p.broken = err
		p.pw.CloseWithError(err)
		return
	}
	b := j.blob
	b.Offset, b.Length, b.Member = e.Offset, e.Length, int64(e.Number)
	p.blobs = append(p.blobs, b)
	p.keys = append(p.keys, j.key)
	p.members++
}

// writeStream reads a whole file into its pack. A file that could not be
// read as it was hashed (it changed, or a read failed) leaves a void
// member, or nothing, and fails alone; the pack goes on.
func (pk *packer) writeStream(j memberJob) {
	p := j.p
	if p.broken != nil {
		j.stream.done <- p.broken
		return
	}
	e, err := p.w.AddFile(j.stream.meta, j.stream.r)
	if err != nil {
		if werr := p.w.Err(); werr != nil {
			p.broken = werr
			p.pw.CloseWithError(werr)
		}
		j.stream.done <- err
		return
	}
	b := j.blob
	b.Offset, b.Length, b.Member = e.Offset, e.Length, int64(e.Number)
	p.blobs = append(p.blobs, b)
	p.keys = append(p.keys, j.key)
	p.members++
	j.stream.done <- nil
}

// finish writes a pack's index and trailer and lets its upload complete in
// the background; a pack that holds nothing, or whose upload broke, is not
// completed.
func (pk *packer) finish(p *pack) {
	s := pk.s
	switch {
	case p.broken != nil:
		go s.settle(p, nil)
	case p.members == 0:
		p.pw.CloseWithError(errEmptyPack)
		go s.settle(p, nil)
	default:
		idx, err := p.w.Close()
		if err != nil {
			p.pw.CloseWithError(err)
			idx = nil
		} else {
			p.pw.Close()
		}
		go s.settle(p, idx)
	}
}

// errEmptyPack cancels the upload of a pack nothing was added to.
var errEmptyPack = errors.New("nothing to store in this pack")

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
		s.index.settle(p, p.keys, false)
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
	// The recorder hands the records of what it commits to the spool.
	if err = s.recorder.stored(p, obj, p.note); err != nil {
		s.fatal(err)
	}
	s.index.settle(p, p.keys, err == nil)
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

func (ps *packers) new(s *syncer, ctx context.Context) *packer {
	pk := newPacker(s, ctx)
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
