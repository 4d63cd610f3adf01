package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// storedDocuments returns the records objects the target's catalogue
// names, oldest first, decoded.
func storedDocuments(t *testing.T, cfg *Config) [][]byte {
	t.Helper()
	objs, err := cfg.Catalog.ObjectsOfKind(cfg.Target.ID, catalog.ObjectRecords)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, o := range objs {
		rc, err := cfg.Store.ReadRange(context.Background(), store.Retrieval{Kind: store.KindArchive, ArchiveID: o.ArchiveID}, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		id, err := format.ParsePackID(o.PackID)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := metaMember(cfg, metaObject{archive: store.Archive{ID: o.ArchiveID}, meta: format.ObjectMeta{ID: id,
			Encoding: format.PackEncoding(true, cfg.Encrypt)}}, raw)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	return docs
}

// storedRecords returns the lines of the stored records objects, their
// headers aside.
func storedRecords(t *testing.T, cfg *Config) []string {
	t.Helper()
	var lines []string
	for _, doc := range storedDocuments(t, cfg) {
		all := strings.Split(strings.TrimSuffix(string(doc), "\n"), "\n")
		lines = append(lines, all[1:]...)
	}
	return lines
}

// The records a sync stores, written from the batches it commits, are the
// catalogue's own export of what the sync added: line for line, over many
// packs, copies, folders, symlinks and a second run with deletions.
func TestStoredRecordsAreTheCatalogueExport(t *testing.T) {
	cfg, dir := setup(t, 0)
	cfg.PackSize = 64 << 10 // many packs
	src := filepath.Join(dir, "src")
	for i := range 120 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 100+(i*977)%9000)
		rand.Read(b)
		if i%10 == 3 {
			b = []byte("the same content in several files")
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("d1/f001", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for run := range 2 {
		if run == 1 {
			os.RemoveAll(filepath.Join(src, "d3"))
			os.WriteFile(filepath.Join(src, "d0", "new"), []byte("new"), 0o644)
		}
		if res, err := Sync(ctx, cfg, SyncOptions{Sources: []string{src}}); err != nil || len(res.Failures) > 0 {
			t.Fatalf("sync %d: %+v %v", run, res, err)
		}
	}
	var export bytes.Buffer
	if _, _, err := cfg.Catalog.ExportRecords(cfg.Target.ID, catalog.RecordsMark{}, cfg.now(), &export); err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(export.String(), "\n"), "\n")[1:]
	got := storedRecords(t, cfg)
	// The stored document is in parts (a pack's objects, blobs and
	// versions, then the next's), the export in one: the same lines.
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the stored records (%d lines) differ from the catalogue's export (%d lines)", len(got), len(want))
	}
	if len(want) < 250 {
		t.Fatalf("only %d lines: the test tree did not make what it should", len(want))
	}
	// And in their order they rebuild the catalogue's versions.
	cat, err := catalog.Open(filepath.Join(dir, "rebuilt.db"), catalog.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	tg, err := cat.EnsureTarget(cfg.Target.Location)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, doc := range storedDocuments(t, cfg) {
		_, lines, err := catalog.ReadRecords(bytes.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		st, err := cat.ImportRecords(tg.ID, lines)
		if err != nil {
			t.Fatalf("importing the stored records: %v", err)
		}
		n += st.Versions
	}
	if all, err := cfg.Catalog.Select(cfg.Target.ID, nil, time.Time{}); err != nil || n < len(all) {
		t.Fatalf("the stored records rebuilt %d versions; the catalogue selects %d (%v)", n, len(all), err)
	}
}
