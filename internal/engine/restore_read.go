package engine

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/chunk"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// restoreContent reads, verifies and decodes the pieces of f in order into
// a new temporary file beside its destination, in the folder dir opens
// (and creates), and returns that folder and the file's name. A wrong key
// fails on the first piece, before anything is written (but a cold
// archive's download).
func restoreContent(ctx context.Context, cfg *Config, rd *pieceReader, f *restoreFile, dir func() (*destDir, error), sw *tempSweeper) (*destDir, string, error) {
	v := f.v
	var first io.ReadCloser
	defer func() {
		if first != nil {
			first.Close()
		}
	}()
	if len(f.pieces) > 0 {
		var err error
		if first, err = rd.open(ctx, f, 0, dir); err != nil {
			return nil, "", err
		}
	}
	d, err := dir()
	if err != nil {
		return nil, "", err
	}
	sw.sweep(d, f.dest)
	tmp, name, err := d.createTemp(tempPrefix(f.dest))
	if err != nil {
		return nil, "", fmt.Errorf("creating temporary file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			d.remove(name)
		}
	}()
	out := newSparseWriter(tmp)
	var total int64
	// A file of one member has the member's hash: copyPiece checks it.
	p0 := catalog.Piece{}
	if len(f.pieces) == 1 {
		p0 = f.pieces[0]
	}
	byPiece := len(f.pieces) == 1 && p0.Kind != catalog.BlobArchive && p0.Hash != "" && p0.Hash == v.ContentHash
	var h hash.Hash
	w := io.MultiWriter(out, progressWriter{cfg.observer()})
	if !byPiece {
		h = rd.hasher()
		defer rd.release(h)
		w = io.MultiWriter(out, h, progressWriter{cfg.observer()})
	}
	switch {
	case len(f.pieces) > 1: // chunks: decoded ahead, in parallel, written in order
		total, err = rd.decodeAhead(ctx, cfg, f, dir, first, w)
		first = nil
	case len(f.pieces) == 1:
		ph := rd.hasher()
		total, err = copyPiece(ph, p0, w, first)
		rd.release(ph)
		first = nil
	}
	if err != nil {
		return nil, "", err
	}
	if err := out.Finish(); err != nil {
		return nil, "", fmt.Errorf("writing: %w", err)
	}
	if total != v.Size {
		return nil, "", fmt.Errorf("the stored pieces gave %d bytes, the catalogue recorded %d", total, v.Size)
	}
	if h != nil && v.ContentHash != "" && hex.EncodeToString(h.Sum(nil)) != v.ContentHash {
		return nil, "", errors.New("content does not match the catalogue's hash (corrupt archive, or a different key than the one used for the backup)")
	}
	// Not synced here: the restore syncs the file systems it wrote to
	// once, at its end (dirCache.sync).
	if err := tmp.Close(); err != nil {
		return nil, "", fmt.Errorf("writing: %w", err)
	}
	ok = true
	return d, name, nil
}

func pieceName(p catalog.Piece) string {
	if p.Kind == catalog.BlobArchive {
		return "archive " + p.Object.ArchiveID
	}
	return fmt.Sprintf("member %d of pack %s", p.Member, p.Object.ArchiveID)
}

// pieceReader opens the pieces of files, with one pack identity per pack
// (one X25519 operation per pack).
type pieceReader struct {
	cfg    *Config
	mu     sync.Mutex
	ids    map[string]age.Identity
	win    *windows  // this round's windows of pack members (set by fetchAll)
	bufs   sizedPool // decoded chunks (decodeAhead)
	hashes sync.Pool // content hashes: keyed ones cost a key derivation to make
}

func newPieceReader(cfg *Config) *pieceReader {
	r := &pieceReader{cfg: cfg, ids: map[string]age.Identity{}, bufs: newSizedPool()}
	r.hashes.New = func() any { return cfg.contentHash() }
	return r
}

// hasher returns a content hash, reset; release gives it back.
func (r *pieceReader) hasher() hash.Hash {
	h := r.hashes.Get().(hash.Hash)
	h.Reset()
	return h
}

func (r *pieceReader) release(h hash.Hash) { r.hashes.Put(h) }

