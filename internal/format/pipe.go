package format

import (
	"io"
	"sync"
)

// The layers of an archive run in separate goroutines connected by bounded
// channels of fixed-size chunks, so memory use does not depend on the file
// size: at most pipeDepth+2 chunks per channel are alive at a time.
const (
	chunkSize = 256 << 10
	pipeDepth = 4
)

// chunk is one buffer travelling between two goroutines; b[:len] is data.
type chunk struct{ b []byte }

// chunkPool recycles chunks across all Writers and Readers. It is a cache,
// not state: nothing observable depends on what it holds.
var chunkPool = sync.Pool{New: func() any { return &chunk{b: make([]byte, 0, chunkSize)} }}

func getChunk() *chunk {
	c := chunkPool.Get().(*chunk)
	c.b = c.b[:0]
	return c
}

func putChunk(c *chunk) { chunkPool.Put(c) }

// pipeline tracks the goroutines of one Writer or Reader and the first error
// any of them hit. fail closes abort, which every blocking channel operation
// also waits on, so one failure stops all stages.
type pipeline struct {
	abort chan struct{}
	once  sync.Once
	err   error // written once, before abort is closed
	wg    sync.WaitGroup
}

func newPipeline() *pipeline { return &pipeline{abort: make(chan struct{})} }

// fail records err if it is the first failure and stops the pipeline.
func (p *pipeline) fail(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.abort)
	})
}

// cause returns the first failure; call it only after abort is closed.
func (p *pipeline) cause() error { return p.err }

// failed reports the first failure, or nil while the pipeline runs.
func (p *pipeline) failed() error {
	select {
	case <-p.abort:
		return p.err
	default:
		return nil
	}
}

// spawn runs f in a goroutine of the pipeline; an error from f stops it.
func (p *pipeline) spawn(f func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := f(); err != nil {
			p.fail(err)
		}
	}()
}

// chunkWriter is the sending end of a channel of chunks. Write copies into
// the current chunk and sends it when full; Close sends the rest and closes
// the channel.
type chunkWriter struct {
	p   *pipeline
	out chan<- *chunk
	cur *chunk
}

func (w *chunkWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if w.cur == nil {
			w.cur = getChunk()
		}
		k := copy(w.cur.b[len(w.cur.b):cap(w.cur.b)], b)
		w.cur.b = w.cur.b[:len(w.cur.b)+k]
		n += k
		b = b[k:]
		if len(w.cur.b) == cap(w.cur.b) {
			if err := w.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) send() error {
	c := w.cur
	w.cur = nil
	select {
	case w.out <- c:
		return nil
	case <-w.p.abort:
		putChunk(c)
		return w.p.cause()
	}
}

// Close sends any buffered data and closes the channel: the end of the
// stream for the receiver.
func (w *chunkWriter) Close() error {
	if w.cur != nil && len(w.cur.b) > 0 {
		if err := w.send(); err != nil {
			return err
		}
	}
	close(w.out)
	return nil
}

// drain writes every chunk received on in to w until in is closed.
func drain(p *pipeline, in <-chan *chunk, w io.Writer) error {
	for {
		select {
		case c, ok := <-in:
			if !ok {
				return nil
			}
			_, err := w.Write(c.b)
			putChunk(c)
			if err != nil {
				return err
			}
		case <-p.abort:
			return p.cause()
		}
	}
}

// fill reads r to its end in chunks and sends them on out, then closes out.
// Only io.EOF from r is the end; any other error, io.ErrUnexpectedEOF
// included, is a failure.
func fill(p *pipeline, r io.Reader, out chan<- *chunk) error {
	for {
		c := getChunk()
		var err error
		for len(c.b) < cap(c.b) && err == nil {
			var n int
			n, err = r.Read(c.b[len(c.b):cap(c.b)])
			c.b = c.b[:len(c.b)+n]
		}
		if len(c.b) > 0 {
			select {
			case out <- c:
			case <-p.abort:
				putChunk(c)
				return p.cause()
			}
		} else {
			putChunk(c)
		}
		if err == io.EOF {
			close(out)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// chunkReader is the receiving end of a channel of chunks. It returns
// io.EOF once the channel is closed, and the pipeline's failure if there is
// one.
type chunkReader struct {
	p   *pipeline
	in  <-chan *chunk
	cur *chunk
	off int
}

func (r *chunkReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for r.cur == nil || r.off == len(r.cur.b) {
		if r.cur != nil {
			putChunk(r.cur)
			r.cur = nil
		}
		select {
		case c, ok := <-r.in:
			if !ok {
				if err := r.p.failed(); err != nil {
					return 0, err
				}
				return 0, io.EOF
			}
			r.cur, r.off = c, 0
		case <-r.p.abort:
			return 0, r.p.cause()
		}
	}
	n := copy(b, r.cur.b[r.off:])
	r.off += n
	return n, nil
}
