package engine

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// dirCache keeps the destination folders a restore writes into open, so
// that each is opened (a walk of openat calls from the output folder, see
// destRoot.openDir) once, not once a file: restored files come folder by
// folder. At most max folders stay open when unused, so a tree of any
// number of folders needs a bounded number of descriptors. It also keeps
// one descriptor per file system written to, for the one syncfs at the end
// (see sync). Safe for concurrent use.
type dirCache struct {
	root destRoot
	max  int

	mu    sync.Mutex
	dirs  map[string]*cachedDir
	open  map[*destDir]*cachedDir
	devs  map[uint64]int // file system → a descriptor of a folder on it
	clock int64          // orders uses, for evicting the least recent
}

type cachedDir struct {
	path string
	d    *destDir
	refs int
	used int64
}

func newDirCache(root destRoot, max int) *dirCache {
	return &dirCache{root: root, max: max, dirs: map[string]*cachedDir{}, open: map[*destDir]*cachedDir{}, devs: map[uint64]int{}}
}

// get returns folder dir, open (created with its parents when missing);
// the caller gives it back with put and does not close it.
func (c *dirCache) get(dir string) (*destDir, error) {
	c.mu.Lock()
	c.clock++
	if e, ok := c.dirs[dir]; ok {
		e.refs++
		e.used = c.clock
		c.mu.Unlock()
		return e.d, nil
	}
	c.mu.Unlock()
	d, err := c.root.openDir(dir, true)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.dirs[dir]; ok { // opened meanwhile by another file
		d.close()
		e.refs++
		return e.d, nil
	}
	var st unix.Stat_t
	if unix.Fstat(d.fd, &st) == nil {
		if _, ok := c.devs[st.Dev]; !ok {
			// syncfs needs a descriptor that is not O_PATH.
			if fd, err := openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
				c.devs[st.Dev] = fd
			}
		}
	}
	e := &cachedDir{path: dir, d: d, refs: 1, used: c.clock}
	c.dirs[dir], c.open[d] = e, e
	c.evict()
	return d, nil
}

// put gives back a folder get returned.
func (c *dirCache) put(d *destDir) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.open[d]; ok {
		e.refs--
	}
	c.evict()
}

// evict closes the least recently used unused folders past max. Call with
// c.mu held.
func (c *dirCache) evict() {
	for len(c.dirs) > c.max {
		var oldest string
		var at int64
		for p, e := range c.dirs {
			if e.refs == 0 && (oldest == "" || e.used < at) {
				oldest, at = p, e.used
			}
		}
		if oldest == "" {
			return // all in use
		}
		e := c.dirs[oldest]
		e.d.close()
		delete(c.dirs, oldest)
		delete(c.open, e.d)
	}
}

// sync writes everything written to the file systems of the folders
// opened to disk: restored files are not synced one by one (an fsync a
// file cost more than all the rest of restoring a small file), but a
// restore reports success only once they are all on disk.
func (c *dirCache) sync() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, fd := range c.devs {
		if err := unix.Syncfs(fd); err != nil {
			return fmt.Errorf("writing the restored files to disk: %w", err)
		}
	}
	return nil
}

// close closes every folder.
func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, e := range c.dirs {
		e.d.close()
		delete(c.dirs, p)
		delete(c.open, e.d)
	}
	for dev, fd := range c.devs {
		unix.Close(fd)
		delete(c.devs, dev)
	}
}