// identity returns the identity for a pack member with this encoding: nil
// when it is not encrypted (a key is offered only to encrypted content, so
// nobody can slip in a plaintext one).
func (r *pieceReader) identity(p catalog.Piece) age.Identity {
	if r.cfg.Key == nil || !strings.HasSuffix(p.Encoding, "+age") {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[p.Object.PackID]
	if !ok {
		id = format.NewPackIdentity(r.cfg.Key.AgeIdentity())
		r.ids[p.Object.PackID] = id
	}
	return id
}

// open returns the decoded content of piece i of f, verified as it is
// read. A whole archive in cold storage is downloaded (resumably) into the
// folder dir opens first.
func (r *pieceReader) open(ctx context.Context, f *restoreFile, i int, dir func() (*destDir, error)) (io.ReadCloser, error) {
	p := f.pieces[i]
	var it *RestoreItem
	for _, x := range f.items {
		if x.ArchiveID == p.Object.ArchiveID {
			it = x
		}
	}
	if p.Kind == catalog.BlobArchive {
		return openArchive(ctx, r.cfg, it.Retrieval, p, *f.v, dir)
	}
	pack, err := format.ParsePackID(p.Object.PackID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pieceName(p), err)
	}
	kind := format.KindFile
	if p.Kind == catalog.BlobChunk {
		kind = format.KindChunk
	}
	readRange := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		return r.cfg.Store.ReadRange(ctx, it.Retrieval, off, n)
	}
	raw, ok, err := r.win.read(ctx, p.Object.ArchiveID, p.Offset, p.Length, readRange)
	if !ok {
		raw, err = readRange(ctx, p.Offset, p.Length)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", pieceName(p), err)
	}
	m, err := format.OpenMember(raw, r.identity(p), format.MemberRef{Pack: pack, Number: uint32(p.Member), Kind: kind})
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s: %w", pieceName(p), err) // the store's name of the pack, not only its own id
	}
	return &stackCloser{Reader: m, closers: []io.Closer{m, raw}}, nil
}

// stackCloser closes readers first, then what they read from.
type stackCloser struct {
	io.Reader
	closers []io.Closer
}

func (s *stackCloser) Close() error {
	var err error
	for _, c := range s.closers {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// closeFunc is a function as an io.Closer.
type closeFunc func()

func (f closeFunc) Close() error { f(); return nil }

// openArchive returns the decoded content of a whole v1 or legacy archive
// (contentReader checks it against its tree hash as it is read). A
// cold-storage retrieval is downloaded beside the destination first.
func openArchive(ctx context.Context, cfg *Config, r store.Retrieval, p catalog.Piece, v catalog.Version, dir func() (*destDir, error)) (io.ReadCloser, error) {
	if p.Object.TreeHash != "" {
		v.Checksum = p.Object.TreeHash
	}
	if p.Encoding != "" {
		v.Compression = p.Encoding
	}
	read := func() (io.ReadCloser, error) { return cfg.Store.ReadRange(ctx, r, 0, -1) }
	var cleanup func()
	if r.JobID != "" {
		d, err := dir()
		if err != nil {
			return nil, err
		}
		name, err := download(ctx, cfg.Store, r, v.Checksum, d, cfg.observer())
		if err != nil {
			return nil, err
		}
		cleanup = func() { d.remove(name) }
		read = func() (io.ReadCloser, error) { return d.open(name, os.O_RDONLY, 0) }
	}
	content, closeAll, err := contentReader(cfg, r.ArchiveID, v, read)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, err
	}
	closers := []io.Closer{closeFunc(closeAll)}
	if cleanup != nil {
		closers = append(closers, closeFunc(cleanup))
	}
	return &stackCloser{Reader: content, closers: closers}, nil
}

// treeVerifier passes an archive's bytes through and, at their end, reports
// an error instead of io.EOF when their SHA-256 tree hash is not the one
// recorded.
type treeVerifier struct {
	rc   io.ReadCloser
	th   hash.Hash
	want string
	id   string
}

func (t *treeVerifier) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.th.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(t.th.Sum(nil)); got != t.want {
			return n, fmt.Errorf("archive %s is corrupt: its tree hash is %s, the catalogue recorded %s", t.id, got, t.want)
		}
	}
	return n, err
}

