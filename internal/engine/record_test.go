package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
)

// gatedCommitter holds the first commit until release is closed.
type gatedCommitter struct {
	cat     *catalog.Catalog
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (g *gatedCommitter) Commit(b *catalog.Batch) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.started)
		<-g.release
	}
	return g.cat.Commit(b)
}

// A pack's transaction runs without the recorder's lock: versions can be
// added meanwhile, and a version with pieces in that pack and another one is
// recorded only once both are committed, whichever commits first.
func TestRecorderCommitsPacksWithoutBlockingWorkers(t *testing.T) {
	cfg, _ := setup(t, 0)
	g := &gatedCommitter{cat: cfg.Catalog, started: make(chan struct{}), release: make(chan struct{})}
	r := newRecorder(g, time.Now())
	newPack := func() *pack { return &pack{rec: packRecord{waiters: map[*recordItem]bool{}}} }
	p, q := newPack(), newPack()
	blob := func(n int) *catalog.Blob {
		return &catalog.Blob{Hash: fmt.Sprintf("%064x", n), Size: 10, Offset: int64(100 * n), Length: 50,
			Member: int64(n), Kind: catalog.BlobFile, Encoding: "grsync1+zstd+age"}
	}
	bp, bq := blob(1), blob(2)
	object := func(id string, b *catalog.Blob) *catalog.NewObject {
		return &catalog.NewObject{Object: catalog.Object{TargetID: cfg.Target.ID, ArchiveID: id,
			Kind: catalog.ObjectPack, PackID: id, Size: 1000}, Blobs: []*catalog.Blob{b}}
	}
	results := map[string]chan error{}
	add := func(path string, packs []*pack, pieces ...*catalog.Blob) *catalog.NewVersion {
		v := &catalog.NewVersion{Version: catalog.Version{TargetID: cfg.Target.ID, Path: path, Size: 10,
			Timestamp: time.Now()}, Pieces: pieces}
		ch := make(chan error, 1)
		results[path] = ch
		r.add(v, packs, func(err error) { ch <- err })
		return v
	}
	v1 := add("/one", []*pack{p}, bp)
	v2 := add("/two", []*pack{p, q}, bp, bq)

	pDone := make(chan error, 1)
	go func() { pDone <- r.stored(p, object("pack-p", bp), 0) }()
	<-g.started // p's transaction has begun and is held

	// A worker adds a version found in p while p commits: it does not wait.
	added := make(chan *catalog.NewVersion, 1)
	go func() { added <- add("/three", []*pack{p}, bp) }()
	var v3 *catalog.NewVersion
	select {
	case v3 = <-added:
	case <-time.After(30 * time.Second):
		t.Fatal("adding a version waited for another pack's transaction")
	}
	// q commits while p is still committing: /two needs p too, so it is not
	// in q's transaction.
	if err := r.stored(q, object("pack-q", bq), 0); err != nil {
		t.Fatalf("committing q: %v", err)
	}
	select {
	case err := <-results["/two"]:
		t.Fatalf("/two was recorded (err %v) before the pack holding its first piece", err)
	default:
	}
	close(g.release)
	if err := <-pDone; err != nil {
		t.Fatalf("committing p: %v", err)
	}
	if err := <-results["/one"]; err != nil || v1.ID == 0 {
		t.Fatalf("/one: err %v, id %d", err, v1.ID)
	}
	if err := r.flush(time.Now(), nil); err != nil {
		t.Fatalf("flush: %v", err)
	}
	for _, c := range []struct {
		path string
		v    *catalog.NewVersion
	}{{"/two", v2}, {"/three", v3}} {
		if err := <-results[c.path]; err != nil || c.v.ID == 0 {
			t.Fatalf("%s: err %v, id %d", c.path, err, c.v.ID)
		}
	}
	if bp.ID == 0 || bq.ID == 0 {
		t.Fatalf("blob ids %d, %d after both packs committed", bp.ID, bq.ID)
	}
}
