package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"

	"github.com/grsync/grsync/internal/catalog"
)

// Reading pack members in windows. A restore of many small files reads
// many members of few packs. Read one by one, that is one ranged GET per
// file: 20,000 files of a pack on S3 were 20,000 requests, and the
// restore was bound by their round trips. So the members a restore round
// reads are grouped, per object, into windows of neighbouring members
// (gaps up to windowGap, windows up to windowMax), and a window is read
// with one request, into memory, when its first member is wanted; its
// members are then served from it, and it is dropped when the last one
// has been read. Members are still opened and authenticated one by one
// (format.OpenMember), exactly as before. Files are restored in the order
// of their first piece in its object (see fetchAll), so the jobs work on
// the same few windows: memory is about jobs windows, and at most
// windowCache bytes are kept loaded.
const (
	windowGap   = 1 << 20
	windowMax   = 16 << 20
	windowCache = 64 << 20
)

// window is a byte range of one object holding members a restore reads.
type window struct {
	start, end int64
	left       int // member reads still expected

	loading bool
	ready   chan struct{} // closed once data or err is set
	data    []byte
	err     error
}

// windows are the windows of one restore round, by object.
type windows struct {
	mu     sync.Mutex
	byObj  map[string][]*window // sorted by start
	loaded []*window            // loaded windows, oldest first
	bytes  int64                // loaded bytes
}

// planWindows groups the pack members files read into windows. Files
// with the same content read their pieces once (see fetchAll).
func planWindows(groups [][]*restoreFile) *windows {
	type rng struct{ off, end int64 }
	reads := map[string][]rng{}
	for _, g := range groups {
		for _, p := range g[0].pieces {
			if p.Kind == catalog.BlobArchive || p.Length <= 0 {
				continue
			}
			reads[p.Object.ArchiveID] = append(reads[p.Object.ArchiveID], rng{p.Offset, p.Offset + p.Length})
		}
	}
	w := &windows{byObj: map[string][]*window{}}
	for obj, rs := range reads {
		slices.SortFunc(rs, func(a, b rng) int { return cmp.Compare(a.off, b.off) })
		var cur *window
		for _, r := range rs {
			if cur != nil && r.off <= cur.end+windowGap && max(cur.end, r.end)-cur.start <= windowMax {
				cur.end = max(cur.end, r.end)
				cur.left++
				continue
			}
			cur = &window{start: r.off, end: r.end, left: 1}
			w.byObj[obj] = append(w.byObj[obj], cur)
		}
	}
	return w
}

// find returns the window holding [off, off+n) of obj, or nil.
func (w *windows) find(obj string, off, n int64) *window {
	ws := w.byObj[obj]
	i := sort.Search(len(ws), func(i int) bool { return ws[i].end > off })
	if i < len(ws) && ws[i].start <= off && off+n <= ws[i].end {
		return ws[i]
	}
	return nil
}

// read returns the n bytes at off of obj, from its window (read with
// readRange when not loaded yet), or ok false when no window holds them.
func (w *windows) read(ctx context.Context, obj string, off, n int64, readRange func(ctx context.Context, off, n int64) (io.ReadCloser, error)) (rc io.ReadCloser, ok bool, err error) {
	if w == nil {
		return nil, false, nil
	}
	w.mu.Lock()
	win := w.find(obj, off, n)
	if win == nil {
		w.mu.Unlock()
		return nil, false, nil
	}
	for win.data == nil {
		if win.loading {
			ready := win.ready
			w.mu.Unlock()
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, true, context.Cause(ctx)
			}
			w.mu.Lock()
			if win.data == nil && win.err != nil && !win.loading {
				err := win.err
				w.mu.Unlock()
				return nil, true, err
			}
			continue
		}
		win.loading, win.ready, win.err = true, make(chan struct{}), nil
		w.mu.Unlock()
		data, err := loadWindow(ctx, win, readRange)
		w.mu.Lock()
		win.loading = false
		if err != nil {
			win.err = err // the waiters fail; a later read tries again
			close(win.ready)
			w.mu.Unlock()
			return nil, true, err
		}
		win.data = data
		close(win.ready)
		w.loaded = append(w.loaded, win)
		w.bytes += int64(len(data))
		w.evict(win)
	}
	data := win.data[off-win.start : off-win.start+n]
	win.left--
	if win.left <= 0 {
		w.drop(win)
	}
	w.mu.Unlock()
	return io.NopCloser(bytes.NewReader(data)), true, nil
}

// loadWindow reads a window's bytes whole.
func loadWindow(ctx context.Context, win *window, readRange func(ctx context.Context, off, n int64) (io.ReadCloser, error)) ([]byte, error) {
	n := win.end - win.start
	rc, err := readRange(ctx, win.start, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data := make([]byte, n)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("reading bytes %d-%d: %w", win.start, win.end-1, err)
	}
	return data, nil
}

// evict drops the oldest loaded windows but keep while more than
// windowCache bytes are loaded (members still wanted from them are read
// again if they come).
func (w *windows) evict(keep *window) {
	for w.bytes > windowCache && len(w.loaded) > 1 {
		old := w.loaded[0]
		if old == keep {
			return
		}
		w.drop(old)
	}
}

// drop forgets a window's bytes (readers keep what they were given).
func (w *windows) drop(win *window) {
	if win.data == nil {
		return
	}
	w.bytes -= int64(len(win.data))
	win.data = nil
	if i := slices.Index(w.loaded, win); i >= 0 {
		w.loaded = slices.Delete(w.loaded, i, i+1)
	}
}
