package engine

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/chunk"
	"github.com/grsync/grsync/internal/format"
)

// The content stage: a worker reads a new or changed file once, hashes it,
// looks its content (or each of its chunks) up, and adds what the target
// does not hold yet to its pack. Small files are read whole into a pooled
// buffer; large files are split into content-defined chunks, so a large
// file that changes a little stores a little.

// DefaultPackThreshold is the largest file stored whole, as one pack
// member, by default; larger files are chunked.
const DefaultPackThreshold = 1 << 20

// maxWholeBuffer is the largest file a worker reads whole into a buffer:
// the chunker's largest chunk, so a worker holds no more for a whole file
// than for a chunk. A higher --pack-threshold stores the files between
// the two whole too, streamed into their pack (storeStreamed).
const maxWholeBuffer = chunk.MaxSize

// errChangedNote is how a file that changed while it was read (twice) is
// reported with --changing-files=fail.
var errChangedAgain = errors.New("file changed while it was being read, twice; not recorded (use --changing-files=store to store such files as read)")

// fileWork is the content work on one file.
type fileWork struct {
	e     entry
	known bool // the catalogue has rows of this path
	retry bool // a second try, after the file changed while it was read
}

// read is what reading a file gave: where its content is stored.
type read struct {
	fi       fs.FileInfo
	pieces   []*catalog.Blob
	packs    []*pack
	hash     []byte // of the whole content
	uploaded bool   // something was added to a pack
	changed  bool   // the file changed while it was read (stored as read)
	bytes    int64  // bytes added to packs (plaintext)
}

