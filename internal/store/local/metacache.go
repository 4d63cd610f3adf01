package local

import "sync"

// metaCache remembers the metadata of the archives a store reads. An
// archive's metadata never changes once it is stored (every archive gets
// a new id), and a restore of many small files reads it for every pack
// member: parsing it each time was 10% of the CPU of restoring 5,000
// files. Delete forgets what it removes. Safe for concurrent use.
type metaCache struct {
	mu sync.Mutex
	m  map[string]archiveMeta
}

// metaCacheMax bounds the archives remembered (~200 bytes each); past it
// the cache starts again empty.
const metaCacheMax = 4096

func (c *metaCache) get(id string) (archiveMeta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[id]
	return m, ok
}

func (c *metaCache) put(id string, m archiveMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= metaCacheMax {
		c.m = map[string]archiveMeta{}
	}
	c.m[id] = m
}

func (c *metaCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// readMeta is loadMeta through the cache: for reading an archive, whose
// bytes are opened next (a store whose archive was deleted by another
// process then says so).
func (s *Store) readMeta(id string) (archiveMeta, error) {
	if m, ok := s.metas.get(id); ok {
		return m, nil
	}
	m, err := s.loadMeta(id)
	if err == nil {
		s.metas.put(id, m)
	}
	return m, err
}
