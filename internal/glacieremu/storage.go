package glacieremu

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
)

// blob is immutable stored data: an archive, a part, or job output.
type blob interface {
	Size() int64
	// CopyRange writes n bytes starting at off to w.
	CopyRange(w io.Writer, off, n int64) (int64, error)
	// remove frees the data. Using the blob afterwards is an error.
	remove()
}

// blobWriter collects data for a new blob.
type blobWriter interface {
	io.Writer
	// commit finishes the blob.
	commit() (blob, error)
	// abort discards what was written.
	abort()
}

// storage creates blobs, in memory or in files.
type storage interface {
	// create starts a blob of about sizeHint bytes.
	create(sizeHint int64) (blobWriter, error)
	// close removes everything the storage holds.
	close() error
}

// memStorage keeps blobs in memory.
type memStorage struct{}

func (memStorage) create(sizeHint int64) (blobWriter, error) {
	w := &memWriter{}
	w.buf.Grow(int(min(max(sizeHint, 0), 1<<30)))
	return w, nil
}
func (memStorage) close() error { return nil }

type memWriter struct{ buf bytes.Buffer }

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *memWriter) commit() (blob, error)       { return memBlob(w.buf.Bytes()), nil }
func (w *memWriter) abort()                      { w.buf = bytes.Buffer{} }

type memBlob []byte

func (b memBlob) Size() int64 { return int64(len(b)) }
func (b memBlob) remove()     {}
func (b memBlob) CopyRange(w io.Writer, off, n int64) (int64, error) {
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		return 0, fmt.Errorf("range %d+%d outside blob of %d bytes", off, n, len(b))
	}
	m, err := w.Write(b[off : off+n])
	return int64(m), err
}

// dirStorage keeps each blob in a file under its own temporary directory.
type dirStorage struct{ dir string }

func newDirStorage(parent string) (*dirStorage, error) {
	dir, err := os.MkdirTemp(parent, "glacieremu-")
	if err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return &dirStorage{dir: dir}, nil
}

func (s *dirStorage) create(int64) (blobWriter, error) {
	f, err := os.CreateTemp(s.dir, "blob-")
	if err != nil {
		return nil, fmt.Errorf("create blob file: %w", err)
	}
	return &fileWriter{f: f}, nil
}

func (s *dirStorage) close() error {
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove data directory: %w", err)
	}
	return nil
}

type fileWriter struct {
	f    *os.File
	size int64
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *fileWriter) commit() (blob, error) {
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return nil, fmt.Errorf("close blob file: %w", err)
	}
	return &fileBlob{path: w.f.Name(), size: w.size}, nil
}

func (w *fileWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// fileBlob is a file opened anew for each read, so that thousands of parts
// do not hold thousands of descriptors.
type fileBlob struct {
	path string
	size int64
}

func (b *fileBlob) Size() int64 { return b.size }
func (b *fileBlob) remove()     { os.Remove(b.path) }

func (b *fileBlob) CopyRange(w io.Writer, off, n int64) (int64, error) {
	if off < 0 || n < 0 || off+n > b.size {
		return 0, fmt.Errorf("range %d+%d outside blob of %d bytes", off, n, b.size)
	}
	f, err := os.Open(b.path)
	if err != nil {
		return 0, fmt.Errorf("open blob: %w", err)
	}
	defer f.Close()
	return io.Copy(w, io.NewSectionReader(f, off, n))
}

// multiBlob is the concatenation of other blobs: a completed multipart upload
// keeps its parts rather than copying them.
type multiBlob struct {
	parts  []blob
	starts []int64 // starts[i]: offset of parts[i]
	size   int64
}

func newMultiBlob(parts []blob) *multiBlob {
	m := &multiBlob{parts: parts, starts: make([]int64, len(parts))}
	for i, p := range parts {
		m.starts[i] = m.size
		m.size += p.Size()
	}
	return m
}

func (m *multiBlob) Size() int64 { return m.size }

func (m *multiBlob) remove() {
	for _, p := range m.parts {
		p.remove()
	}
}

func (m *multiBlob) CopyRange(w io.Writer, off, n int64) (int64, error) {
	if off < 0 || n < 0 || off+n > m.size {
		return 0, fmt.Errorf("range %d+%d outside blob of %d bytes", off, n, m.size)
	}
	// The part holding off: the last part starting at or before it.
	i := sort.Search(len(m.starts), func(i int) bool { return m.starts[i] > off }) - 1
	var done int64
	for ; n > 0 && i < len(m.parts); i++ {
		inPart := off - m.starts[i]
		take := min(n, m.parts[i].Size()-inPart)
		if take <= 0 {
			continue
		}
		c, err := m.parts[i].CopyRange(w, inPart, take)
		done += c
		if err != nil {
			return done, err
		}
		off += take
		n -= take
	}
	return done, nil
}
