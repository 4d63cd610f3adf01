package engine

import (
	"fmt"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/retention"
)

// ForgetOptions says which versions to keep.
type ForgetOptions struct {
	Policy   retention.Policy
	Prefixes []string       // absolute paths or folder prefixes; empty = everything
	Loc      *time.Location // for hour/day/week/month/year buckets; nil = UTC
}

// ForgetPlan is what forget will do: which points it keeps and why, and
// which catalogue rows no kept point needs.
type ForgetPlan struct {
	Points []retention.Decision // newest first
	Forget []catalog.RetentionRow
	// Kept counts the live versions that stay; Paths the paths looked at.
	Kept, Paths int
}

// PlanForget applies the policy to the target's points in time and to the
// rows of every selected path. It changes nothing.
func PlanForget(cfg *Config, opt ForgetOptions) (*ForgetPlan, error) {
	points, err := cfg.Catalog.Points(cfg.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	ds, err := retention.Apply(points, opt.Policy, opt.Loc)
	if err != nil {
		return nil, err
	}
	var kept []time.Time
	for _, d := range ds {
		if d.Kept() {
			kept = append(kept, d.Point)
		}
	}
	var since time.Time
	if opt.Policy.KeepDeleted > 0 {
		since = cfg.now().Add(-opt.Policy.KeepDeleted)
	}
	plan := &ForgetPlan{Points: ds}
	err = cfg.Catalog.RetentionRows(cfg.Target.ID, opt.Prefixes, func(_ string, rows []catalog.RetentionRow) error {
		plan.Paths++
		rs := make([]retention.Row, len(rows))
		byID := make(map[int64]catalog.RetentionRow, len(rows))
		for i, r := range rows {
			rs[i] = r.Row
			byID[r.ID] = r
		}
		gone := retention.Forget(rs, kept, since)
		goneSet := make(map[int64]bool, len(gone))
		for _, id := range gone {
			goneSet[id] = true
			plan.Forget = append(plan.Forget, byID[id])
		}
		for _, r := range rows {
			if !r.Deleted && !r.Forgotten && !goneSet[r.ID] {
				plan.Kept++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	return plan, nil
}

// ApplyForget marks the plan's rows forgotten, in one transaction: a crash
// leaves either all of them forgotten or none.
func ApplyForget(cfg *Config, plan *ForgetPlan) error {
	ids := make([]int64, len(plan.Forget))
	for i, r := range plan.Forget {
		ids[i] = r.ID
	}
	if err := cfg.Catalog.Forget(ids, cfg.now()); err != nil {
		return fmt.Errorf("recording what is forgotten: %w", err)
	}
	return nil
}
