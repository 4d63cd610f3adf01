package engine

import (
	"io"
)

// chunker yields a large file's content in pieces; chunks are valid until
// the next call.
type chunker interface {
	Next() ([]byte, error)
}

// fixedChunker is a placeholder: fixed 1 MiB pieces.
type fixedChunker struct {
	r   io.Reader
	buf []byte
}

func (c *fixedChunker) Next() ([]byte, error) {
	n, err := io.ReadFull(c.r, c.buf)
	if n > 0 {
		return c.buf[:n], nil
	}
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return nil, err
}

func (s *syncer) newChunker(f io.Reader) (chunker, error) {
	return &fixedChunker{r: f, buf: make([]byte, 1<<20)}, nil
}
