package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// chunkLeaves is the largest download chunk in tree-hash leaves (8 MiB).
// A ReadRange reader holds one chunk in memory.
const chunkLeaves = 8

// A chunk request that has not finished after stallBase plus the time its
// bytes take at stallRate is abandoned as stalled and asked for again
// (counting as a failed attempt): a connection that hangs without being
// reset would otherwise block a download for good.
const (
	stallBase = time.Minute
	stallRate = 32 << 10 // bytes per second
)

// chunkTimeout returns how long a request for n bytes may take.
func (s *Store) chunkTimeout(n int64) time.Duration {
	if s.stallTimeout > 0 {
		return s.stallTimeout
	}
	return stallBase + time.Duration(n/stallRate)*time.Second
}

// ReadRange returns length bytes (to the end if length < 0) from offset off
// of a ready archive retrieval. It checks the job first (DescribeJob), then
// downloads the range in chunks of at most 8 MiB, each a node of the
// archive's tree hash so that the service sends its tree hash; each chunk
// is checked against it before any of its bytes are returned, and a chunk
// whose connection fails is asked for again from where it stopped, up to
// MaxAttempts times. A chunk that fails its check is fetched again whole.
//
// A service that reports no archive size (moto) gets one plain streaming
// request instead, unverified.
func (s *Store) ReadRange(ctx context.Context, r store.Retrieval, off, length int64) (io.ReadCloser, error) {
	const op = "read"
	if err := s.Begin(ctx); err != nil {
		return nil, s.Fail(op, err)
	}
	if r.Kind != store.KindArchive {
		return nil, s.Fail(op, store.Permanent(errors.New("not an archive retrieval")))
	}
	st, err := s.state(ctx, r)
	if err != nil {
		return nil, s.Fail(op, err)
	}
	if !st.Ready {
		return nil, s.Fail(op, fmt.Errorf("archive %s (job %s): %w", st.ArchiveID, st.JobID, store.ErrNotReady))
	}
	what := fmt.Sprintf("%s: %s: archive %s (job %s)", s.Location(), op, st.ArchiveID, st.JobID)
	size := st.Size
	if off < 0 || (size >= 0 && (off > size || (length >= 0 && length > size-off))) {
		return nil, s.Fail(op, store.Permanent(fmt.Errorf("archive %s: range offset %d length %d is outside its %d bytes",
			st.ArchiveID, off, length, size)))
	}
	if st.Ranged() {
		want := length
		if length < 0 && size >= 0 {
			want = size - off
		}
		if want < 0 || !st.Covers(off, want) {
			return nil, s.Fail(op, store.Permanent(fmt.Errorf("archive %s: bytes from %d (length %d) are outside the range %d-%d its job retrieved",
				st.ArchiveID, off, length, st.Offset, st.Offset+st.Length-1)))
		}
		what += fmt.Sprintf(" bytes %d-%d", st.Offset, st.Offset+st.Length-1)
	}
	// The job's output starts at the archive's byte st.Offset.
	if size < 0 {
		end := int64(-1)
		if length >= 0 {
			end = off + length - st.Offset
		}
		return &streamReader{s: s, ctx: ctx, jobID: st.JobID, pos: off - st.Offset, end: end, what: what}, nil
	}
	if length < 0 {
		length = size - off
	}
	limit := size
	if st.Ranged() {
		limit = st.Offset + st.Length
	}
	return &chunkReader{s: s, ctx: ctx, jobID: st.JobID, size: size, base: st.Offset, limit: limit,
		pos: off, end: off + length, what: what}, nil
}

// chunkFor returns the chunk [start, end) to download next for a read at
// pos that wants bytes up to want, of an archive of size bytes: it starts
// at pos's leaf, spans a power-of-two number of leaves (at most
// chunkLeaves) that its start is a multiple of, so that it is a node of the
// archive's tree, and is no larger than needed to reach want.
func chunkFor(pos, want, size int64) (start, end int64) {
	const leaf = treehash.LeafSize
	start = pos / leaf * leaf
	span := int64(chunkLeaves)
	for span > 1 && (start/leaf)%span != 0 {
		span /= 2
	}
	for span > 1 && start+span/2*leaf >= want {
		span /= 2
	}
	return start, min(start+span*leaf, size)
}

