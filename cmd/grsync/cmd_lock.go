package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

func (a *app) lockCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Extend the S3 Object Lock of what the kept versions need",
		Long: `On a target whose objects are locked (S3 Object Lock, chosen with --object-lock
by its first sync), every sync extends, before they run out, the locks of the
objects that kept versions need and of the version records: each lock that ends
within 30 days is moved to now + the lock duration (--lock-days, by default the
storage class's minimum + 30 days). "grsync lock extend" does only that, for a
cron job on a machine that syncs rarely. Objects no kept version needs are not
extended, so that prune can delete them once their lock ends.

Each extension is one HEAD and one PutObjectRetention request: the summary says
what they cost before they are sent (packs keep their number small). A lock is
never shortened.`,
	}
	var dryRun bool
	extend := &cobra.Command{
		Use:   "extend [--dry-run]",
		Short: "Extend the locks that end within 30 days",
		Long: `Extend to now + the lock duration the Object Lock of each object that a kept
version needs (and of each version records object) whose lock ends within 30
days, and record the new dates in the catalogue. --dry-run counts and prices the
extensions and sends nothing. On a target without a lock there is nothing to do.`,
		Example: `  grsync lock extend --db ~/glacier.db
  grsync lock extend --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openSessionFor(writeStore)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg := a.engineConfig(s)
			res, err := engine.ExtendLocks(cmd.Context(), cfg, engine.LockOptions{DryRun: dryRun})
			if err != nil {
				return err
			}
			a.out.Summary(lockSummary{Command: "lock extend", Target: s.target.Location, DryRun: dryRun, Locks: newLockJSON(res)})
			a.reportLockFailures(res)
			return nil
		},
	}
	extend.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "count and price the extensions; send nothing")
	cmd.AddCommand(extend)
	return cmd
}

// reportLockFailures logs failed extensions when the summary is not
// printed (--quiet), and makes them the exit code: a lock that is not
// extended runs out.
func (a *app) reportLockFailures(res engine.LockResult) {
	if len(res.Failures) == 0 {
		return
	}
	if a.g.quiet && !a.g.json {
		for _, f := range res.Failures {
			a.log.Error("object lock not extended", "what", f.Path, "err", f.Err)
		}
	}
	a.exitCode = exitPartial
}

// lockJSON is what a run did to keep a target's Object Locks from running
// out (JSON "locks" of the sync and lock extend summaries).
type lockJSON struct {
	Mode string `json:"mode"` // GOVERNANCE or COMPLIANCE
	// Due: locks that end within 30 days (or are not recorded), each one
	// PutObjectRetention and one HEAD; Cost prices them (US dollars, a
	// decimal string), before any is sent.
	Due      int           `json:"due"`
	Cost     string        `json:"cost_usd"`
	Until    time.Time     `json:"until"` // the new retain-until date asked for
	Extended int           `json:"extended"`
	Failed   int           `json:"failed"`
	Failures []failureJSON `json:"failures"`
	res      engine.LockResult
}

// newLockJSON returns nil for a target without a lock.
func newLockJSON(r engine.LockResult) *lockJSON {
	if r.Mode == "" {
		return nil
	}
	return &lockJSON{Mode: string(r.Mode), Due: r.Due, Cost: r.Cost.Total.Decimal(), Until: r.Until.UTC().Truncate(time.Second),
		Extended: r.Extended, Failed: len(r.Failures), Failures: failuresJSON(r.Failures), res: r}
}

// writeText says in one line (and a line per failure) what was extended,
// at what price.
func (l *lockJSON) writeText(w io.Writer, label string, dryRun bool) {
	if l == nil {
		return
	}
	r := l.res
	mode := "object lock " + strings.ToLower(string(r.Mode))
	switch {
	case r.Due == 0:
		fmt.Fprintf(w, "%s%s: no lock of what the kept versions need ends within 30 days\n", label, mode)
	case dryRun:
		fmt.Fprintf(w, "%s%s: %s, to extend to %s (%s: one PutObjectRetention and one HEAD each); nothing was sent\n",
			label, r.Cost.Total, ui.Count(r.Due, "lock")+" ending within 30 days", r.Until.Format(time.DateOnly), mode)
	default:
		fmt.Fprintf(w, "%s%s: extended %s to %s (%s: one PutObjectRetention and one HEAD each)",
			label, r.Cost.Total, ui.Count(r.Extended, "lock"), r.Until.Format(time.DateOnly), mode)
		if len(r.Failures) > 0 {
			fmt.Fprintf(w, "; %d not extended:", r.Due-r.Extended)
		}
		fmt.Fprintln(w)
		writeFailures(w, r.Failures)
	}
}

// lockSummary is the summary of lock extend (JSON "summary").
type lockSummary struct {
	Command string    `json:"command"` // "lock extend"
	Target  string    `json:"target"`
	DryRun  bool      `json:"dry_run"`
	Locks   *lockJSON `json:"locks"` // null when the target has no lock
}

func (lockSummary) MessageType() string { return "summary" }

func (r lockSummary) WriteText(w io.Writer) {
	if r.Locks == nil {
		fmt.Fprintf(w, "%s has no object lock: nothing to extend\n", r.Target)
		return
	}
	fmt.Fprintf(w, "locks of %s\n", r.Target)
	r.Locks.writeText(w, "  ", r.DryRun)
}

// undeletedJSON is an object a sync stored, could not use and could not
// delete (JSON "not_deleted" of the sync summary).
type undeletedJSON struct {
	ID          string    `json:"archive"`
	Size        int64     `json:"size"`
	Locked      bool      `json:"locked"`                // its Object Lock refused; else the credentials
	LockedUntil time.Time `json:"locked_until,omitzero"` // when Locked
}

func undeletedList(us []engine.Undeleted) []undeletedJSON {
	var out []undeletedJSON
	for _, u := range us {
		j := undeletedJSON{ID: u.ArchiveID, Size: u.Size, Locked: u.Locked}
		if u.Locked {
			j.LockedUntil = u.Until
		}
		out = append(out, j)
	}
	return out
}

// writeUndeleted says in one line what a sync could not delete and what
// to run where deleting is allowed.
func writeUndeleted(w io.Writer, label string, us []undeletedJSON) {
	var denied, locked int
	var size int64
	var until time.Time
	for _, u := range us {
		size += u.Size
		if u.Locked {
			locked++
			if u.LockedUntil.After(until) {
				until = u.LockedUntil
			}
		} else {
			denied++
		}
	}
	switch {
	case denied > 0:
		fmt.Fprintf(w, "%s%s (%s) of failed uploads: the credentials may not delete (append-only); recorded as unneeded, for grsync prune run where deleting is allowed\n",
			label, ui.Count(len(us), "object"), ui.Bytes(size))
	case locked > 0:
		fmt.Fprintf(w, "%s%s (%s) of failed uploads: locked until %s; recorded as unneeded, for grsync prune once the lock ends\n",
			label, ui.Count(len(us), "object"), ui.Bytes(size), until.UTC().Format(time.DateOnly))
	}
}
