package format

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
)

// paxVersionKey is the pax record that marks a grsync archive.
const (
	paxVersionKey   = "GRSYNC.version"
	paxVersionValue = "1"
)

var errWriterClosed = errors.New("archive writer is closed")

// Writer encodes one file as an archive body. Write exactly FileInfo.Size
// bytes of content, then Close. The tar, zstd and age layers each run in a
// goroutine of their own; Close must be called to release them.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	fi      FileInfo
	p       *pipeline
	head    *chunkWriter
	tw      *tar.Writer
	written int64
	err     error // sticky error of Write
	closed  bool
	result  error        // what Close returned
	state   *StreamState // the age stream's state; nil when not encrypting
}

// NewWriter starts an archive of the file fi on dst with the layers opt
// selects. The age header, if any, is written to dst before NewWriter
// returns; everything else is written by the pipeline's goroutines, and only
// until Close returns.
func NewWriter(dst io.Writer, fi FileInfo, opt Options) (*Writer, error) {
	if err := checkPath(fi.Path); err != nil {
		return nil, fmt.Errorf("new archive: %w", err)
	}
	if fi.Size < 0 {
		return nil, fmt.Errorf("new archive of %q: negative size %d", fi.Path, fi.Size)
	}
	if err := checkMode(fi.Mode); err != nil {
		return nil, fmt.Errorf("new archive of %q: %w", fi.Path, err)
	}
	if fi.ModTime.IsZero() {
		// tar cannot tell the zero time from "unset"; a real file always
		// has a modification time, so this is a caller's mistake.
		return nil, fmt.Errorf("new archive of %q: modification time is not set", fi.Path)
	}
	fi.Mode = fileMode(unixMode(fi.Mode))

	// Set up the layers from the outside in; each gets the channel its
	// inner neighbour writes to.
	p := newPipeline()
	var in chan *chunk
	var ageWriter io.WriteCloser
	var state *StreamState
	if opt.Recipient != nil || opt.Continue != nil {
		var st StreamState
		var err error
		if opt.Continue != nil {
			st = opt.Continue.clone()
			ageWriter, err = continueStream(dst, st)
		} else {
			ageWriter, st, err = encryptCapture(dst, opt.Recipient)
		}
		if err != nil {
			return nil, fmt.Errorf("new archive of %q: age: %w", fi.Path, err)
		}
		state = &st
		in = make(chan *chunk, pipeDepth)
		ch := in
		p.spawn(func() error {
			if err := drain(p, ch, ageWriter); err != nil {
				return fmt.Errorf("age layer: %w", err)
			}
			if err := ageWriter.Close(); err != nil {
				return fmt.Errorf("age layer: %w", err)
			}
			return nil
		})
	}
	if opt.Compress {
		var out io.Writer = dst
		var next *chunkWriter
		if in != nil {
			next = &chunkWriter{p: p, out: in}
			out = next
		}
		enc, err := getEncoder(out)
		if err != nil {
			p.fail(err)
			p.wg.Wait()
			return nil, fmt.Errorf("new archive of %q: %w", fi.Path, err)
		}
		in = make(chan *chunk, pipeDepth)
		ch := in
		p.spawn(func() error {
			if err := drain(p, ch, enc); err != nil {
				return fmt.Errorf("zstd layer: %w", err)
			}
			if err := enc.Close(); err != nil {
				return fmt.Errorf("zstd layer: %w", err)
			}
			putEncoder(enc)
			if next != nil {
				return next.Close()
			}
			return nil
		})
	}
	if in == nil {
		// No transforming layer: a goroutine still does the writes to dst,
		// so that they overlap with the caller's reads.
		in = make(chan *chunk, pipeDepth)
		ch := in
		p.spawn(func() error { return drain(p, ch, dst) })
	}

	w := &Writer{fi: fi, p: p, head: &chunkWriter{p: p, out: in}, state: state}
	w.tw = tar.NewWriter(w.head)
	// Changing this header changes the archive bytes: update tarLayout
	// (WriterID) too.
	hdr := &tar.Header{
		Typeflag:   tar.TypeReg,
		Name:       fi.Path[1:],
		Size:       fi.Size,
		Mode:       unixMode(fi.Mode),
		ModTime:    fi.ModTime,
		Format:     tar.FormatPAX,
		PAXRecords: map[string]string{paxVersionKey: paxVersionValue},
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		err = fmt.Errorf("new archive of %q: tar header: %w", fi.Path, err)
		p.fail(err)
		p.wg.Wait()
		return nil, err
	}
	return w, nil
}

// StreamState returns what re-creates the archive's age layer byte for byte
// (see StreamState and Options.Continue); ok is false when the Writer does
// not encrypt. It is available as soon as NewWriter returns, before any
// payload is written, so that the caller can persist it first. The result
// shares no memory with the Writer.
func (w *Writer) StreamState() (st StreamState, ok bool) {
	if w.state == nil {
		return StreamState{}, false
	}
	return w.state.clone(), true
}

// Write adds content. Writing more than FileInfo.Size bytes in total fails
// with ErrSizeMismatch, and so does every later call.
func (w *Writer) Write(b []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	if w.err != nil {
		return 0, w.wrap(w.err)
	}
	if int64(len(b)) > w.fi.Size-w.written {
		w.err = fmt.Errorf("%w: more than %d bytes written (the file grew)", ErrSizeMismatch, w.fi.Size)
		return 0, w.wrap(w.err)
	}
	n, err := w.tw.Write(b)
	w.written += int64(n)
	if err != nil {
		w.err = w.cause(err)
		return n, w.wrap(w.err)
	}
	return n, nil
}

func (w *Writer) wrap(err error) error {
	return fmt.Errorf("write archive of %q: %w", w.fi.Path, err)
}

// cause prefers the pipeline's first failure, which explains err.
func (w *Writer) cause(err error) error {
	if perr := w.p.failed(); perr != nil {
		return perr
	}
	return err
}

// Close finishes the archive: it writes the tar end marker, ends the zstd
// frame and the age stream, and waits until everything is written to dst.
// If fewer or more than FileInfo.Size bytes were written, Close returns
// ErrSizeMismatch and leaves dst holding an invalid, unfinished archive.
// Close returns the same result when called again.
func (w *Writer) Close() error {
	if w.closed {
		return w.result
	}
	w.closed = true
	err := w.err
	if err == nil && w.written != w.fi.Size {
		err = fmt.Errorf("%w: %d of %d bytes written (the file shrank)", ErrSizeMismatch, w.written, w.fi.Size)
	}
	if err == nil {
		if terr := w.tw.Close(); terr != nil {
			err = w.cause(fmt.Errorf("tar layer: %w", terr))
		} else if herr := w.head.Close(); herr != nil {
			err = herr
		}
	}
	if err != nil {
		w.p.fail(err)
	}
	w.p.wg.Wait()
	if err == nil {
		err = w.p.failed()
	}
	if err != nil {
		w.result = w.wrap(err)
	}
	return w.result
}