// chunkReader returns bytes [pos, end) of an archive retrieval, chunk by
// verified chunk. Positions are the archive's; the job's output holds
// bytes [base, limit) of it (the whole archive, or a ranged job's range).
// Chunks are nodes of the archive's tree cut at limit: inside a range that
// is tree-hash aligned they stay nodes and the service sends their tree
// hashes; for a range that is not, Glacier sends none (see
// store.Retrieval), and chunks pass unchecked.
type chunkReader struct {
	s     *Store
	ctx   context.Context
	jobID string
	size  int64
	base  int64 // the archive's byte at the start of the job's output
	limit int64 // the archive's byte after the end of the job's output
	pos   int64 // next byte to return
	end   int64
	what  string // names the store, operation, archive and job in errors

	buf  []byte // chunkLeaves leaves, from the pool; nil until needed
	data []byte // the unread rest of the current chunk
	err  error  // sticky
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.data) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.pos >= c.end {
			return 0, io.EOF
		}
		start, end := chunkFor(c.pos, c.end, c.size)
		end = min(end, c.limit)
		if c.buf == nil {
			c.buf = c.s.bufs.get(chunkLeaves * treehash.LeafSize)
		}
		if err := c.fetch(start, end); err != nil {
			c.err = fmt.Errorf("%s: bytes %d-%d: %w", c.what, start, end-1, err)
			return 0, c.err
		}
		c.data = c.buf[c.pos-start : min(end, c.end)-start]
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	c.pos += int64(n)
	return n, nil
}

// fetch downloads [start, end) into c.buf and checks it against the tree
// hash the service sent with it.
func (c *chunkReader) fetch(start, end int64) error {
	buf := c.buf[:end-start]
	var (
		got      int64  // bytes of the chunk in buf
		want     string // the service's tree hash of the chunk
		failures int
		lastErr  error
	)
	for {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if failures > 0 {
			if failures >= c.s.cfg.MaxAttempts {
				return fmt.Errorf("gave up after %d attempts: %w", failures, lastErr)
			}
			c.s.log.Debug("retrying a download chunk", "store", c.s.Location(), "job", c.jobID,
				"start", start, "at", start+got, "err", lastErr)
			if err := sleep(c.ctx, backoff(baseBackoff, c.s.cfg.MaxBackoff, failures)); err != nil {
				return err
			}
		}
		n, sum, err := c.fetchOnce(start+got, end, buf[got:])
		if got == 0 {
			want = sum
		}
		got += int64(n)
		if err != nil {
			if c.ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("stalled: no answer within %v: %w", c.s.chunkTimeout(int64(len(buf))), err)
			} else if giveUp(err) {
				return err
			}
			failures, lastErr = failures+1, err
			continue
		}
		if want == "" {
			c.s.log.Debug("no tree hash sent with a download chunk; passing it on unchecked",
				"store", c.s.Location(), "job", c.jobID, "start", start)
			return nil
		}
		if have := treehash.Sum(buf).String(); !strings.EqualFold(have, want) {
			failures, lastErr = failures+1, fmt.Errorf("tree hash %s, but the service sent %s", have, want)
			got, want = 0, ""
			continue
		}
		return nil
	}
}

// fetchOnce requests bytes [start, end) into dst (exactly end - start
// long) with one request bounded by the stall timeout, and returns how
// many arrived and the tree hash the service sent with them.
func (c *chunkReader) fetchOnce(start, end int64, dst []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.chunkTimeout(end-start))
	defer cancel()
	body, sum, err := c.s.getOutput(ctx, c.jobID, start-c.base, end-c.base)
	if err != nil {
		return 0, "", err
	}
	defer body.Close()
	n, err := io.ReadFull(body, dst)
	if err != nil {
		return n, sum, fmt.Errorf("reading: %w", withCtx(ctx, err))
	}
	return n, sum, nil
}

// Close returns the chunk buffer to the pool.
func (c *chunkReader) Close() error {
	if c.buf != nil {
		c.s.bufs.put(c.buf)
		c.buf, c.data = nil, nil
	}
	if c.err == nil {
		c.err = fmt.Errorf("%s: read after close", c.what)
	}
	return nil
}
