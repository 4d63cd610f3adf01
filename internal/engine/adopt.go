package engine

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// Adoption: a run killed after the store accepted an object but before the
// catalogue recorded it leaves a complete object nothing refers to. Its
// upload note names its group. Deleting it could delete the only copy of
// what it holds (the files may have changed since) and, in a cold class,
// costs the early-deletion fee anyway; so the next sync records it
// instead: a pack with the content its index lists (new files and chunks
// with that content are then recorded against it, nothing is sent again),
// any other object as it is. Prune deletes what no kept version uses, once
// its minimum storage duration is over.

// AdoptResult counts what adoption found.
type AdoptResult struct {
	Adopted int // objects recorded (packs with their content)
	Blobs   int // pieces of content they hold
	Later   int // dead uploads whose objects cannot be listed now (vault: inventory)
}

// AdoptOrphans records the objects that dead runs stored but did not
// record, when the store lists its objects at once (a local store, S3); a
// vault's are found by verify and prune through its inventory.
func AdoptOrphans(ctx context.Context, cfg *Config) (AdoptResult, error) {
	var res AdoptResult
	dead, err := deadUploads(cfg)
	if err != nil || len(dead) == 0 {
		return res, err
	}
	r, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	if err != nil {
		return res, fmt.Errorf("listing the store: %w", err)
	}
	if !r.Ready {
		res.Later = len(dead)
		return res, nil
	}
	known := map[string]bool{}
	objs, err := cfg.Catalog.Objects(cfg.Target.ID)
	if err != nil {
		return res, err
	}
	for _, o := range objs {
		known[o.ArchiveID] = true
	}
	var orphans []store.Archive
	if _, err := cfg.Store.Inventory(ctx, r, func(a store.Archive) error {
		if g := groupOf(a.Description); g != "" && dead[g] != nil && !known[a.ID] {
			orphans = append(orphans, a)
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("listing the store: %w", err)
	}
	mk := cfg.metaKey()
	for _, a := range orphans {
		obj := catalog.Object{TargetID: cfg.Target.ID, ArchiveID: a.ID, Kind: catalog.ObjectArchive, Size: a.Size,
			TreeHash: a.TreeHash, Class: cfg.Class, Uploaded: a.Created, LockMode: string(a.Lock.Mode), LockUntil: a.Lock.Until}
		m, err := format.ParseObjectDescription(a.Description, mk)
		if err != nil {
			// A v1 archive of an older grsync, or unreadable: recorded as
			// an archive, for prune.
			if err := cfg.Catalog.AddObject(obj); err != nil {
				return res, err
			}
			res.Adopted++
			continue
		}
		obj.Kind, obj.PackID = catalog.ObjectKind(m.Kind), format.PackID(m.ID).String()
		if m.Kind != format.ObjectPack {
			obj.Class = cfg.metaClass()
			if err := cfg.Catalog.AddObject(obj); err != nil {
				return res, err
			}
			res.Adopted++
			continue
		}
		b, err := adoptPack(ctx, cfg, a, m, obj)
		if err != nil {
			return res, err
		}
		res.Adopted++
		res.Blobs += b
	}
	for _, ps := range dead {
		for _, p := range ps {
			if err := cfg.Catalog.EndUpload(p.ID); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// adoptPack records pack a with the content its index lists, when the
// index can be read now; otherwise the pack alone.
func adoptPack(ctx context.Context, cfg *Config, a store.Archive, m format.ObjectMeta, obj catalog.Object) (int, error) {
	b := &catalog.Batch{Objects: []*catalog.NewObject{{Object: obj}}}
	r, err := cfg.Store.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: a.ID})
	if err == nil && r.Ready {
		pack := format.PackID(m.ID)
		idx, err := format.ReadPackIndex(&storeReaderAt{ctx: ctx, s: cfg.Store, r: r}, a.Size, cfg.identityFor(m.Encoding), pack)
		if err == nil {
			for _, bl := range indexBlobs(idx, m.Encoding) {
				if bl != nil {
					b.Objects[0].Blobs = append(b.Objects[0].Blobs, bl)
				}
			}
		} else {
			cfg.log().Warn("the index of a pack an interrupted run stored cannot be read; it is kept for prune", "archive", a.ID, "err", err)
		}
	}
	if err := cfg.Catalog.Commit(b); err != nil {
		return 0, fmt.Errorf("recording pack %s: %w", a.ID, err)
	}
	return len(b.Objects[0].Blobs), nil
}

// indexBlobs returns the content a pack's index lists: a blob for each file
// and chunk member, nil for the others (void members), in index order.
func indexBlobs(idx *format.PackIndex, encoding string) []*catalog.Blob {
	out := make([]*catalog.Blob, len(idx.Members))
	for i, e := range idx.Members {
		kind := catalog.BlobFile
		switch e.Kind {
		case format.KindChunk:
			kind = catalog.BlobChunk
		case format.KindFile:
		default:
			continue
		}
		out[i] = &catalog.Blob{Hash: hex.EncodeToString(e.Hash), Size: e.Size, Offset: e.Offset, Length: e.Length,
			Member: int64(e.Number), Kind: kind, Encoding: encoding}
	}
	return out
}
