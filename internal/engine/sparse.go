package engine

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// writebackEvery is how many bytes of a restored file are written before
// the kernel is asked to start writing them to disk (sync_file_range,
// SYNC_FILE_RANGE_WRITE: it does not wait). The restore syncs its file
// systems once at its end; started early, that writeback overlaps with
// decoding instead of all of it waiting at the end (a 512 MiB restore
// spent most of a second in the final sync).
const writebackEvery = 8 << 20

// sparseBlock is the granularity of holes: a block-aligned run of this many
// zero bytes is skipped rather than written. 4 KiB is the block size of
// the common Linux file systems.
const sparseBlock = 4096

// sparseWriter writes a restored file into a new, empty file and leaves
// every block-aligned block of zeros as a hole, as `cp --sparse=auto`
// does, so that a sparse file backed up comes back sparse (and a file of
// zeros does not fill the disk). Writes of any size are gathered into whole
// blocks. Finish must be called after the last Write: it writes the last
// partial block and sets the length when the file ends in a hole.
type sparseWriter struct {
	f    *os.File
	off  int64  // bytes written or skipped so far; a multiple of sparseBlock
	end  int64  // the end of the last data written
	pend []byte // the start of the block at off, until it is whole
	// kicked: the bytes before it were handed to writeback.
	kicked int64
	zero   []byte
}

func newSparseWriter(f *os.File) *sparseWriter {
	return &sparseWriter{f: f, pend: make([]byte, 0, sparseBlock), zero: make([]byte, sparseBlock)}
}

func (w *sparseWriter) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		if len(w.pend) > 0 || len(b) < sparseBlock {
			n := min(sparseBlock-len(w.pend), len(b))
			w.pend = append(w.pend, b[:n]...)
			b = b[n:]
			if len(w.pend) == sparseBlock {
				err := w.blocks(w.pend)
				w.pend = w.pend[:0]
				if err != nil {
					return total - len(b), err
				}
			}
			continue
		}
		whole := len(b) / sparseBlock * sparseBlock
		if err := w.blocks(b[:whole]); err != nil {
			return total - len(b), err
		}
		b = b[whole:]
	}
	return total, nil
}

// blocks writes whole blocks at off: runs of data in one write each, zero
// blocks skipped.
func (w *sparseWriter) blocks(b []byte) error {
	for len(b) > 0 {
		z := 0
		for z < len(b) && isZero(b[z:z+sparseBlock], w.zero) {
			z += sparseBlock
		}
		w.off += int64(z)
		b = b[z:]
		d := 0
		for d < len(b) && !isZero(b[d:d+sparseBlock], w.zero) {
			d += sparseBlock
		}
		if d > 0 {
			if _, err := w.f.WriteAt(b[:d], w.off); err != nil {
				return err
			}
			w.off += int64(d)
			w.end = w.off
			b = b[d:]
			if w.off-w.kicked >= writebackEvery {
				// A hint: file systems without it are synced at the end
				// all the same.
				_ = unix.SyncFileRange(int(w.f.Fd()), w.kicked, w.off-w.kicked, unix.SYNC_FILE_RANGE_WRITE)
				w.kicked = w.off
			}
		}
	}
	return nil
}

// Finish writes the last partial block and gives the file its full length
// when it ends in a hole.
func (w *sparseWriter) Finish() error {
	if len(w.pend) > 0 {
		if _, err := w.f.WriteAt(w.pend, w.off); err != nil {
			return err
		}
		w.off += int64(len(w.pend))
		w.end = w.off
		w.pend = w.pend[:0]
	}
	if w.end < w.off {
		if err := w.f.Truncate(w.off); err != nil {
			return fmt.Errorf("setting the length: %w", err)
		}
	}
	return nil
}

func isZero(b, zero []byte) bool { return string(b) == string(zero[:len(b)]) }

var _ io.Writer = (*sparseWriter)(nil)