// storeFile reads the file of w once and stores what the target lacks.
// It returns what it stored, or ErrChanged when the file changed while it
// was read (and the policy is not to store it as read).
func (s *syncer) storeFile(ctx context.Context, ln lanes, w fileWork) (read, error) {
	f, err := openNoFollow(w.e.openPath())
	if errors.Is(err, fs.ErrNotExist) {
		return read{}, errVanished
	}
	if err != nil {
		return read{}, fmt.Errorf("cannot open: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return read{}, fmt.Errorf("cannot stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return read{}, errors.New("no longer a regular file")
	}
	storeAsRead := w.retry && s.opt.ChangingFiles == ChangingStore
	switch {
	case fi.Size() <= min(s.cfg.packThreshold(), maxWholeBuffer):
		return s.storeSmall(ln.small, w.e.path, f, fi, storeAsRead)
	case fi.Size() <= s.cfg.packThreshold() && !storeAsRead:
		return s.storeStreamed(ln.large, w.e.path, f, fi)
	}
	// A file stored as read is chunked whatever its size: each chunk is
	// hashed from the bytes it is stored from.
	return s.storeLarge(ln.large, f, fi, storeAsRead)
}

// storeSmall stores a file of at most the pack threshold as one member.
func (s *syncer) storeSmall(pk *packer, path string, f *os.File, fi fs.FileInfo, asRead bool) (read, error) {
	r := read{fi: fi}
	// The buffer goes to the lane with the content, which gives it back
	// once the member is written; it comes back here otherwise.
	pool := &s.bufs.small
	if fi.Size() <= tinyFileMax {
		pool = &s.bufs.tiny
	}
	buf := pool.get()
	kept := false
	defer func() {
		if !kept {
			pool.put(buf)
		}
	}()
	data := buf[:fi.Size()]
	n, err := io.ReadFull(f, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return r, fmt.Errorf("reading: %w", err)
	}
	if s.cfg.afterRead != nil {
		s.cfg.afterRead(f.Name())
	}
	var extra [1]byte
	m, _ := f.Read(extra[:])
	if int64(n) != fi.Size() || m != 0 || stillSame(f, fi) != nil {
		if !asRead {
			return r, ErrChanged
		}
		r.changed = true
		data = data[:n]
		r.fi = asReadInfo{fi, int64(n)}
	}
	s.cfg.observer().Progress(int64(len(data)))
	k := s.keyOf(data)
	r.hash = k[:]
	if len(data) == 0 {
		return r, nil // nothing to store: the version has no pieces
	}
	st, found, err := s.index.find(k, int64(len(data)))
	if err != nil {
		return r, err
	}
	if found {
		r.pieces = []*catalog.Blob{st.blob}
		if st.pack != nil {
			r.packs = []*pack{st.pack}
		}
		return r, nil
	}
	meta := &format.FileMeta{FileInfo: format.FileInfo{Path: path, Size: int64(len(data)),
		Mode: format.KeptMode(r.fi.Mode()), ModTime: r.fi.ModTime()}, Hash: k[:]}
	kept = true
	p, b, err := pk.add(k, catalog.BlobFile, meta, data, func() { pool.put(buf) })
	if err != nil {
		s.index.release(k)
		return r, fmt.Errorf("storing: %w", err)
	}
	s.index.publish(k, stored{blob: b, pack: p})
	r.pieces, r.packs, r.uploaded, r.bytes = []*catalog.Blob{b}, []*pack{p}, true, int64(len(data))
	return r, nil
}

// storeLarge stores a large file as chunks, each stored once.
func (s *syncer) storeLarge(pk *packer, f *os.File, fi fs.FileInfo, asRead bool) (read, error) {
	r := read{fi: fi}
	// A large file can only duplicate content stored whole (by an older
	// grsync or the Python tool, or a file that was small) if that content
	// has its size: only then is it hashed whole first, a second read.
	if whole, err := s.cfg.Catalog.HasWholeOfSize(s.cfg.Target.ID, fi.Size()); err != nil {
		return r, fmt.Errorf("catalogue lookup: %w", err)
	} else if whole {
		if done, err := s.wholeDuplicate(f, fi, &r); done || err != nil {
			return r, err
		}
	}
	// Reading stops one byte past the size seen (so growth shows), or at
	// the size when the file is stored as read.
	limit := fi.Size() + 1
	if asRead {
		limit = fi.Size()
	}
	ch := s.chunkers.get(io.LimitReader(f, limit))
	defer s.chunkers.put(ch)
	stop := make(chan struct{})
	chunks := s.readChunks(ch, f, fi, asRead, stop)
	defer func() {
		close(stop)
		for c := range chunks { // the reader may be blocked sending one
			s.bufs.chunk.put(c.buf)
		}
	}()
	seen := map[*pack]bool{}
	var total int64
	for c := range chunks {
		if c.err != nil {
			return r, c.err
		}
		total += int64(len(c.data))
		s.cfg.observer().Progress(int64(len(c.data)))
		b, p, added, err := s.storeChunk(pk, c.data, c.buf)
		if err != nil {
			return r, err
		}
		r.pieces = append(r.pieces, b)
		if p != nil && !seen[p] {
			seen[p] = true
			r.packs = append(r.packs, p)
		}
		if added {
			r.uploaded = true
			r.bytes += int64(len(c.data))
		}
	}
	if total != fi.Size() || stillSame(f, fi) != nil {
		if !asRead {
			return r, ErrChanged
		}
		r.changed = true
		r.fi = asReadInfo{fi, total}
	}
	// The version's content is checked piece by piece (each chunk's hash);
	// a whole-file hash would cost a second pass over every byte.
	return r, nil
}

// storeStreamed stores a file of at most the pack threshold that is too
// large for a worker's buffer whole, as one member, without holding it in
// memory: it is hashed in a first read and looked up; when the target
// lacks its content, the lane reads it again straight into the pack, and
// checks at its end that the file did not change since it was hashed (a
// changed file leaves a void member and is tried again, ErrChanged).
func (s *syncer) storeStreamed(pk *packer, path string, f *os.File, fi fs.FileInfo) (read, error) {
	r := read{fi: fi}
	h := s.cfg.contentHash()
	n, err := io.Copy(io.MultiWriter(h, progressWriter{s.cfg.observer()}), io.LimitReader(f, fi.Size()+1))
	if err != nil {
		return r, fmt.Errorf("reading: %w", err)
	}
	if n != fi.Size() || stillSame(f, fi) != nil {
		return r, ErrChanged
	}
	if s.cfg.afterRead != nil {
		s.cfg.afterRead(f.Name()) // between the hashing and the upload
	}
	var k contentKey
	copy(k[:], h.Sum(nil))
	r.hash = k[:]
	st, found, err := s.index.find(k, fi.Size())
	if err != nil {
		return r, err
	}
	if found {
		r.pieces = []*catalog.Blob{st.blob}
		if st.pack != nil {
			r.packs = []*pack{st.pack}
		}
		return r, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.index.release(k)
		return r, fmt.Errorf("rewinding: %w", err)
	}
	meta := format.FileMeta{FileInfo: format.FileInfo{Path: path, Size: fi.Size(),
		Mode: format.KeptMode(fi.Mode()), ModTime: fi.ModTime()}, Hash: k[:]}
	p, b, done, err := pk.addStream(k, meta, unchangedReader{f, fi})
	if err == nil {
		err = <-done
	}
	if err != nil {
		s.index.release(k)
		if errors.Is(err, ErrChanged) || errors.Is(err, format.ErrSizeMismatch) {
			return r, ErrChanged
		}
		return r, fmt.Errorf("storing: %w", err)
	}
	s.index.publish(k, stored{blob: b, pack: p})
	r.pieces, r.packs, r.uploaded, r.bytes = []*catalog.Blob{b}, []*pack{p}, true, fi.Size()
	return r, nil
}

// unchangedReader reads a file that was hashed before: at its end it
// reports ErrChanged instead of io.EOF when the file changed since.
type unchangedReader struct {
	f  *os.File
	fi fs.FileInfo
}

func (u unchangedReader) Read(p []byte) (int, error) {
	n, err := u.f.Read(p)
	if errors.Is(err, io.EOF) {
		if cerr := stillSame(u.f, u.fi); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// readChunk is a chunk read ahead, in a buffer of the chunk pool, or why
// reading stopped.
type readChunk struct {
	data, buf []byte
	err       error
}

// readChunks cuts the file into chunks in a goroutine of its own, a few
// chunks ahead of the caller, so that reading and cutting overlap with
// hashing and storing. The file is checked after every read: a change ends
// the chunks with ErrChanged (unless it is stored as read). The channel is
// closed at the end, or when stop is closed.
func (s *syncer) readChunks(ch *chunk.Chunker, f *os.File, fi fs.FileInfo, asRead bool, stop <-chan struct{}) <-chan readChunk {
	out := make(chan readChunk, 2)
	go func() {
		defer close(out)
		send := func(c readChunk) bool {
			select {
			case out <- c:
				return true
			case <-stop:
				s.bufs.chunk.put(c.buf)
				return false
			}
		}
		for {
			c, err := ch.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				send(readChunk{err: fmt.Errorf("reading: %w", err)})
				return
			}
			if s.cfg.afterRead != nil {
				s.cfg.afterRead(f.Name())
			}
			if err := stillSame(f, fi); err != nil && !asRead {
				send(readChunk{err: err})
				return
			}
			buf := s.bufs.chunk.get(len(c.Data))
			if !send(readChunk{data: append(buf[:0], c.Data...), buf: buf}) {
				return
			}
		}
	}()
	return out
}

// keyOf returns the content key of data (its keyed hash when the target
// is encrypted), with a hash from the sync's pool: a keyed hash made anew
// for each file was two allocations of ~1.2 KiB and its key schedule
// (120 MB of a 50,000-file backup's 856 MB of allocations).
func (s *syncer) keyOf(data []byte) contentKey {
	h, ok := s.hashers.Get().(hash.Hash)
	if ok {
		h.Reset()
	} else {
		h = s.cfg.contentHash()
	}
	h.Write(data)
	var k contentKey
	h.Sum(k[:0])
	s.hashers.Put(h)
	return k
}

// storeChunk stores one chunk, held in buf (a buffer of the chunk pool,
// which it gives to the lane or back to the pool), unless the target
// holds it.
func (s *syncer) storeChunk(pk *packer, chunk, buf []byte) (*catalog.Blob, *pack, bool, error) {
	k := s.keyOf(chunk)
	st, found, err := s.index.find(k, int64(len(chunk)))
	if err != nil {
		s.bufs.chunk.put(buf)
		return nil, nil, false, err
	}
	if found {
		s.bufs.chunk.put(buf)
		return st.blob, st.pack, false, nil
	}
	p, b, err := pk.add(k, catalog.BlobChunk, nil, chunk, func() { s.bufs.chunk.put(buf) })
	if err != nil {
		s.index.release(k)
		return nil, nil, false, fmt.Errorf("storing: %w", err)
	}
	s.index.publish(k, stored{blob: b, pack: p})
	return b, p, true, nil
}

// wholeDuplicate hashes f whole and, when the target stores that content
// whole, makes it r's one piece. It rewinds f otherwise.
func (s *syncer) wholeDuplicate(f *os.File, fi fs.FileInfo, r *read) (bool, error) {
	h := s.cfg.contentHash()
	n, err := copyHash(h, f, fi.Size())
	if err != nil {
		return false, fmt.Errorf("reading: %w", err)
	}
	if n != fi.Size() || stillSame(f, fi) != nil {
		return false, ErrChanged
	}
	var k contentKey
	copy(k[:], h.Sum(nil))
	b, ok, err := s.cfg.Catalog.FindBlob(s.cfg.Target.ID, k.hex())
	if err != nil {
		return false, fmt.Errorf("catalogue lookup: %w", err)
	}
	if ok && (b.Kind == catalog.BlobArchive || b.Kind == catalog.BlobFile) {
		r.pieces, r.hash = []*catalog.Blob{&b}, k[:]
		return true, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("rewinding: %w", err)
	}
	return false, nil
}

// copyHash feeds up to n+1 bytes of r to h and returns how many there were.
func copyHash(h hash.Hash, r io.Reader, n int64) (int64, error) {
	return io.Copy(h, io.LimitReader(r, n+1))
}

// asReadInfo is a file stored as read (--changing-files=store): as it was
// seen before it was read, with the size of what was read. The version
// says what the store holds, and the next run, which finds the file
// different from it, reads the file again.
type asReadInfo struct {
	fs.FileInfo
	size int64
}

func (a asReadInfo) Size() int64 { return a.size }

// stillSame reports ErrChanged when the open file's size, mtime, ctime or
// inode differ from what was seen before reading it.
func stillSame(f *os.File, before fs.FileInfo) error {
	now, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat: %w", err)
	}
	if now.Size() != before.Size() || !now.ModTime().Equal(before.ModTime()) {
		return ErrChanged
	}
	a, aok := before.Sys().(*syscall.Stat_t)
	b, bok := now.Sys().(*syscall.Stat_t)
	if aok && bok && (a.Ino != b.Ino || a.Ctim != b.Ctim) {
		return ErrChanged
	}
	return nil
}

// openNoFollow opens a regular file for reading without following a symlink
// and without blocking on a FIFO that replaced it.
func openNoFollow(p string) (*os.File, error) {
	return openFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// bufPool hands out buffers of one size, for content on its way to a lane.
type bufPool struct {
	size int
	pool sync.Pool
}

func (b *bufPool) get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, b.size)
}

