package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/retention"
	"github.com/grsync/grsync/internal/ui"
)

type pruneOptions struct {
	dryRun, allowEarly, repack, wait, verbose bool
	horizon, tier                             string
	days                                      int
	poll                                      time.Duration
	costs                                     costOptions
}

func (a *app) pruneCommand() *cobra.Command {
	o := &pruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Delete stored objects no kept version uses (after forget)",
		Long: `Delete from the target the archives and packs that no kept version uses any
more (see grsync forget), but never before the earliest date each may be deleted
without a fee: its storage class's minimum storage duration (90 days for GLACIER,
GLACIER_IR and vaults, 180 for DEEP_ARCHIVE, 30 for the IA classes; an object
whose class is not recorded is held 180 days), or an S3 Object Lock date, which
nothing overrides. Objects still inside it are listed with the date they become
free; --allow-early-delete deletes them anyway, after printing the fee.

Version records and catalogue snapshots are kept: they are what rebuilds a lost
catalogue. Packs that kept versions use in part are reported with their unused
bytes and what those cost a month; --repack rewrites the used members of such
packs into new packs where that is cheaper over --repack-horizon than keeping
them (the retrieval it needs, on a cold store, is shown and priced first; --wait
waits for it, otherwise prune exits 3 and the next run goes on).

Every plan carries a US-dollar estimate from the price table (docs/COSTS.md);
--max-cost refuses a plan above it. A prune killed at any moment leaves no kept
version pointing at a deleted object: objects are condemned in the catalogue
first, deleted from the store, then marked deleted; the next prune finishes
what a killed or refused one started. Credentials that may not delete
(append-only) leave the objects condemned, for a prune run with other
credentials.`,
		Example: `  grsync forget --keep-daily 7 --keep-monthly 12
  grsync prune --dry-run
  grsync prune --max-cost 1
  grsync prune --repack --wait --max-cost 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPrune(cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "print the plan and its estimate; delete and request nothing (reads the catalogue only)")
	f.BoolVar(&o.allowEarly, "allow-early-delete", false, "also delete objects inside their minimum storage duration, paying the fee printed (never an Object Lock)")
	f.BoolVar(&o.repack, "repack", false, "rewrite the used members of partly used packs where that is cheaper over --repack-horizon")
	f.StringVar(&o.horizon, "repack-horizon", "1y", "what repacking is compared over: 6m, 1y, 2y")
	f.StringVar(&o.tier, "tier", "Bulk", "retrieval tier of packs to repack: Expedited, Standard or Bulk")
	f.IntVar(&o.days, "days", 0, "S3 restores for --repack: days the thawed copy stays (default 7)")
	f.BoolVar(&o.wait, "wait", false, "wait for the retrievals --repack needs, then repack")
	f.DurationVar(&o.poll, "poll", 30*time.Second, "first interval between checks when waiting (grows to 15m)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "list every object prune deletes, not only those it waits for")
	o.costs.addFlags(f, true)
	return cmd
}

func (a *app) runPrune(cmd *cobra.Command, o *pruneOptions) error {
	prices, err := o.costs.load()
	if err != nil {
		return err
	}
	tier, err := parseTier(o.tier)
	if err != nil {
		return err
	}
	horizon, err := retention.ParseDuration(o.horizon)
	if err != nil || horizon <= 0 {
		return usagef("e.g. --repack-horizon 1y or 6m", "invalid --repack-horizon %q", o.horizon)
	}
	if o.days < 0 {
		return usagef("use a positive number of days", "invalid --days %d", o.days)
	}
	if err := checkPoll(o.poll); err != nil {
		return err
	}
	// Prune never creates a store or a target, nor makes the target the
	// catalogue's default; a plan needs no store, no credentials.
	mode := readStore
	if o.dryRun {
		mode = readCatalog
	}
	s, err := a.openSessionFor(mode)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := a.checkStore(s, engine.StoreUse{NeedKey: o.repack, Look: true}); err != nil {
		return err
	}
	if o.repack && !o.dryRun && s.target.Encrypted && s.key == nil {
		return usagef("give the key with --encryption-key-file FILE", "the backups in %s are encrypted: --repack reads and rewrites them, which needs the key", s.target.Location)
	}
	cfg := a.engineConfig(s)
	popt := engine.PruneOptions{Prices: prices, AllowEarly: o.allowEarly, Repack: o.repack, Horizon: horizon,
		Tier: tier, Days: o.days, Wait: o.wait, Poll: o.poll, PollMax: 15 * time.Minute, Stop: a.stop}
	plan, err := engine.PlanPrune(cfg, popt)
	if err != nil {
		return err
	}
	a.showPrunePlan(s.target.Location, plan, prices, o)
	if err := o.costs.check("prune", plan.Total()); err != nil {
		return err
	}
	if o.dryRun {
		a.out.Summary(pruneSummary{Command: "prune", Target: s.target.Location, DryRun: true, Denied: []string{},
			Locked: []string{}, Failures: []failureJSON{}, FeesUSD: usd(0)})
		return nil
	}
	cfg.Observer = a.noticeLogger()
	res, err := engine.Prune(cmd.Context(), cfg, popt, plan)
	if err != nil {
		return err
	}
	sum := pruneSummary{Command: "prune", Target: s.target.Location, Deleted: res.Deleted, DeletedBytes: res.DeletedBytes,
		AlreadyGone: res.AlreadyGone, Denied: []string{}, Locked: []string{}, Failed: len(res.Failed), Failures: failuresJSON(res.Failed),
		FeesUSD: usd(res.Fees), Repacked: res.Repacked, NewPacks: res.NewPacks, RepackedBytes: res.RepackedBytes,
		Reused: res.Reused, PendingRetrievals: res.PendingRetrievals, Interrupted: res.Interrupted,
		db: a.g.db, failures: res.Failed}
	for _, d := range res.Denied {
		sum.Denied = append(sum.Denied, d.ArchiveID)
	}
	for _, l := range res.Locked {
		sum.Locked = append(sum.Locked, l.Path)
	}
	a.out.Summary(sum)
	switch {
	case len(res.Failed) > 0 || len(res.Denied) > 0 || len(res.Locked) > 0 || res.Interrupted:
		a.exitCode = exitPartial
	case res.PendingRetrievals > 0:
		a.exitCode = exitPending
	}
	return nil
}

// noticeLogger is an engine observer that logs notices only.
func (a *app) noticeLogger() engine.Observer { return noticeObserver{a} }

type noticeObserver struct{ a *app }

func (n noticeObserver) Found(int, int64)           {}
func (n noticeObserver) Scanned()                   {}
func (n noticeObserver) Start(string, int64)        {}
func (n noticeObserver) Done(string, string, error) {}
func (n noticeObserver) Progress(int64)             {}
func (n noticeObserver) Notice(path, msg string) {
	if path == "" {
		n.a.log.Info(msg)
		return
	}
	n.a.log.Info(msg, "path", path)
}

// showPrunePlan prints the objects prune waits for (and, with -v or
// --json, those it deletes), then the plan with its estimate.
func (a *app) showPrunePlan(target string, plan *engine.PrunePlan, prices *cost.Prices, o *pruneOptions) {
	list := func(it engine.PruneItem, action string) {
		m := pruneObject{Archive: it.Object.ArchiveID, Kind: string(it.Object.Kind), Size: it.Object.Size,
			Class: it.Object.Class, Uploaded: it.Object.Uploaded, Action: action, Reasons: []string{}}
		if it.Earliest.At.After(plan.Now) {
			t := it.Earliest.At
			m.FreeAt = &t
			for _, r := range it.Earliest.Reasons {
				if r.Until.After(plan.Now) {
					m.Reasons = append(m.Reasons, r.Why)
				}
			}
			fee := usd(it.Fee.Total)
			m.EarlyFeeUSD = &fee
			m.Locked = it.Locked(plan.Now)
		}
		a.out.Result(m)
	}
	all := o.verbose || a.out.JSON()
	for _, it := range plan.Condemned {
		if all {
			list(it, "finish deletion")
		}
	}
	for _, it := range plan.Delete {
		if all {
			list(it, "delete")
		}
	}
	for i, it := range plan.Waiting {
		if all || i < 20 {
			list(it, "wait")
		}
	}
	p := prunePlan{Target: target, DryRun: o.dryRun, Delete: len(plan.Delete), DeleteBytes: plan.DeleteBytes(),
		Condemned: len(plan.Condemned), Waiting: len(plan.Waiting), KeptMeta: plan.KeptMeta, Partial: len(plan.Partial),
		Priced: plan.Priced, Horizon: plan.HorizonText(), Repack: []repackJSON{}, Estimate: newEstimateJSON(cost.Sum(plan.Fees, plan.RepackCost)),
		SavedMonthly: newEstimateJSON(plan.Saved), DeadMonthly: newEstimateJSON(plan.DeadMonthly),
		Disclaimer: prices.Disclaimer(), moreWaiting: max(0, len(plan.Waiting)-20)}
	if all {
		p.moreWaiting = 0
	}
	for _, it := range plan.Waiting {
		p.WaitingBytes += it.Object.Size
	}
	for _, it := range plan.Partial {
		p.PartialDeadBytes += it.DeadBytes
		p.PartialBytes += it.Object.Size
	}
	for _, r := range plan.Repack {
		j := repackJSON{Archive: r.Object.ArchiveID, Size: r.Object.Size, LiveBytes: r.LiveBytes, DeadBytes: r.DeadBytes,
			Repack: r.Worth, Why: r.Why}
		if r.Priced && len(r.Cost.Lines) > 0 {
			ret, c, k := newEstimateJSON(r.Retrieval.Estimate), newEstimateJSON(r.Cost), newEstimateJSON(r.Keep)
			j.Retrieval, j.Cost, j.Keep = &ret, &c, &k
			if r.Retrieval.Tier != "" {
				j.Tier, j.ExpectedWait = string(r.Retrieval.Tier), r.Retrieval.Wait.String()
			}
		}
		p.Repack = append(p.Repack, j)
		if r.Worth {
			p.retrieval = append(p.retrieval, r.Retrieval.Estimate)
			p.repackBytes += r.Object.Size
			p.repacks++
		}
	}
	p.fees, p.repackCost, p.saved, p.dead = plan.Fees, plan.RepackCost, plan.Saved, plan.DeadMonthly
	a.out.Summary(p)
}

// pruneObject is an object in a prune plan (JSON "prune_object").
type pruneObject struct {
	Archive     string       `json:"archive"`
	Kind        string       `json:"kind"`
	Size        int64        `json:"size"`
	Class       string       `json:"class"`
	Uploaded    time.Time    `json:"uploaded"`
	Action      string       `json:"action"`            // "delete", "wait", "finish deletion"
	FreeAt      *time.Time   `json:"free_at,omitempty"` // when it may be deleted without a fee
	Reasons     []string     `json:"reasons"`
	EarlyFeeUSD *json.Number `json:"early_fee_usd,omitempty"` // what deleting it now pays
	Locked      bool         `json:"locked"`                  // an Object Lock holds it: never deleted early
}

func (pruneObject) MessageType() string { return "prune_object" }

func (p pruneObject) WriteText(w io.Writer) {
	class := p.Class
	if class == "" {
		class = "class not recorded"
	}
	switch {
	case p.FreeAt != nil:
		how := "early deletion now: " + string(*p.EarlyFeeUSD)
		if fee, err := cost.ParseMoney(string(*p.EarlyFeeUSD)); err == nil {
			how = "early deletion now pays " + fee.String()
		}
		if p.Locked {
			how = "locked: cannot be deleted before then"
		}
		fmt.Fprintf(w, "  %-15s %s  %9s  %s  uploaded %s, free on %s (%s)\n", p.Action, ui.Name(p.Archive), ui.Bytes(p.Size), class,
			p.Uploaded.Local().Format(time.DateOnly), p.FreeAt.Local().Format(time.DateOnly), how)
		for _, r := range p.Reasons {
			fmt.Fprintf(w, "      %s\n", r)
		}
	default:
		fmt.Fprintf(w, "  %-15s %s  %9s  %s  uploaded %s\n", p.Action, ui.Name(p.Archive), ui.Bytes(p.Size), class,
			p.Uploaded.Local().Format(time.DateOnly))
	}
}

// repackJSON is a partly used pack prune weighed for repacking.
type repackJSON struct {
	Archive      string        `json:"archive"`
	Size         int64         `json:"size"`
	LiveBytes    int64         `json:"live_bytes"`
	DeadBytes    int64         `json:"dead_bytes"`
	Repack       bool          `json:"repack"`
	Why          string        `json:"why,omitempty"` // why not
	Tier         string        `json:"tier,omitempty"`
	ExpectedWait string        `json:"expected_wait,omitempty"`
	Retrieval    *estimateJSON `json:"retrieval,omitempty"`
	Cost         *estimateJSON `json:"cost,omitempty"` // repacking over the horizon
	Keep         *estimateJSON `json:"keep,omitempty"` // keeping it as it is over the horizon
}

// prunePlan is what prune will do (JSON "prune_plan").
type prunePlan struct {
	Target           string       `json:"target"`
	DryRun           bool         `json:"dry_run"`
	Delete           int          `json:"delete"` // objects deleted now
	DeleteBytes      int64        `json:"delete_bytes"`
	Condemned        int          `json:"condemned"` // of an earlier prune, whose deletion is finished
	Waiting          int          `json:"waiting"`   // unused, inside their earliest-delete date
	WaitingBytes     int64        `json:"waiting_bytes"`
	KeptMeta         int          `json:"kept_records"` // version records and snapshots: kept
	Partial          int          `json:"partial_packs"`
	PartialBytes     int64        `json:"partial_bytes"`
	PartialDeadBytes int64        `json:"partial_dead_bytes"`
	DeadMonthly      estimateJSON `json:"partial_dead_monthly"`
	Horizon          string       `json:"repack_horizon"`
	Repack           []repackJSON `json:"repack"`
	Priced           bool         `json:"priced"`
	Estimate         estimateJSON `json:"estimate"` // early-deletion fees and repacks: what --max-cost is held against
	SavedMonthly     estimateJSON `json:"saved_monthly"`
	Disclaimer       string       `json:"disclaimer"`

	moreWaiting                   int
	retrieval                     []cost.Estimate
	repacks                       int
	repackBytes                   int64
	fees, repackCost, saved, dead cost.Estimate
}

func (prunePlan) MessageType() string { return "prune_plan" }

func (p prunePlan) WriteText(w io.Writer) {
	if p.moreWaiting > 0 {
		fmt.Fprintf(w, "  ... and %d more waiting (list them all with -v)\n", p.moreWaiting)
	}
	verb := "prune"
	if p.DryRun {
		verb = "prune plan (dry run)"
	}
	fmt.Fprintf(w, "%s for %s:\n", verb, p.Target)
	fmt.Fprintf(w, "  delete         %s (%s) no kept version uses\n", ui.Count(p.Delete, "object"), ui.Bytes(p.DeleteBytes))
	if p.Condemned > 0 {
		fmt.Fprintf(w, "  finish         %s an earlier prune condemned but did not see deleted\n", ui.Count(p.Condemned, "object"))
	}
	if p.Waiting > 0 {
		fmt.Fprintf(w, "  wait           %s (%s) unused but inside their minimum storage duration or lock (listed above with the date each is free)\n",
			ui.Count(p.Waiting, "object"), ui.Bytes(p.WaitingBytes))
	}
	fmt.Fprintf(w, "  keep           %s (version records: what rebuilds a lost catalogue)\n", ui.Count(p.KeptMeta, "records object"))
	if p.Partial > 0 {
		fmt.Fprintf(w, "  partly used    %s: %s of %s unused", ui.Count(p.Partial, "pack"), ui.Bytes(p.PartialDeadBytes), ui.Bytes(p.PartialBytes))
		if p.Priced {
			fmt.Fprintf(w, ", %s a month", p.dead.Total)
		}
		fmt.Fprintln(w)
	}
	if len(p.Repack) > 0 {
		fmt.Fprintf(w, "  repack         %s of %s (%s), compared over %s\n", ui.Count(p.repacks, "pack"), ui.Count(len(p.Repack), "partly used pack"),
			ui.Bytes(p.repackBytes), p.Horizon)
		for _, r := range p.Repack {
			if r.Why != "" {
				fmt.Fprintf(w, "    not %s: %s\n", ui.Name(r.Archive), r.Why)
			}
		}
		if p.Priced && p.repacks > 0 {
			fmt.Fprintf(w, "  retrieval for the repack (requested before anything is rewritten):\n")
			writeEstimate(w, "    ", cost.Sum(p.retrieval...))
		}
	}
	if !p.Priced {
		fmt.Fprintf(w, "  a local store bills nothing: no estimate\n")
		return
	}
	fmt.Fprintf(w, "  estimate (what this prune pays: early deletions and repacks):\n")
	writeEstimate(w, "    ", cost.Sum(p.fees, p.repackCost))
	if p.saved.Total > 0 {
		fmt.Fprintf(w, "  the deletions save %s a month of storage\n", p.saved.Total)
	}
	fmt.Fprintf(w, "  %s\n", p.Disclaimer)
}

// pruneSummary is what prune did (JSON "summary").
type pruneSummary struct {
	Command           string        `json:"command"` // "prune"
	Target            string        `json:"target"`
	DryRun            bool          `json:"dry_run"`
	Deleted           int           `json:"deleted"`
	DeletedBytes      int64         `json:"deleted_bytes"`
	AlreadyGone       int           `json:"already_gone"`
	Denied            []string      `json:"denied"` // access denied: still condemned
	Locked            []string      `json:"locked"`
	Failed            int           `json:"failed"`
	Failures          []failureJSON `json:"failures"`
	FeesUSD           json.Number   `json:"early_fees_usd"`
	Repacked          int           `json:"repacked"`
	NewPacks          int           `json:"new_packs"`
	RepackedBytes     int64         `json:"repacked_bytes"`
	Reused            int           `json:"reused"`
	PendingRetrievals int           `json:"pending_retrievals"`
	Interrupted       bool          `json:"interrupted"`
	db                string
	failures          []engine.Failure
}

func (pruneSummary) MessageType() string { return "summary" }

func (r pruneSummary) WriteText(w io.Writer) {
	if r.DryRun {
		fmt.Fprintf(w, "dry run: nothing was deleted, requested or changed\n")
		return
	}
	fmt.Fprintf(w, "pruned %s: deleted %s (%s)", r.Target, ui.Count(r.Deleted, "object"), ui.Bytes(r.DeletedBytes))
	if r.AlreadyGone > 0 {
		fmt.Fprintf(w, ", %d already gone", r.AlreadyGone)
	}
	if fee, err := cost.ParseMoney(string(r.FeesUSD)); err == nil && fee > 0 {
		fmt.Fprintf(w, ", early-deletion fees %s", fee)
	}
	if r.Interrupted {
		fmt.Fprintf(w, "; interrupted (run it again to finish)")
	}
	fmt.Fprintln(w)
	if r.Repacked+r.NewPacks+r.Reused > 0 {
		fmt.Fprintf(w, "  repacked %s into %s (%s)", ui.Count(r.Repacked, "pack"), ui.Count(r.NewPacks, "new pack"), ui.Bytes(r.RepackedBytes))
		if r.Reused > 0 {
			fmt.Fprintf(w, "; %s already stored elsewhere", ui.Count(r.Reused, "piece"))
		}
		fmt.Fprintln(w)
	}
	if r.PendingRetrievals > 0 {
		fmt.Fprintf(w, "  waiting for %s to be retrieved for the repack; run the same command again later, or add --wait\n",
			ui.Count(r.PendingRetrievals, "pack"))
	}
	if len(r.Denied) > 0 {
		fmt.Fprintf(w, "  %s could not be deleted: these credentials may not delete (append-only); they stay condemned in %s: run grsync prune --db %s with credentials that may (e.g. --profile of the full policy)\n",
			ui.Count(len(r.Denied), "object"), r.db, r.db)
	}
	if len(r.Locked) > 0 {
		fmt.Fprintf(w, "  %s under an Object Lock the catalogue did not know: kept condemned; prune deletes them once the lock ends\n", ui.Count(len(r.Locked), "object"))
	}
	if len(r.failures) > 0 {
		fmt.Fprintf(w, "  failed %s (kept; run prune again):\n", ui.Count(len(r.failures), "object"))
		writeFailures(w, r.failures)
	}
}
