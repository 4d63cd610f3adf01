package engine

import (
	"fmt"
	"io"
	"sync"

	"github.com/grsync/grsync/internal/chunk"
)

// chunkers hands out content-defined chunkers with the run's parameters:
// keyed by the user's key when encrypting (so chunk boundaries, which show
// as member sizes, do not fingerprint known content), the public default
// otherwise. Their buffers are reused from file to file.
type chunkers struct {
	params chunk.Params
	pool   sync.Pool
}

func newChunkers(cfg *Config) (*chunkers, error) {
	p := chunk.Default()
	if cfg.Encrypt && cfg.Key != nil {
		var err error
		if p, err = chunk.Keyed(cfg.Key.ChunkerKey()); err != nil {
			return nil, fmt.Errorf("chunker: %w", err)
		}
	}
	return &chunkers{params: p}, nil
}

// get returns a chunker over r; put it back when done.
func (c *chunkers) get(r io.Reader) *chunk.Chunker {
	if ch, ok := c.pool.Get().(*chunk.Chunker); ok {
		ch.Reset(r)
		return ch
	}
	return chunk.New(r, c.params)
}

func (c *chunkers) put(ch *chunk.Chunker) { c.pool.Put(ch) }