func (b *bufPool) put(buf []byte) {
	buf = buf[:cap(buf)]
	b.pool.Put(&buf)
}

// sizedPool keeps buffers in classes of powers of two from chunk.MinSize
// to chunk.MaxSize: a chunk takes a buffer of its class, not one of the
// largest size (chunks average about 1 MiB; buffers of 8 MiB for each of
// the dozen in flight made a big file's backup hold ~100 MiB).
type sizedPool struct {
	classes [sizedClasses]chan []byte
}

const sizedClasses = 5 // 512 KiB, 1, 2, 4, 8 MiB

// sizedIdle is how many idle buffers each class keeps: a few of the common
// sizes (chunks average about 1 MiB), none of the rare large ones (a
// chunk over 2 MiB is about one in twenty; its buffer is made for it).
// Bounded free lists, not sync.Pools: those kept every buffer ever given
// back until a collection, and a big file's backup rarely collects, so
// idle buffers of every class piled up with the file's size (4 GiB: 29 MB
// of them, against 8 MB for 1 GiB). Measured on 1 and 4 GiB random files
// to the local store: idle lists of {8, 6, 2, 1, 0} peaked at 102-105 and
// 121-123 MB, {6, 4, 1, 0, 0} at 89-92 and 105-109 MB.
var sizedIdle = [sizedClasses]int{6, 4, 2, 0, 0}

