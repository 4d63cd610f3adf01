package main

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/ui"
)

type restoreOptions struct {
	output    string
	inPlace   bool
	at        string
	overwrite bool
	dryRun    bool
	tier      string
	days      int
	wait      bool
	poll      time.Duration
}

func (a *app) restoreCommand() *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore [flags] [PATH-or-PREFIX...]",
		Short: "Get files back from the target",
		Long: `Restore the latest version (or the version current at --at) of each selected
file; all files when no PATH is given. A PATH selects that file or everything
under that folder (absolute, or relative to the current folder).

Files are written under --output DIR with their full original path below it:
/home/alice/docs/a.txt is restored to DIR/home/alice/docs/a.txt. With
--in-place they are written to their original paths instead. An existing file is
never replaced unless --overwrite is given.

Every archive is verified (its tree hash, its authentication, the content hash
recorded in the catalogue) before the file appears under its name; then its
modification time and mode are set. Cold-storage archives are requested first
(--tier); without --wait grsync reports what is pending and exits with code 3, and
running the same command later reuses the requests instead of paying again.`,
		Example: `  grsync restore --output /tmp/restored
  grsync restore --output /tmp/restored --at 2024-03-16 /home/alice/docs
  grsync restore --in-place --overwrite /home/alice/docs/report.txt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRestore(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "folder to restore under (original paths are recreated below it)")
	f.BoolVar(&o.inPlace, "in-place", false, "restore to the original paths instead of under --output")
	f.StringVar(&o.at, "at", "", "restore the versions current at TIME (2024-03-16, 2024-03-16T12:00:00, RFC 3339)")
	f.BoolVar(&o.overwrite, "overwrite", false, "replace existing files")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would be restored and requested; change nothing")
	f.StringVar(&o.tier, "tier", "", "retrieval tier: Expedited, Standard (default) or Bulk")
	f.IntVar(&o.days, "days", 0, "S3 restores: days the thawed copy stays available (default 7)")
	f.BoolVar(&o.wait, "wait", false, "wait for cold-storage retrievals to complete, then download")
	f.DurationVar(&o.poll, "poll", 30*time.Second, "first interval between checks when waiting (grows to 15m)")
	return cmd
}

// parseAt reads a --at time: RFC 3339, or a date or date-time in local time.
func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			if layout == "2006-01-02" {
				t = t.Add(24*time.Hour - time.Nanosecond) // the whole day
			}
			return t, nil
		}
	}
	return time.Time{}, usagef("use e.g. 2024-03-16, 2024-03-16T12:00:00 or 2024-03-16T12:00:00Z", "invalid --at %q", s)
}

func parseTier(s string) (store.Tier, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "expedited":
		return store.TierExpedited, nil
	case "standard":
		return store.TierStandard, nil
	case "bulk":
		return store.TierBulk, nil
	}
	return "", usagef("use Expedited, Standard or Bulk", "invalid --tier %q", s)
}

func absPaths(args []string) ([]string, error) {
	var out []string
	for _, p := range args {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, asUsage(err, "check the path")
		}
		out = append(out, filepath.Clean(abs))
	}
	return out, nil
}

func (a *app) runRestore(cmd *cobra.Command, o *restoreOptions, args []string) error {
	at, err := parseAt(o.at)
	if err != nil {
		return err
	}
	tier, err := parseTier(o.tier)
	if err != nil {
		return err
	}
	if o.output == "" && !o.inPlace {
		return usagef("add --output DIR (files are recreated below it) or --in-place (original paths)", "no destination for the restored files")
	}
	if o.output != "" && o.inPlace {
		return usagef("choose one", "--output and --in-place both given")
	}
	if o.days < 0 {
		return usagef("use a positive number of days", "invalid --days %d", o.days)
	}
	if err := checkPoll(o.poll); err != nil {
		return err
	}
	prefixes, err := absPaths(args)
	if err != nil {
		return err
	}
	out := ""
	if o.output != "" {
		if out, err = filepath.Abs(o.output); err != nil {
			return asUsage(err, "check the --output path")
		}
	}
	s, err := a.openSession(o.dryRun)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.target.Encrypted && s.key == nil {
		return usagef("give the key with --encryption-key-file FILE", "the backups in %s are encrypted and no key was given", s.target.Location)
	}
	cfg := a.engineConfig(s)
	ropt := engine.RestoreOptions{Prefixes: prefixes, At: at, Output: out, InPlace: o.inPlace,
		Overwrite: o.overwrite, Tier: tier, Days: o.days, Wait: o.wait, Poll: o.poll, PollMax: 15 * time.Minute, Stop: a.stop}
	plan, err := engine.PlanRestore(cfg, ropt)
	if err != nil {
		return err
	}
	if plan.Files == 0 && len(plan.Existing) == 0 {
		if len(prefixes) > 0 {
			return usagef("see what the catalogue holds with: grsync ls", "nothing in the catalogue matches %s", strings.Join(args, ", "))
		}
		a.printf("nothing to restore: the catalogue has no files for %s\n", s.target.Location)
		return nil
	}
	a.printf("restore from %s: %d files in %d objects, %s to retrieve", s.target.Location, plan.Files, len(plan.Items), ui.Bytes(plan.Bytes))
	if w := expectedWait(s.target.Location, tier); w != "" {
		a.printf(", tier %s, expected wait %s", tierName(tier), w)
	}
	a.printf("\n")
	if len(plan.Existing) > 0 {
		a.printf("  %d files exist and will not be replaced (use --overwrite)\n", len(plan.Existing))
	}
	if o.dryRun {
		for _, d := range plan.Dests() {
			a.printf("  would restore %s\n", d)
		}
		a.printf("dry run: nothing was requested or written\n")
		return nil
	}
	prog := a.progress("restoring")
	cfg.Observer = prog
	start := time.Now()
	res, err := engine.Restore(cmd.Context(), cfg, ropt, plan)
	prog.Finish()
	if err != nil {
		return err
	}
	a.printf("restored %d files (%s) in %s", res.Restored, ui.Bytes(res.Bytes), time.Since(start).Round(time.Millisecond))
	if res.Existing > 0 {
		a.printf("; %d existing files kept", res.Existing)
	}
	a.printf("\n")
	if len(res.Failures) > 0 {
		a.printf("  failed %d files:\n", len(res.Failures))
		a.printFailures(res.Failures)
		a.exitCode = exitPartial
		return nil
	}
	if res.Pending > 0 {
		a.printf("  waiting for %d archives (%d files) to be retrieved; run the same command again later, or add --wait\n", res.PendingArch, res.Pending)
		a.exitCode = exitPending
	}
	if res.Interrupted {
		a.exitCode = exitPartial
	}
	return nil
}

func tierName(t store.Tier) string {
	if t == "" {
		return string(store.TierStandard)
	}
	return string(t)
}

// expectedWait is what the providers document for each tier.
func expectedWait(location string, t store.Tier) string {
	switch {
	case strings.HasPrefix(location, "glacier:"):
		return map[store.Tier]string{store.TierExpedited: "1-5 minutes", store.TierStandard: "3-5 hours", store.TierBulk: "5-12 hours", "": "3-5 hours"}[t]
	case strings.HasPrefix(location, "s3:"):
		return map[store.Tier]string{store.TierExpedited: "1-5 minutes (not for DEEP_ARCHIVE)", store.TierStandard: "3-5 hours (12 hours for DEEP_ARCHIVE)", store.TierBulk: "5-12 hours (48 hours for DEEP_ARCHIVE)", "": "3-5 hours (12 hours for DEEP_ARCHIVE)"}[t]
	}
	return ""
}