func (t *treeVerifier) Close() error { return t.rc.Close() }

type progressWriter struct{ o Observer }

func (p progressWriter) Write(b []byte) (int, error) { p.o.Progress(int64(len(b))); return len(b), nil }

// copyPiece copies the decoded piece p from rc to w, closes rc, and checks
// its size and (for pack members) its hash. It reads at most one byte more
// than the catalogue records: decodeAhead holds pieces in memory, and a
// damaged piece must not make that unbounded.
// ph is a content hash, reset.
func copyPiece(ph hash.Hash, p catalog.Piece, w io.Writer, rc io.ReadCloser) (int64, error) {
	n, err := io.Copy(io.MultiWriter(w, ph), io.LimitReader(rc, p.Size+1))
	rc.Close()
	if err != nil {
		return n, fmt.Errorf("%s: %w", pieceName(p), err)
	}
	if n > p.Size {
		return n, fmt.Errorf("%s gave more than the %d bytes the catalogue recorded", pieceName(p), p.Size)
	}
	if n != p.Size {
		return n, fmt.Errorf("%s gave %d bytes, the catalogue recorded %d", pieceName(p), n, p.Size)
	}
	if p.Kind != catalog.BlobArchive && p.Hash != "" && hex.EncodeToString(ph.Sum(nil)) != p.Hash {
		return n, fmt.Errorf("%s: content does not match the catalogue's hash (a damaged or swapped member)", pieceName(p))
	}
	return n, nil
}

// decodeAhead is how many chunks of a file are decoded ahead of the one
// being written: decryption and decompression of a big file then use
// every core, not one (a 512 MiB restore spent 1.4 s of CPU on one).
// Memory: that many decoded chunks (8 MiB at most each).
const decodeAhead = 2

// decodeAhead writes the pieces of f (chunks of pack members), in order,
// to w: each decoded and checked on a goroutine of its own, at most
// decodeAhead ahead of the writing. first is piece 0 opened already.
func (r *pieceReader) decodeAhead(ctx context.Context, cfg *Config, f *restoreFile, dir func() (*destDir, error), first io.ReadCloser, w io.Writer) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type decoded struct {
		buf, data []byte
		err       error
	}
	results := make([]chan decoded, len(f.pieces))
	for i := range results {
		results[i] = make(chan decoded, 1)
	}
	slots := make(chan struct{}, decodeAhead)
	go func() {
		for i, p := range f.pieces {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				if i == 0 && first != nil {
					first.Close()
				}
				for j := i; j < len(f.pieces); j++ {
					results[j] <- decoded{err: context.Cause(ctx)}
				}
				return
			}
			go func() {
				rc := first
				if i > 0 {
					var err error
					if rc, err = r.open(ctx, f, i, dir); err != nil {
						results[i] <- decoded{err: err}
						return
					}
				}
				var buf []byte
				if p.Size <= chunk.MaxSize {
					buf = r.bufs.get(int(p.Size))
				}
				b := bytes.NewBuffer(buf[:0])
				ph := r.hasher()
				_, err := copyPiece(ph, p, b, rc)
				r.release(ph)
				results[i] <- decoded{buf: buf, data: b.Bytes(), err: err}
			}()
		}
	}()
	var total int64
	// drain takes the results after i (every index gets exactly one) and
	// gives their buffers back.
	drain := func(i int) {
		cancel()
		for j := i + 1; j < len(f.pieces); j++ {
			if e := <-results[j]; e.buf != nil {
				r.bufs.put(e.buf)
			}
		}
	}
	for i := range f.pieces {
		d := <-results[i]
		<-slots
		if d.err != nil {
			if d.buf != nil {
				r.bufs.put(d.buf)
			}
			drain(i)
			return total, d.err
		}
		n, err := w.Write(d.data)
		total += int64(n)
		if d.buf != nil {
			r.bufs.put(d.buf)
		}
		if err != nil {
			drain(i)
			return total, fmt.Errorf("writing: %w", err)
		}
	}
	return total, nil
}