func newSizedPool() sizedPool {
	var p sizedPool
	for c := range p.classes {
		p.classes[c] = make(chan []byte, sizedIdle[c])
	}
	return p
}

// sizedClass returns the class of the buffers that hold n bytes.
func sizedClass(n int) int {
	c := 0
	for c < sizedClasses-1 && chunk.MinSize<<c < n {
		c++
	}
	return c
}

// get returns a buffer of at least n bytes (n at most chunk.MaxSize).
func (b *sizedPool) get(n int) []byte {
	c := sizedClass(n)
	select {
	case buf := <-b.classes[c]:
		return buf
	default:
		return make([]byte, chunk.MinSize<<c)
	}
}

// put returns a buffer got from get.
func (b *sizedPool) put(buf []byte) {
	buf = buf[:cap(buf)]
	c := sizedClass(len(buf))
	if chunk.MinSize<<c != len(buf) {
		return // not one of ours
	}
	select {
	case b.classes[c] <- buf:
	default: // enough are idle: the collector takes this one
	}
}

// buffers are a sync's pools: whole small files, chunks, and members
// encoded for a pack (of any size).
type buffers struct {
	tiny, small bufPool
	chunk       sizedPool
	enc         sync.Pool
}

// tinyFileMax is the size of the buffers of the tiny pool: most files
// are much smaller than the pack threshold, and a buffer of that size for
// each of them in flight made a sync's memory several times larger.
const tinyFileMax = 64 << 10

// encoded returns a buffer for an encoded member (empty, of some capacity).
func (b *buffers) encoded() []byte {
	if p, ok := b.enc.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// putEncoded gives an encoded member's buffer back.
func (b *buffers) putEncoded(buf []byte) {
	if cap(buf) > 0 && cap(buf) <= 16<<20 {
		b.enc.Put(&buf)
	}
}
