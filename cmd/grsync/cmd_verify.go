package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

type readDataOptions struct {
	on     bool
	sample float64
	tier   string
	days   int
	costs  costOptions
	seed   uint64
}

func (a *app) verifyCommand() *cobra.Command {
	o := &inventoryOptions{}
	rd := &readDataOptions{seed: rand.Uint64()}
	var lockWarnDays int
	cmd := &cobra.Command{
		Use:   "verify [--wait] [--read-data [--sample PERCENT]]",
		Short: "Check the catalogue against the store's list of archives",
		Long: `Compare the catalogue with the target's latest inventory: archives the catalogue
records that the store does not hold (missing) or holds with another size, and
archives the store holds that the catalogue does not know (unknown) or that an
interrupted run stored without recording them. Archives recorded after the
inventory was taken are not counted as missing. verify never deletes anything.
Exit code 0 only when both agree.

On a target with an S3 Object Lock, verify also reports the objects the store
holds without a lock, and the objects kept versions need whose lock ends within
--lock-warn-days (the next sync, or grsync lock extend, extends a lock that ends
within 30 days). An object without a lock, or a needed one whose lock has ended,
makes the exit code 1; a lock ending soon is a warning.

With --read-data, every archive and pack the catalogue records (or a random
--sample PERCENT of them) is also read back as restore would read it, writing
nothing: its tree hash, its decryption and authentication, its size and content
hash. Each damaged archive is named with the files it holds; exit code 1. The
key is needed for encrypted backups. On a cold store every object read is a
retrieval: the plan (objects, bytes, tier, expected wait, estimate in US
dollars) is printed before anything is requested, --max-cost refuses it, and
without --wait verify exits 3 once it has requested them; run it again later to
read what is ready (requests are reused, never paid twice).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lockWarnDays < 0 {
				return usagef("give --lock-warn-days as a number of days, e.g. 30", "invalid --lock-warn-days %d", lockWarnDays)
			}
			if rd.on {
				if err := a.checkReadData(rd); err != nil {
					return err
				}
			}
			s, cfg, l, err := a.listing(cmd, o, readStore, engine.StoreUse{Look: true})
			if s == nil || err != nil {
				return err
			}
			defer s.Close()
			res, err := engine.Verify(cmd.Context(), cfg, l)
			if err != nil {
				return err
			}
			locks, err := engine.VerifyLocks(cfg, l, time.Duration(lockWarnDays)*24*time.Hour)
			if err != nil {
				return err
			}
			copies, err := engine.CatalogueCopiesOf(cfg)
			if err != nil {
				return err
			}
			if u := copies.Uncovered; u.Any() {
				a.log.Warn("the catalogue has changes that no snapshot or version records in the store hold; run grsync catalogue push",
					"versions", u.Versions, "objects", u.Objects, "forgotten", u.Generation)
			}
			sum := verifySummary{Command: "verify", Target: s.target.Location, InventoryDate: l.Date, Checked: res.Checked,
				Catalogue: newCatalogueJSON(copies, a.now()),
				Missing:   nonNil(res.Missing), Unknown: nonNil(res.Unknown), SizeDiffers: nonNil(res.SizeDiff),
				Interrupted: leftoversJSON(res.Interrupted), Recent: res.Recent, Locks: newVerifyLocks(locks, lockWarnDays),
				OK: res.OK() && locks.OK()}
			a.out.Summary(sum)
			if !sum.OK {
				if a.g.quiet && !a.g.json {
					for _, id := range locks.Unlocked {
						a.log.Error("not locked", "archive", id)
					}
					for _, id := range sum.Missing {
						a.log.Error("missing from the store", "archive", id)
					}
					for _, id := range sum.Unknown {
						a.log.Error("unknown to the catalogue", "archive", id)
					}
					for _, id := range sum.SizeDiffers {
						a.log.Error("size differs", "archive", id)
					}
				}
				a.exitCode = exitPartial
			}
			if rd.on {
				return a.readData(cmd, cfg, rd, o)
			}
			return nil
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&rd.on, "read-data", false, "also read back every archive and check it (on a cold store: after a priced plan, as retrievals)")
	f.Float64Var(&rd.sample, "sample", 100, "with --read-data: read a random PERCENT of the objects (e.g. 5)")
	f.StringVar(&rd.tier, "tier", "Bulk", "with --read-data on a cold store: retrieval tier, Expedited, Standard or Bulk")
	f.IntVar(&rd.days, "days", 0, "with --read-data on S3: days the thawed copy stays (default 7)")
	rd.costs.addFlags(f, true)
	cmd.Flags().IntVar(&lockWarnDays, "lock-warn-days", 30, "with an S3 Object Lock: report the needed objects whose lock ends within this many days")
	return cmd
}

func (rd *readDataOptions) engineOptions(a *app, o *inventoryOptions) (engine.ReadDataOptions, error) {
	tier, err := parseTier(rd.tier)
	if err != nil {
		return engine.ReadDataOptions{}, err
	}
	return engine.ReadDataOptions{Sample: rd.sample, Rand: rand.New(rand.NewPCG(rd.seed, rd.seed)), Tier: tier, Days: rd.days,
		Wait: o.wait, Poll: o.poll, PollMax: 15 * time.Minute, Stop: a.stop}, nil
}

// checkReadData prints the plan of verify --read-data, with its price,
// from the catalogue alone, and refuses it before anything is fetched
// when it cannot or must not run: a bad --sample, an estimate above
// --max-cost, or encrypted backups and no key.
func (a *app) checkReadData(rd *readDataOptions) error {
	if rd.sample <= 0 || rd.sample > 100 {
		return usagef("give a share from 0 to 100 percent, e.g. --sample 5", "invalid --sample %g", rd.sample)
	}
	if rd.days < 0 {
		return usagef("use a positive number of days", "invalid --days %d", rd.days)
	}
	prices, err := rd.costs.load()
	if err != nil {
		return err
	}
	opt, err := rd.engineOptions(a, &inventoryOptions{})
	if err != nil {
		return err
	}
	key, err := a.loadKey()
	if err != nil {
		return err
	}
	p, err := a.peekTarget()
	if err != nil {
		return err
	}
	defer p.close()
	if p.target.Encrypted && key == nil {
		return usagef("give the key with --encryption-key-file FILE", "the backups in %s are encrypted: verify --read-data needs the key to check them", p.loc)
	}
	if !p.found {
		return nil // verify itself says the catalogue has no such target
	}
	cfg := &engine.Config{Catalog: p.cat, Target: p.target, Class: a.storageClassOf(p.loc), Log: a.log, Now: a.now}
	plan, err := engine.PlanReadData(cfg, opt, prices)
	if err != nil {
		return err
	}
	m := readDataPlan{Target: p.loc, Objects: len(plan.Objects), Total: plan.Total, Bytes: plan.Bytes, SamplePercent: rd.sample,
		Retrievals: plan.Retrievals, Priced: plan.Priced, Disclaimer: prices.Disclaimer(), Estimate: newEstimateJSON(plan.Estimate),
		estimate: plan.Estimate}
	if plan.Retrievals > 0 {
		m.Tier, m.ExpectedWait = string(plan.Tier), plan.Wait.String()
	}
	a.out.Summary(m)
	return rd.costs.check("read-back of the archives", plan.Estimate.Total)
}

// readDataPlan is what verify --read-data will read (JSON "read_data_plan").
type readDataPlan struct {
	Target        string       `json:"target"`
	Objects       int          `json:"objects"` // to read
	Total         int          `json:"total"`   // there are
	Bytes         int64        `json:"bytes"`
	SamplePercent float64      `json:"sample_percent"`
	Retrievals    int          `json:"retrievals"`
	Tier          string       `json:"tier,omitempty"`
	ExpectedWait  string       `json:"expected_wait,omitempty"`
	Priced        bool         `json:"priced"`
	Estimate      estimateJSON `json:"estimate"`
	Disclaimer    string       `json:"disclaimer"`
	estimate      cost.Estimate
}

func (readDataPlan) MessageType() string { return "read_data_plan" }

func (p readDataPlan) WriteText(w io.Writer) {
	fmt.Fprintf(w, "read back %s of %s (%s) from %s", ui.Count(p.Objects, "object"), ui.Count(p.Total, "object"), ui.Bytes(p.Bytes), p.Target)
	if p.Retrievals > 0 {
		fmt.Fprintf(w, ": %s, tier %s, expected wait %s", ui.Count(p.Retrievals, "retrieval"), p.Tier, p.ExpectedWait)
	}
	fmt.Fprintln(w)
	if !p.Priced {
		return
	}
	writeEstimate(w, "  ", p.estimate)
	fmt.Fprintf(w, "  %s\n", p.Disclaimer)
}

// readData reads the archives back (every one, or a sample) and reports
// the damaged ones.
func (a *app) readData(cmd *cobra.Command, cfg *engine.Config, rd *readDataOptions, o *inventoryOptions) error {
	prices, err := rd.costs.load()
	if err != nil {
		return err
	}
	opt, err := rd.engineOptions(a, o)
	if err != nil {
		return err
	}
	plan, err := engine.PlanReadData(cfg, opt, prices)
	if err != nil {
		return err
	}
	if err := rd.costs.check("read-back of the archives", plan.Estimate.Total); err != nil {
		return err
	}
	cfg.Observer = a.noticeLogger()
	res, err := engine.ReadData(cmd.Context(), cfg, opt, plan)
	if errors.Is(err, engine.ErrReadDataKey) {
		return usagef("give the key with --encryption-key-file FILE", "%v", err)
	}
	if err != nil {
		return err
	}
	sum := readDataSummary{Command: "verify --read-data", Target: cfg.Target.Location, Archives: res.Archives, Bytes: res.Bytes,
		Damaged: []damagedJSON{}, Pending: res.Pending}
	for _, d := range res.Damaged {
		j := damagedJSON{ID: d.ID, Error: d.Err.Error(), Files: []ui.Path{}}
		for _, p := range d.Paths {
			j.Files = append(j.Files, ui.NewPath(p))
		}
		sum.Damaged = append(sum.Damaged, j)
	}
	a.out.Summary(sum)
	switch {
	case len(res.Damaged) > 0:
		a.exitCode = exitPartial
	case res.Pending > 0 && a.exitCode == exitOK:
		a.exitCode = exitPending
	}
	return nil
}

// damagedJSON is an archive verify --read-data could not read back.
type damagedJSON struct {
	ID    string    `json:"archive"`
	Error string    `json:"error"`
	Files []ui.Path `json:"files"` // the files whose versions it holds
}

// readDataSummary is what reading every archive back found (JSON "summary").
type readDataSummary struct {
	Command  string        `json:"command"` // "verify --read-data"
	Target   string        `json:"target"`
	Archives int           `json:"archives"` // archives read
	Bytes    int64         `json:"bytes"`    // stored bytes read
	Damaged  []damagedJSON `json:"damaged"`
	Pending  int           `json:"pending"` // objects whose retrieval is not ready yet
}

func (readDataSummary) MessageType() string { return "summary" }

func (r readDataSummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "read back archives of %s: %s read (%s), %d damaged\n", r.Target, ui.Count(r.Archives, "archive"), ui.Bytes(r.Bytes), len(r.Damaged))
	if r.Pending > 0 {
		fmt.Fprintf(w, "  waiting for %s to be retrieved; run the same command again later (the requests are reused), or add --wait\n", ui.Count(r.Pending, "object"))
	}

	for _, d := range r.Damaged {
		fmt.Fprintf(w, "  damaged archive %s: %s\n", ui.Name(d.ID), ui.Clean(d.Error))
		for _, p := range d.Files {
			fmt.Fprintf(w, "    holds %s\n", ui.Name(p.Path))
		}
	}
	if len(r.Damaged) > 0 {
		fmt.Fprintf(w, "    these versions cannot be restored: back the files up again (touch them and sync), or restore an older version with --at\n")
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// leftoverJSON is an archive an interrupted run stored without recording it.
type leftoverJSON struct {
	ID string `json:"archive"`
	ui.Path
	Size int64 `json:"size"`
}

func leftoversJSON(ls []engine.Leftover) []leftoverJSON {
	out := make([]leftoverJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, leftoverJSON{ID: l.ID, Path: ui.NewPath(l.Path), Size: l.Size})
	}
	return out
}

// verifySummary compares the catalogue with the store (JSON "summary").
// verify never deletes anything; each finding comes with what to do.
type verifySummary struct {
	Command       string         `json:"command"` // "verify"
	Target        string         `json:"target"`
	InventoryDate time.Time      `json:"inventory_date"`
	Checked       int            `json:"checked"`
	Missing       []string       `json:"missing"`      // archive ids the store lacks
	Unknown       []string       `json:"unknown"`      // archive ids the catalogue lacks
	SizeDiffers   []string       `json:"size_differs"` // archive ids
	Interrupted   []leftoverJSON `json:"interrupted"`  // stored by interrupted runs, never recorded; kept
	Recent        int            `json:"recent"`       // recorded after the inventory was taken
	Locks         *verifyLocks   `json:"locks,omitempty"`
	Catalogue     catalogueJSON  `json:"catalogue"` // what the store holds of the catalogue
	OK            bool           `json:"ok"`
}

// catalogueJSON is what the store holds of the catalogue (JSON "catalogue"
// of the verify summary): its snapshots, and the changes a recovery from
// the store would lose now.
type catalogueJSON struct {
	Snapshots      int       `json:"snapshots"`
	Newest         time.Time `json:"newest_snapshot,omitzero"`
	NewestAgeDays  float64   `json:"newest_snapshot_age_days"` // -1 without a snapshot
	UncoveredRows  int64     `json:"uncovered_versions"`
	UncoveredObjs  int64     `json:"uncovered_objects"`
	UncoveredBlobs int64     `json:"uncovered_blobs"`
	Forgotten      bool      `json:"uncovered_forgets"` // forget ran since the newest snapshot
}

func newCatalogueJSON(c engine.CatalogueCopies, now time.Time) catalogueJSON {
	j := catalogueJSON{Snapshots: c.Snapshots, Newest: c.Newest, NewestAgeDays: -1, UncoveredRows: c.Uncovered.Versions,
		UncoveredObjs: c.Uncovered.Objects, UncoveredBlobs: c.Uncovered.Blobs, Forgotten: c.Uncovered.Generation}
	if !c.Newest.IsZero() {
		j.NewestAgeDays = float64(int(now.Sub(c.Newest).Hours()/24*10)) / 10
	}
	return j
}

func (c catalogueJSON) writeText(w io.Writer) {
	if c.Newest.IsZero() {
		fmt.Fprintf(w, "  catalogue: no snapshot in the store yet (the next sync that changes something stores one, or: grsync catalogue push)\n")
	} else {
		fmt.Fprintf(w, "  catalogue: newest snapshot in the store of %s (%.1f days old), %s\n", c.Newest.Local().Format(time.DateTime),
			c.NewestAgeDays, ui.Count(c.Snapshots, "snapshot"))
	}
	if n := c.UncoveredRows + c.UncoveredObjs + c.UncoveredBlobs; n > 0 || c.Forgotten {
		what := fmt.Sprintf("%d changes (%d versions, %d objects, %d pieces)", n, c.UncoveredRows, c.UncoveredObjs, c.UncoveredBlobs)
		if c.Forgotten {
			what += " and forgotten versions"
		}
		fmt.Fprintf(w, "  warning: the catalogue has %s that no snapshot or version records in the store hold; a recovery now would lose them: run grsync catalogue push\n", what)
	}
}

// verifyLocks is what verify found of the Object Locks of a locked
// target's objects (JSON "locks" of the verify summary).
type verifyLocks struct {
	Mode     string       `json:"mode"`
	WarnDays int          `json:"lock_warn_days"`
	Ending   []lockEnding `json:"ending"`   // needed objects whose lock ends within WarnDays (or has ended)
	Unlocked []string     `json:"unlocked"` // objects the store reports without a lock
}

type lockEnding struct {
	ID    string    `json:"archive"`
	Until time.Time `json:"until"`
	Ended bool      `json:"ended"`
}

func newVerifyLocks(r engine.LockReport, warnDays int) *verifyLocks {
	if r.Mode == "" {
		return nil
	}
	v := &verifyLocks{Mode: string(r.Mode), WarnDays: warnDays, Ending: []lockEnding{}, Unlocked: nonNil(r.Unlocked)}
	for _, o := range r.Ending {
		v.Ending = append(v.Ending, lockEnding{ID: o.ID, Until: o.Until, Ended: o.Ended})
	}
	return v
}

func (v *verifyLocks) writeText(w io.Writer) {
	if v == nil {
		return
	}
	ended := 0
	for _, o := range v.Ending {
		if o.Ended {
			ended++
		}
	}
	fmt.Fprintf(w, "  object lock %s: %d not locked, %d locks of needed objects end within %d days (%d ended)\n",
		strings.ToLower(v.Mode), len(v.Unlocked), len(v.Ending), v.WarnDays, ended)
	for _, id := range v.Unlocked {
		fmt.Fprintf(w, "  not locked: %s\n", ui.Name(id))
	}
	if len(v.Unlocked) > 0 {
		fmt.Fprintf(w, "    anyone allowed to delete can delete these (or the credentials lack s3:GetObjectRetention and see no lock): grsync lock extend locks again those that kept versions need\n")
	}
	for _, o := range v.Ending {
		what := "lock ends"
		if o.Ended {
			what = "lock ended"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", what, o.Until.UTC().Format(time.DateOnly), ui.Name(o.ID))
	}
	if len(v.Ending) > 0 {
		fmt.Fprintf(w, "    the next sync, or grsync lock extend, extends every lock of what the kept versions need that ends within 30 days\n")
	}
}

func (verifySummary) MessageType() string { return "summary" }

func (r verifySummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "verify %s against its inventory of %s: %s checked, %d missing, %d unknown, %d with another size, %d stored by interrupted runs, %d too recent to be listed\n",
		r.Target, r.InventoryDate.Local().Format(time.DateTime), ui.Count(r.Checked, "archive"), len(r.Missing), len(r.Unknown),
		len(r.SizeDiffers), len(r.Interrupted), r.Recent)
	for _, id := range r.Missing {
		fmt.Fprintf(w, "  missing from the store: %s\n", ui.Name(id))
	}
	for _, id := range r.SizeDiffers {
		fmt.Fprintf(w, "  size differs: %s\n", ui.Name(id))
	}
	if len(r.Missing)+len(r.SizeDiffers) > 0 {
		fmt.Fprintf(w, "    the files of these archives cannot be restored from them: back them up again (touch them and sync), or restore an older version with --at\n")
	}
	for _, id := range r.Unknown {
		fmt.Fprintf(w, "  unknown to the catalogue: %s\n", ui.Name(id))
	}
	if len(r.Unknown) > 0 {
		fmt.Fprintf(w, "    another catalogue's archives, or a lost one's: grsync inventory --rebuild --db NEWFILE records what they hold\n")
	}
	for _, l := range r.Interrupted {
		fmt.Fprintf(w, "  stored by an interrupted run, never recorded: %s (a copy of %s, %s)\n", ui.Name(l.ID), ui.Name(l.Path.Path), ui.Bytes(l.Size))
	}
	if len(r.Interrupted) > 0 {
		fmt.Fprintf(w, "    the catalogue noted these uploads before they started; the next sync records them and does not send their content again (on a vault, once an inventory is ready)\n")
	}
	r.Locks.writeText(w)
	r.Catalogue.writeText(w)
	if len(r.Unknown)+len(r.Interrupted) > 0 {
		fmt.Fprintf(w, "  nothing was deleted: verify only reports\n")
	}
}
