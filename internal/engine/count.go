package engine

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/grsync/grsync/internal/catalog"
)

// CountWork walks the sources as Sync does and counts the files Sync would
// upload or deduplicate (new or changed against the catalogue) and their
// bytes, without reading or recording anything. Sync's own walk advances
// only as fast as files are uploaded, so a display that wants the total
// early runs CountWork beside it: that costs one more listing of the
// folders and a second read of the catalogue's latest states (24 bytes a
// live file while it runs). cfg.Catalog may be nil (everything is new). own
// are grsync's own files, left out as Sync leaves them out.
func CountWork(ctx context.Context, cfg *Config, sources []string, ex *Excluder, own OwnFiles) (files int, bytes int64, err error) {
	// Only what unchanged compares, of live files, by a 64-bit hash of
	// the path: 24 bytes a path instead of the plan's full states (a
	// second copy of those took an interactive no-op of 1,000,000 files to
	// 858 MB). A collision can only miscount the display's total.
	seed := maphash.MakeSeed()
	states := map[uint64]fileState{}
	if cfg.Catalog != nil {
		err = cfg.Catalog.EachLatestState(cfg.Target.ID, sources, func(path string, st catalog.State) error {
			if !st.Deleted && st.Kind == catalog.KindFile {
				states[maphash.String(seed, path)] = fileState{st.Size, st.MTimeNS, st.MTime}
			}
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("reading the catalogue: %w", err)
		}
	}
	_, err = walk(ctx, sources, ex, newOwnSet(own), func(e entry) error {
		if e.kind() != catalog.KindFile {
			return nil // folders and symlinks are recorded, never uploaded
		}
		if st, ok := states[maphash.String(seed, e.path)]; ok &&
			unchanged(catalog.State{Kind: catalog.KindFile, Size: st.size, MTimeNS: st.mtimeNS, MTime: st.mtime}, e.info) {
			return nil
		}
		files++
		bytes += e.info.Size()
		return nil
	}, func(walkEvent) {})
	return files, bytes, err
}

// fileState is what CountWork keeps of a live file's latest state.
type fileState struct {
	size, mtimeNS int64
	mtime         float64
}
