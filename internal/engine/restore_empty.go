package engine

import (
	"fmt"

	"github.com/grsync/grsync/internal/catalog"
)

// EmptySelection says why a restore selected no file, so that the user is
// told instead of getting "nothing to restore" and exit 0.
type EmptySelection struct {
	// NoFiles: the target has no file at all in the catalogue.
	NoFiles bool
	// NoSuchPath lists the prefixes under which nothing was ever backed up.
	NoSuchPath []string
	// TooEarly: the selected paths were first backed up after At.
	TooEarly bool
	// Span is when the selected paths' versions were recorded.
	Span catalog.Span
	// Deleted counts the selected paths that were deleted from the source
	// (by At, when it is given).
	Deleted int
}

// WhyEmpty explains a restore plan that selected nothing (and found no
// existing file either).
func WhyEmpty(cfg *Config, opt RestoreOptions) (EmptySelection, error) {
	var e EmptySelection
	for _, p := range opt.Prefixes {
		sums, err := cfg.Catalog.Summaries(cfg.Target.ID, []string{p})
		if err != nil {
			return e, fmt.Errorf("reading the catalogue: %w", err)
		}
		if len(sums) == 0 {
			e.NoSuchPath = append(e.NoSuchPath, p)
		}
	}
	if len(e.NoSuchPath) > 0 {
		return e, nil
	}
	span, err := cfg.Catalog.BackupSpan(cfg.Target.ID, opt.Prefixes)
	if err != nil {
		return e, fmt.Errorf("reading the catalogue: %w", err)
	}
	e.Span = span
	switch {
	case span.Versions == 0:
		e.NoFiles = true
		return e, nil
	case !opt.At.IsZero() && span.First.After(opt.At):
		e.TooEarly = true
		return e, nil
	}
	// The paths were backed up, and are all gone from the selection: each
	// one's latest row by At (or now) is a tombstone.
	sums, err := cfg.Catalog.Summaries(cfg.Target.ID, opt.Prefixes)
	if err != nil {
		return e, fmt.Errorf("reading the catalogue: %w", err)
	}
	e.Deleted = len(sums)
	return e, nil
}
