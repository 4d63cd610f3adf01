package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/store"
)

// deadUploads returns the uploads an earlier, dead run noted but never
// recorded, by description group id. Only one grsync uses a catalogue at a
// time (it is locked), so every noted upload found at the start of a
// command is dead.
func deadUploads(cfg *Config) (map[string][]catalog.PendingUpload, error) {
	ps, err := cfg.Catalog.PendingUploads(cfg.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	groups := map[string][]catalog.PendingUpload{}
	for _, p := range ps {
		groups[p.Group] = append(groups[p.Group], p)
	}
	return groups, nil
}

// groupOf returns the group id of a grsync description, or "".
func groupOf(desc string) string {
	if g, ok := format.IsObjectDescription(desc); ok {
		return g
	}
	p, err := format.ParseDescription(desc)
	if err != nil {
		return ""
	}
	return p.Group
}

// AbortDeadUploads aborts the unfinished multipart uploads that dead runs
// left in the store (they are billed), and returns how many it aborted.
// Uploads of other catalogues (another machine backing up to the same
// vault) are left alone: only groups noted in this catalogue are touched.
// Uploads whose ids are in keep (a sync is about to continue them) stay.
func AbortDeadUploads(ctx context.Context, cfg *Config, keep map[string]bool) (int, error) {
	groups, err := deadUploads(cfg)
	if err != nil || len(groups) == 0 {
		return 0, err
	}
	ups, err := cfg.Store.ListUploads(ctx)
	if err != nil {
		return 0, fmt.Errorf("listing unfinished uploads: %w", err)
	}
	n := 0
	for _, u := range ups {
		if _, dead := groups[groupOf(u.Description)]; !dead || keep[u.ID] {
			continue
		}
		if err := cfg.Store.AbortUpload(ctx, u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("aborting unfinished upload %s: %w", u.ID, err)
		}
		n++
	}
	return n, nil
}

// InterruptedUploads returns, by store upload id, what each unfinished
// upload that a dead run of this catalogue left was storing (a noted
// path, "pack <id>" for a pack). The next sync aborts them.
func InterruptedUploads(cat *catalog.Catalog, targetID int64, ups []store.Upload) (map[string]string, error) {
	ps, err := cat.PendingUploads(targetID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	byGroup := map[string]string{}
	for _, p := range ps {
		byGroup[p.Group] = p.Path
	}
	out := map[string]string{}
	for _, u := range ups {
		if what, ok := byGroup[groupOf(u.Description)]; ok {
			out[u.ID] = what
		}
	}
	return out, nil
}
