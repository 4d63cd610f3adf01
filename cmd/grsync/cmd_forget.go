package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/retention"
	"github.com/grsync/grsync/internal/ui"
)

type forgetOptions struct {
	last, hourly, daily, weekly, monthly, yearly int
	within, keepDeleted                          string
	dryRun, verbose                              bool
}

func (a *app) forgetCommand() *cobra.Command {
	o := &forgetOptions{}
	cmd := &cobra.Command{
		Use:   "forget [flags] [PATH-or-PREFIX...]",
		Short: "Forget old versions by retention rules (catalogue only; prune deletes)",
		Long: `Forget the versions that no retention rule keeps. The end of every completed
sync run is a point in time; the rules keep points (the last N, the newest of each
of the last N hours, days, weeks, months or years that have points, every point
within a duration of the newest), and a version is kept when it was current at a
kept point or is current now. --keep-deleted keeps the last version of a file
deleted from the source for that long after its deletion.

forget changes only the catalogue, in one transaction: forgotten versions no
longer show in ls or restore. Their archives stay in the store until
"grsync prune" deletes what nothing kept uses (never before the storage class's
minimum duration unless asked). Durations: 36h, 7d, 4w, 6m (months), 1y, 1y6m.`,
		Example: `  grsync forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
  grsync forget --keep-within 90d --keep-deleted 1y ~/Documents`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runForget(o, args)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.last, "keep-last", 0, "keep the last N points")
	f.IntVar(&o.hourly, "keep-hourly", 0, "keep the newest point of each of the last N hours that have one")
	f.IntVar(&o.daily, "keep-daily", 0, "keep the newest point of each of the last N days that have one")
	f.IntVar(&o.weekly, "keep-weekly", 0, "keep the newest point of each of the last N weeks that have one")
	f.IntVar(&o.monthly, "keep-monthly", 0, "keep the newest point of each of the last N months that have one")
	f.IntVar(&o.yearly, "keep-yearly", 0, "keep the newest point of each of the last N years that have one")
	f.StringVar(&o.within, "keep-within", "", "keep every point within DURATION of the newest one")
	f.StringVar(&o.keepDeleted, "keep-deleted", "", "keep a deleted file's last version for DURATION after its deletion")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "list what would be forgotten; change nothing")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "list every forgotten version")
	return cmd
}

func (a *app) runForget(o *forgetOptions, args []string) error {
	p := retention.Policy{Last: o.last, Hourly: o.hourly, Daily: o.daily, Weekly: o.weekly, Monthly: o.monthly, Yearly: o.yearly}
	var err error
	if o.within != "" {
		if p.Within, err = retention.ParseDuration(o.within); err != nil {
			return usagef("e.g. --keep-within 90d", "--keep-within: %v", err)
		}
	}
	if o.keepDeleted != "" {
		if p.KeepDeleted, err = retention.ParseDuration(o.keepDeleted); err != nil {
			return usagef("e.g. --keep-deleted 1y", "--keep-deleted: %v", err)
		}
	}
	if err := p.Check(); err != nil {
		return usagef("counts and durations are zero or more", "%v", err)
	}
	if p.Empty() {
		return usagef("e.g. grsync forget --keep-daily 7 --keep-monthly 12 (add --dry-run to see what goes)",
			"no retention rule given: forget keeps nothing without one")
	}
	prefixes, err := absPaths(args)
	if err != nil {
		return err
	}
	mode := writeCatalog // forget changes the catalogue only: no store, no credentials
	if o.dryRun {
		mode = readCatalog
	}
	s, err := a.openSessionFor(mode)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := a.engineConfig(s)
	plan, err := engine.PlanForget(cfg, engine.ForgetOptions{Policy: p, Prefixes: prefixes, Loc: time.Local})
	if err != nil {
		return asUsage(err, "see grsync forget --help")
	}
	if a.out.JSON() {
		return a.forgetJSON(cfg, plan, p, o.dryRun, s.target.Location)
	}
	kept := 0
	for _, d := range plan.Points {
		if d.Kept() {
			kept++
		}
	}
	a.printf("rules: %s\n", p)
	a.printf("points in time: %d, kept %d\n", len(plan.Points), kept)
	for _, d := range plan.Points {
		why := "forget"
		if d.Kept() {
			why = "keep (" + strings.Join(d.Reasons, ", ") + ")"
		}
		a.printf("  %s  %s\n", d.Point.Local().Format(time.DateTime), why)
	}
	versions, tombs := 0, 0
	for _, r := range plan.Forget {
		if r.Deleted {
			tombs++
		} else {
			versions++
		}
	}
	verb := "forgot"
	if o.dryRun {
		verb = "would forget"
	}
	a.printf("%s %s of %s (%s kept)%s\n", verb, countOf(versions, "version"), countOf(plan.Paths, "path"),
		countOf(plan.Kept, "version"), deletionNote(tombs))
	if o.dryRun || o.verbose {
		for _, r := range plan.Forget {
			if r.Deleted {
				continue
			}
			what := ui.Bytes(r.Size)
			if r.Kind != catalog.KindFile {
				what = r.Kind.String()
			}
			a.printf("  %s  %9s  %q\n", r.At.Local().Format(time.DateTime), what, r.Path)
		}
	}
	if o.dryRun {
		a.printf("dry run: nothing was changed\n")
		return nil
	}
	if err := engine.ApplyForget(cfg, plan); err != nil {
		return err
	}
	if versions > 0 {
		a.printf("run grsync prune to delete what only the forgotten versions used\n")
	}
	return nil
}

