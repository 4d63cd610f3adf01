package engine

import (
	"context"
	"fmt"

	"github.com/grsync/grsync/internal/catalog"
)

// CountWork walks the sources as Sync does and counts the files Sync would
// upload or deduplicate (new or changed against the catalogue) and their
// bytes, without reading or recording anything. Sync's own walk advances
// only as fast as files are uploaded, so a display that wants the total
// early runs CountWork beside it: that costs one more listing of the
// folders and a second read of the catalogue's latest states (their memory
// too, while it runs). cfg.Catalog may be nil (everything is new). own
// are grsync's own files, left out as Sync leaves them out.
func CountWork(ctx context.Context, cfg *Config, sources []string, ex *Excluder, own OwnFiles) (files int, bytes int64, err error) {
	states := map[string]catalog.State{}
	if cfg.Catalog != nil {
		if states, err = cfg.Catalog.LatestStates(cfg.Target.ID, sources); err != nil {
			return 0, 0, fmt.Errorf("reading the catalogue: %w", err)
		}
	}
	_, err = walk(ctx, sources, ex, newOwnSet(own), func(e entry) error {
		if e.kind() != catalog.KindFile {
			return nil // folders and symlinks are recorded, never uploaded
		}
		if st, ok := states[e.path]; ok && unchanged(st, e.info) {
			return nil
		}
		files++
		bytes += e.info.Size()
		return nil
	}, func(walkEvent) {})
	return files, bytes, err
}
