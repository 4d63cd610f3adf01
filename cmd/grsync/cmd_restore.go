package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/ui"
)

type restoreOptions struct {
	output    string
	inPlace   bool
	at        string
	overwrite bool
	noOwner   bool
	dryRun    bool
	tier      string
	days      int
	wait      bool
	poll      time.Duration
	costs     costOptions
}

func (a *app) restoreCommand() *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore [flags] [PATH-or-PREFIX...]",
		Short: "Get files back from the target",
		Long: `Restore the latest version (or the version current at --at) of each selected
file; all files when no PATH is given. A PATH selects that file or everything
under that folder (absolute, or relative to the current folder).

Files are written under --output DIR (a folder; created if missing) with their
full original path below it: /home/alice/docs/a.txt is restored to
DIR/home/alice/docs/a.txt. Below DIR no symlink is followed: a symlinked folder
in the way fails its files, or is replaced by a folder with --overwrite. With
--in-place they are written to their original paths instead. An existing file is
never replaced unless --overwrite is given. A selection that matches nothing
says why and exits 2.

Every archive is verified (its tree hash, its authentication, the content hash
recorded in the catalogue) before the file appears under its name; then its
modification time and mode are set. Files that were hard links to one another
are restored as hard links. Symlinks are restored as symlinks (never followed;
an existing one is kept unless --overwrite), then folders, empty ones too, get
their mode and modification time, the deepest first. Run as root, restore also
gives files, folders and symlinks their owner and group (--no-owner: leave them
to root); as another user it leaves them, as tar and rsync do. Cold-storage archives are requested first
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
	f.StringVar(&o.at, "at", "", "restore the versions current at TIME (2024-03-16: the end of that day, local time; 2024-03-16T12:00:00; RFC 3339)")
	f.BoolVar(&o.overwrite, "overwrite", false, "replace existing files and symlinks")
	f.BoolVar(&o.noOwner, "no-owner", false, "as root, do not give restored files their recorded owner and group")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would be restored and requested; change nothing")
	f.StringVar(&o.tier, "tier", "", "retrieval tier: Expedited, Standard (default) or Bulk")
	f.IntVar(&o.days, "days", 0, "S3 restores: days the thawed copy stays available (default 7)")
	f.BoolVar(&o.wait, "wait", false, "wait for cold-storage retrievals to complete, then download")
	f.DurationVar(&o.poll, "poll", 30*time.Second, "first interval between checks when waiting (grows to 15m)")
	o.costs.addFlags(f, true)
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

// noEmptyArgs refuses an empty argument: "" is what an unset variable in
// a script or cron line gives, and read as the current folder it would
// back up or select the wrong thing.
func noEmptyArgs(args []string, what string) error {
	for _, a := range args {
		if a == "" {
			return usagef("an unset variable (e.g. \"$SRC\" in a script or cron line) gives an empty argument; name the file or folder",
				"empty %s (\"\") on the command line; nothing was done", what)
		}
	}
	return nil
}

func absPaths(args []string) ([]string, error) {
	if err := noEmptyArgs(args, "PATH"); err != nil {
		return nil, err
	}
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
	prices, err := o.costs.load()
	if err != nil {
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
		if err := checkOutputFolder(o.output, out); err != nil {
			return err
		}
	}
	// Restore never creates a store or a target, nor makes the target the
	// catalogue's default; a dry run reads the catalogue only.
	mode := readStore
	if o.dryRun {
		mode = readCatalog
	}
	s, err := a.openSessionFor(mode)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := a.checkStore(s, engine.StoreUse{NeedKey: true, Look: true}); err != nil {
		return err
	}
	if s.target.Encrypted && s.key == nil && !o.dryRun {
		return usagef("give the key with --encryption-key-file FILE", "the backups in %s are encrypted and no key was given", s.target.Location)
	}
	cfg := a.engineConfig(s)
	ropt := engine.RestoreOptions{Prefixes: prefixes, At: at, Output: out, InPlace: o.inPlace,
		Overwrite: o.overwrite, NoOwner: o.noOwner, Tier: tier, Days: o.days, Wait: o.wait, Poll: o.poll, PollMax: 15 * time.Minute, Stop: a.stop}
	plan, err := engine.PlanRestore(cfg, ropt)
	if err != nil {
		return err
	}
	if plan.Files == 0 && plan.Folders == 0 && plan.Symlinks == 0 && len(plan.Existing) == 0 && len(plan.Unsafe) == 0 {
		return a.explainEmpty(cfg, ropt, o.at, s.target.Location)
	}
	p := restorePlan{Target: s.target.Location, Files: plan.Files, Folders: plan.Folders, Symlinks: plan.Symlinks,
		Archives: len(plan.Items), Whole: len(plan.Items) - plan.Ranged, Ranged: plan.Ranged,
		Bytes: plan.Bytes, Restored: plan.Restored, PerGiB: plan.PerGiB(),
		Existing: len(plan.Existing), Unsafe: len(plan.Unsafe), DryRun: o.dryRun}
	if w := expectedWait(s.target.Location, tier); w != "" {
		p.Tier, p.ExpectedWait = string(tierName(tier)), w
	}
	est, err := engine.RestoreCost(cfg, plan, prices, tier, o.days)
	if err != nil {
		return usagef("choose another --tier", "%v", err)
	}
	p.Priced, p.Reused, p.estimate = est.Priced, est.Reused, est.Estimate
	if est.Priced {
		e := newEstimateJSON(est.Estimate)
		p.Estimate, p.Disclaimer = &e, prices.Disclaimer()
	}
	a.out.Summary(p)
	if err := o.costs.check("restore", est.Total); err != nil {
		return err
	}
	if o.dryRun {
		for _, f := range plan.Listing() {
			a.out.Result(wouldRestore{Path: ui.NewPath(f.Dest), Kind: f.Kind.String(), linkJSON: newLinkJSON(f.Kind, f.Link), Objects: f.Objects})
		}
		a.out.Summary(restoreSummary{Command: "restore", DryRun: true, Target: s.target.Location,
			Existing: len(plan.Existing), Failures: []failureJSON{}})
		return nil
	}
	prog := a.progress("restore", "restoring")
	cfg.Observer = prog
	start := time.Now()
	res, err := engine.Restore(cmd.Context(), cfg, ropt, plan)
	prog.Finish()
	if err != nil {
		return err
	}
	a.out.Summary(restoreSummary{Command: "restore", Target: s.target.Location, Restored: res.Restored,
		Linked: res.Linked, Folders: res.Folders, Symlinks: res.Symlinks,
		RestoredBytes: res.Bytes, Existing: res.Existing, Failed: len(res.Failures), Failures: failuresJSON(res.Failures),
		PendingFiles: res.Pending, PendingArchives: res.PendingArch, Interrupted: res.Interrupted,
		DurationSeconds: seconds(time.Since(start)), took: time.Since(start), failures: res.Failures})
	switch {
	case len(res.Failures) > 0:
		a.exitCode = exitPartial
	case res.Pending > 0:
		a.exitCode = exitPending
	case res.Interrupted:
		a.exitCode = exitPartial
	}
	return nil
}

// restorePlan is what a restore will do, printed before it starts (JSON
// "restore_plan").
type restorePlan struct {
	Target       string  `json:"target"`
	Files        int     `json:"files"`
	Folders      int     `json:"folders"`
	Symlinks     int     `json:"symlinks"`
	Archives     int     `json:"archives"`
	Whole        int     `json:"whole_objects"`  // of them, retrieved whole
	Ranged       int     `json:"ranged_objects"` // of them, retrieved by byte range (vault jobs)
	Bytes        int64   `json:"bytes"`          // stored bytes to retrieve, ranges counted as such
	Restored     int64   `json:"restored_bytes"` // bytes of the files restored
	PerGiB       float64 `json:"objects_per_gib"`
	Tier         string  `json:"tier,omitempty"`
	ExpectedWait string  `json:"expected_wait,omitempty"`
	Existing     int     `json:"existing"` // files that exist and are kept
	Unsafe       int     `json:"unsafe"`   // files whose catalogue path is not a clean absolute path: not restored
	DryRun       bool    `json:"dry_run"`
	Priced       bool    `json:"priced"` // false: a local store, which bills nothing
	// Reused counts objects whose earlier retrieval is reused (not billed
	// again); Estimate prices the rest.
	Reused     int           `json:"reused_retrievals"`
	Estimate   *estimateJSON `json:"estimate,omitempty"`
	Disclaimer string        `json:"disclaimer,omitempty"`
	estimate   cost.Estimate
}

func (restorePlan) MessageType() string { return "restore_plan" }

func (p restorePlan) WriteText(w io.Writer) {
	objects := ui.Count(p.Archives, "object")
	if p.Ranged > 0 {
		objects += fmt.Sprintf(" (%d whole, %d by byte range)", p.Whole, p.Ranged)
	}
	fmt.Fprintf(w, "restore from %s: %s (%s) in %s, %s to retrieve", p.Target, ui.Count(p.Files, "file"), ui.Bytes(p.Restored),
		objects, ui.Bytes(p.Bytes))
	if p.Folders > 0 || p.Symlinks > 0 {
		fmt.Fprintf(w, "; %s, %s", ui.Count(p.Folders, "folder"), ui.Count(p.Symlinks, "symlink"))
	}
	if p.ExpectedWait != "" {
		fmt.Fprintf(w, ", tier %s, expected wait %s", p.Tier, p.ExpectedWait)
	}
	fmt.Fprintln(w)
	if p.Restored >= 64<<20 && p.Archives > 1 {
		fmt.Fprintf(w, "  %.1f objects per restored GiB (each is one retrieval in cold storage)\n", p.PerGiB)
	}
	if p.Existing > 0 {
		fmt.Fprintf(w, "  %s exist and will not be replaced (use --overwrite)\n", ui.Count(p.Existing, "file"))
	}
	if p.Unsafe > 0 {
		fmt.Fprintf(w, "  %s not restored: their paths in the catalogue are not clean absolute paths\n", ui.Count(p.Unsafe, "file"))
	}
	if !p.Priced {
		return
	}
	if p.Reused > 0 {
		fmt.Fprintf(w, "  %s requested earlier: reused, not paid again\n", ui.Count(p.Reused, "retrieval"))
	}
	fmt.Fprintf(w, "  estimate:\n")
	writeEstimate(w, "    ", p.estimate)
	fmt.Fprintf(w, "  %s\n", p.Disclaimer)
}

// wouldRestore is a file, folder or symlink a restore dry run would write
// (JSON "would_restore").
type wouldRestore struct {
	ui.Path           // where it would be written
	Kind     string   `json:"kind"` // file, folder or symlink
	linkJSON          // a symlink's target
	Objects  []string `json:"objects"` // the stored objects its content is read from
}

func (wouldRestore) MessageType() string { return "would_restore" }
func (f wouldRestore) WriteText(w io.Writer) {
	switch {
	case f.Kind == "symlink":
		fmt.Fprintf(w, "  would restore %s -> %s\n", ui.Name(f.Path.Path), ui.Name(f.Link))
	case f.Kind == "folder":
		fmt.Fprintf(w, "  would restore %s (folder)\n", ui.Name(f.Path.Path))
	default:
		fmt.Fprintf(w, "  would restore %s\n", ui.Name(f.Path.Path))
	}
}

// restoreSummary is how a restore went (JSON "summary").
type restoreSummary struct {
	Command         string        `json:"command"` // "restore"
	DryRun          bool          `json:"dry_run"`
	Target          string        `json:"target"`
	Restored        int           `json:"restored"` // files
	Linked          int           `json:"linked"`   // of them, hard links to another
	Folders         int           `json:"folders"`
	Symlinks        int           `json:"symlinks"`
	RestoredBytes   int64         `json:"restored_bytes"`
	Existing        int           `json:"existing"` // files that existed and were kept
	Failed          int           `json:"failed"`
	Failures        []failureJSON `json:"failures"`
	PendingFiles    int           `json:"pending_files"` // waiting on retrievals
	PendingArchives int           `json:"pending_archives"`
	Interrupted     bool          `json:"interrupted"`
	DurationSeconds float64       `json:"duration_seconds"`
	took            time.Duration
	failures        []engine.Failure
}

func (restoreSummary) MessageType() string { return "summary" }

func (r restoreSummary) WriteText(w io.Writer) {
	switch {
	case r.DryRun:
		fmt.Fprintf(w, "dry run: nothing was requested or written\n")
		return
	}
	fmt.Fprintf(w, "restored %s (%s", ui.Count(r.Restored, "file"), ui.Bytes(r.RestoredBytes))
	if r.Linked > 0 {
		fmt.Fprintf(w, "; %d as hard links", r.Linked)
	}
	fmt.Fprintf(w, ")")
	if r.Folders > 0 || r.Symlinks > 0 {
		fmt.Fprintf(w, ", %s, %s", ui.Count(r.Folders, "folder"), ui.Count(r.Symlinks, "symlink"))
	}
	fmt.Fprintf(w, " in %s", r.took.Round(time.Millisecond))
	if r.Existing > 0 {
		fmt.Fprintf(w, "; %s kept", ui.Count(r.Existing, "existing file"))
	}
	if r.Interrupted {
		fmt.Fprintf(w, "; interrupted (run it again to finish)")
	}
	fmt.Fprintln(w)
	if r.Failed > 0 {
		fmt.Fprintf(w, "  failed %s:\n", ui.Count(r.Failed, "file"))
		writeFailures(w, r.failures)
	}
	if r.PendingFiles > 0 && r.Failed == 0 {
		fmt.Fprintf(w, "  waiting for %s (%s) to be retrieved; run the same command again later, or add --wait\n",
			ui.Count(r.PendingArchives, "archive"), ui.Count(r.PendingFiles, "file"))
	}
}

// checkOutputFolder refuses an --output that cannot be a folder (an
// existing file, or a path through one) before anything is requested: on
// cold storage the retrievals would already be paid for.
func checkOutputFolder(given, abs string) error {
	fi, err := os.Stat(abs)
	switch {
	case err == nil && !fi.IsDir():
		return usagef("give a folder for --output (it is created if missing); the file was not changed",
			"--output %s is not a folder: it is an existing file", given)
	case errors.Is(err, syscall.ENOTDIR):
		return usagef("give a folder for --output (it is created if missing)",
			"--output %s is not a folder: a part of its path is a file", given)
	}
	return nil
}

// explainEmpty turns a restore that selected nothing into a usage error
// saying why: no such path, nothing backed up by --at, only deleted files,
// or no files at all.
func (a *app) explainEmpty(cfg *engine.Config, opt engine.RestoreOptions, atFlag, location string) error {
	e, err := engine.WhyEmpty(cfg, opt)
	if err != nil {
		return err
	}
	const utc = "2006-01-02 15:04:05 UTC"
	switch {
	case len(e.NoSuchPath) > 0:
		return usagef("see what the catalogue holds with: grsync ls (and grsync ls --deleted)",
			"nothing in the catalogue matches %s: no such path was backed up to %s", strings.Join(e.NoSuchPath, ", "), location)
	case e.NoFiles:
		return usagef("back something up first, or check --db and the target flags",
			"the catalogue %s has no files for %s", a.g.db, location)
	case e.TooEarly:
		meaning := ""
		if len(atFlag) == len("2006-01-02") {
			meaning = "; a date alone means the end of that day, local time"
		}
		at := opt.At.UTC().Format(utc)
		if local := opt.At.Local().Format("2006-01-02 15:04:05 MST"); local != at {
			at = local + " (" + at + ")"
		}
		return usagef(fmt.Sprintf("first backup: %s, last backup: %s; give a later --at, or leave it out for the latest versions",
			e.Span.First.Format(utc), e.Span.Last.Format(utc)),
			"nothing was backed up by %s%s", at, meaning)
	}
	when := "now"
	if !opt.At.IsZero() {
		when = opt.At.UTC().Format(utc)
	}
	return usagef("list deleted files with: grsync ls --deleted; restore a version from before the deletion with --at TIME",
		"every selected file (%d) had been deleted from the source by %s", e.Deleted, when)
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

// linkJSON is a symlink's target text in a JSON message: "link" holds it
// as a string; a target that is not valid UTF-8 has its exact bytes in
// "link_bytes" (base64), as paths have in "path_bytes".
type linkJSON struct {
	Link      string `json:"link,omitempty"`
	LinkBytes []byte `json:"link_bytes,omitempty"`
}

func newLinkJSON(kind catalog.EntryKind, target string) linkJSON {
	if kind != catalog.KindSymlink {
		return linkJSON{}
	}
	p := ui.NewPath(target)
	return linkJSON{Link: p.Path, LinkBytes: p.PathBytes}
}