// forgetJSON is forget with --json: a forget_version line for each
// version forgotten (or that would be), then the summary, once the
// catalogue is changed.
func (a *app) forgetJSON(cfg *engine.Config, plan *engine.ForgetPlan, p retention.Policy, dryRun bool, target string) error {
	sum := forgetSummary{Command: "forget", Target: target, DryRun: dryRun, Rules: p.String(),
		Points: []forgetPoint{}, Paths: plan.Paths, Kept: plan.Kept}
	for _, d := range plan.Points {
		sum.Points = append(sum.Points, forgetPoint{Time: d.Point, Kept: d.Kept(), Reasons: append([]string{}, d.Reasons...)})
		if d.Kept() {
			sum.KeptPoints++
		}
	}
	for _, r := range plan.Forget {
		if r.Deleted {
			sum.DeletionRecords++
		} else {
			sum.Forgotten++
		}
	}
	if !dryRun {
		if err := engine.ApplyForget(cfg, plan); err != nil {
			return err
		}
	}
	for _, r := range plan.Forget {
		kind := r.Kind.String()
		if r.Deleted {
			kind = "deletion"
		}
		a.out.Result(forgetVersion{Path: ui.NewPath(r.Path), Time: r.At, Size: r.Size, Kind: kind})
	}
	a.out.Summary(sum)
	return nil
}

// forgetSummary is what forget did, or would do (JSON "summary").
type forgetSummary struct {
	Command         string        `json:"command"`
	Target          string        `json:"target"`
	DryRun          bool          `json:"dry_run"`
	Rules           string        `json:"rules"`
	Points          []forgetPoint `json:"points"` // newest first
	KeptPoints      int           `json:"kept_points"`
	Forgotten       int           `json:"forgotten"`        // versions
	DeletionRecords int           `json:"deletion_records"` // records of deletions nothing kept needs
	Paths           int           `json:"paths"`            // paths looked at
	Kept            int           `json:"kept"`             // versions kept
}

type forgetPoint struct {
	Time    time.Time `json:"time"`
	Kept    bool      `json:"kept"`
	Reasons []string  `json:"reasons"`
}

func (forgetSummary) MessageType() string { return "summary" }

// WriteText gives the summary line (forget's text output is printed by
// runForget itself).
func (f forgetSummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "forgot %s of %s (%s kept)%s\n", countOf(f.Forgotten, "version"), countOf(f.Paths, "path"),
		countOf(f.Kept, "version"), deletionNote(f.DeletionRecords))
}

// forgetVersion is a version forget forgot, or would (JSON
// "forget_version").
type forgetVersion struct {
	ui.Path
	Time time.Time `json:"time"`
	Size int64     `json:"size"`
	Kind string    `json:"kind"` // file, folder, symlink; deletion for the record of a deletion
}

func (forgetVersion) MessageType() string { return "forget_version" }

func (v forgetVersion) WriteText(w io.Writer) {
	fmt.Fprintf(w, "  %s  %9s  %s\n", v.Time.Local().Format(time.DateTime), ui.Bytes(v.Size), ui.Name(v.Path.Path))
}

func deletionNote(tombs int) string {
	if tombs == 0 {
		return ""
	}
	return fmt.Sprintf(", and %s of deletions nothing kept needs", countOf(tombs, "record"))
}

// countOf is "1 version", "2 versions".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
