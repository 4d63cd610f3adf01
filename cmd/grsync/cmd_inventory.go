package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/engine"
)

type inventoryOptions struct {
	rebuild bool
	wait    bool
	poll    time.Duration
}

// checkPoll refuses a --poll interval that is not positive.
func checkPoll(d time.Duration) error {
	if d <= 0 {
		return usagef("give a positive interval, e.g. --poll 30s or --poll 5m", "invalid --poll %s", d)
	}
	return nil
}

func (o *inventoryOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait for the store's inventory job to complete")
	cmd.Flags().DurationVar(&o.poll, "poll", 30*time.Second, "first interval between checks when waiting (grows to 15m)")
}

// listing opens the session and fetches the store's listing (waiting with
// --wait). While the store is still preparing it, it reports so, sets exit
// code 3 and returns a nil session.
func (a *app) listing(cmd *cobra.Command, o *inventoryOptions) (*session, *engine.Config, engine.Listing, error) {
	if err := checkPoll(o.poll); err != nil {
		return nil, nil, engine.Listing{}, err
	}
	s, err := a.openSession(false)
	if err != nil {
		return nil, nil, engine.Listing{}, err
	}
	cfg := a.engineConfig(s)
	l, err := engine.FetchInventory(cmd.Context(), cfg, o.wait, o.poll, a.stop)
	if err != nil {
		s.Close()
		return nil, nil, l, err
	}
	if l.Pending {
		a.printf("the inventory of %s is being prepared (job %s); run the same command again later, or add --wait\n", s.target.Location, l.Job.JobID)
		a.exitCode = exitPending
		s.Close()
		return nil, nil, l, nil
	}
	return s, cfg, l, nil
}

func (a *app) inventoryCommand() *cobra.Command {
	o := &inventoryOptions{}
	cmd := &cobra.Command{
		Use:   "inventory [--rebuild] [--wait]",
		Short: "Fetch the store's list of archives; --rebuild a lost catalogue from it",
		Long: `Fetch the target's own list of archives. On a local store the list is read at
once; a Glacier vault prepares it in a retrieval job (hours; the vault refreshes
its inventory about once a day), which grsync records and reuses on the next run.

With --rebuild, every file version described by the archives (grsync's own
encrypted metadata, and the Python glacier-rsync "grsync|path|size|mtime|desc"
descriptions) that the catalogue does not know yet is added to it. After that,
restore works and sync skips unchanged files. The key is needed to read the
metadata of encrypted backups.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, cfg, l, err := a.listing(cmd, o)
			if s == nil || err != nil {
				return err
			}
			defer s.Close()
			a.printf("inventory of %s taken %s: %d archives\n", s.target.Location, l.Date.Local().Format(time.DateTime), len(l.Archives))
			if !o.rebuild {
				return nil
			}
			res, err := engine.Rebuild(cmd.Context(), cfg, l)
			if err != nil {
				return err
			}
			d := res.Decoded
			a.printf("rebuilt the catalogue %s: %d file versions added (%d from version records, %d from pack indexes, %d from the Python tool), %d already known, %d metadata pieces, %d archives not made by grsync\n",
				a.g.db, res.Added, res.Records.Stats.Versions, res.FromPacks, res.Legacy, res.AlreadyKnown, len(d.Continuations), len(d.Unknown))
			if res.Records.Waiting > 0 || res.PacksWaiting > 0 {
				a.printf("  %d records objects and %d packs need a retrieval before they can be read\n", res.Records.Waiting, res.PacksWaiting)
				a.exitCode = exitPartial
			}
			if len(d.Problems) > 0 {
				a.printf("  %d archives could not be read:\n", len(d.Problems))
				a.printFailures(d.Problems)
				a.exitCode = exitPartial
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.rebuild, "rebuild", false, "add what the archives describe to the catalogue")
	o.addFlags(cmd)
	return cmd
}

func (a *app) verifyCommand() *cobra.Command {
	o := &inventoryOptions{}
	cmd := &cobra.Command{
		Use:   "verify [--wait]",
		Short: "Check the catalogue against the store's list of archives",
		Long: `Compare the catalogue with the target's latest inventory: archives the catalogue
records that the store does not hold (missing), and archives the store holds that
the catalogue does not know (unknown). Archives recorded after the inventory was
taken are not counted as missing. Exit code 0 only when both agree.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, cfg, l, err := a.listing(cmd, o)
			if s == nil || err != nil {
				return err
			}
			defer s.Close()
			res, err := engine.Verify(cmd.Context(), cfg, l)
			if err != nil {
				return err
			}
			a.printf("verify %s against its inventory of %s: %d archives checked, %d missing, %d unknown, %d with another size, %d too recent to be listed\n",
				s.target.Location, l.Date.Local().Format(time.DateTime), res.Checked, len(res.Missing), len(res.Unknown), len(res.SizeDiff), res.Recent)
			if res.Removed > 0 {
				a.printf("  removed %d archives left by interrupted uploads (never recorded; their files were uploaded again)\n", res.Removed)
			}
			for _, id := range res.Missing {
				a.printf("  missing from the store: %s\n", id)
			}
			for _, id := range res.Unknown {
				a.printf("  unknown to the catalogue: %s\n", id)
			}
			for _, id := range res.SizeDiff {
				a.printf("  size differs: %s\n", id)
			}
			if !res.OK() {
				a.exitCode = exitPartial
			}
			return nil
		},
	}
	o.addFlags(cmd)
	return cmd
}
