package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/ui"
)

// recoveringKey marks a catalogue that grsync recover is still filling: a
// run that had to wait (exit 3) takes it up again; any other existing
// catalogue is never touched by recover.
const recoveringKey = "recovering"

type recoverOptions struct {
	tier string
	wait bool
	poll time.Duration
}

func (a *app) recoverCommand() *cobra.Command {
	o := &recoverOptions{}
	cmd := &cobra.Command{
		Use:   "recover --db NEW <target flags> [--encryption-key-file FILE]",
		Short: "Recover a lost catalogue from the store alone, into a new --db",
		Long: `Recover a lost catalogue from what the target holds: the newest catalogue
snapshot that decrypts and passes SQLite's integrity check, then every version
record stored after it, so the recovered catalogue knows every version the lost
one did (renames, copies, deletions and mode changes included). A snapshot that
is damaged, truncated or tampered with is refused, with a message, and the one
before it is used; with no usable snapshot, the catalogue is rebuilt from all the
version records, pack indexes and descriptions (as inventory --rebuild does).

It needs only the key and the target flags, and writes a new catalogue (--db); it
never touches an existing one. It prints what it will fetch and how long that
takes before it requests anything. A vault makes every object readable through a
retrieval job (--tier): without --wait grsync requests them, records them in the
new catalogue and exits with code 3; run the same command again later, and the
jobs are reused.`,
		Example: `  grsync recover --db ~/glacier.db --bucket my-backups --region eu-west-1 --encryption-key-file backup.key
  grsync recover --db ~/glacier.db --vault my-vault --region eu-west-1 --encryption-key-file backup.key --tier Bulk
  grsync recover --db recovered.db --local-store /mnt/backup --encryption-key-file backup.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRecover(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tier, "tier", "", "retrieval tier for a vault: Expedited, Standard (default) or Bulk")
	f.BoolVar(&o.wait, "wait", false, "wait for retrieval jobs instead of exiting with code 3")
	f.DurationVar(&o.poll, "poll", 30*time.Second, "first interval between checks when waiting (grows to 15m)")
	return cmd
}

func (a *app) runRecover(cmd *cobra.Command, o *recoverOptions) error {
	if err := checkPoll(o.poll); err != nil {
		return err
	}
	tier, err := parseTier(o.tier)
	if err != nil {
		return err
	}
	loc, err := a.g.targetLocation()
	if err != nil {
		return err
	}
	if loc == "" {
		return usagef("give the target: --local-store DIR, --vault NAME --region R, or --bucket NAME --region R",
			"recover needs the target flags: there is no catalogue to take them from")
	}
	db := a.g.db
	if err := checkRecoverDB(db); err != nil {
		return err
	}
	// The new catalogue holds the recovery's retrieval jobs meanwhile (a
	// vault's take hours; running again reuses them). The store's marker
	// is checked first: a wrong key is refused before anything is fetched.
	created := !fileExists(db)
	var s *session
	started := false // past the checks: the new catalogue may hold jobs
	defer func() {
		if s != nil {
			s.Close()
		}
		if created && !started {
			// A mistake found before anything was requested leaves no file.
			for _, suffix := range []string{"", "-wal", "-shm", "-journal", ".lock"} {
				os.Remove(db + suffix)
			}
		}
	}()
	if s, err = a.openSessionFor(listStore); err != nil {
		return err
	}
	if err := s.cat.SetSetting(recoveringKey, "1"); err != nil {
		return err
	}
	if err := a.checkStore(s, engine.StoreUse{NeedKey: true, Look: true}); err != nil {
		return err
	}
	if s.marker.Present && !s.marker.Encrypted() && s.key != nil {
		return usagef("leave out the key: the store's marker says its backups are not encrypted",
			"%s holds unencrypted backups, and a key was given", loc)
	}
	started = true
	cfg := a.engineConfig(s)
	wait := engine.WaitOptions{Wait: o.wait, Poll: o.poll, Tier: tier, Stop: a.stop}
	copyPath := engine.SnapshotCopyPath(db)
	res, err := engine.Recover(cmd.Context(), cfg, engine.RecoverOptions{Wait: wait, CopyPath: copyPath, Plan: func(p engine.RecoverPlan) {
		a.out.Summary(newRecoverPlan(loc, tier, p))
	}})
	if errors.Is(err, engine.ErrRebuildKey) {
		return usagef("give the key these backups were made with: --encryption-key-file FILE", "%v", err)
	}
	if err != nil {
		return err
	}
	sum := recoverSummary{Command: "recover", Target: loc, Catalogue: db, Failures: []failureJSON{}}
	switch {
	case res.Pending > 0:
		sum.Pending = res.Pending
		a.out.Summary(sum)
		a.exitCode = exitPending
		return nil
	case res.Rebuilt != nil:
		if err := s.cat.SetSetting(recoveringKey, ""); err != nil {
			return err
		}
		rb := res.Rebuilt
		sum.Rebuilt, sum.Added = true, rb.Added
		problems := append(rb.Decoded.Problems, res.Problems...)
		sum.Failures, sum.problems = failuresJSON(problems), problems
		sum.Waiting = rb.Records.Waiting + rb.PacksWaiting
		a.out.Summary(sum)
		if len(problems) > 0 || sum.Waiting > 0 {
			a.exitCode = exitPartial
		}
		return nil
	}
	// Swap the work catalogue (which only held the retrieval jobs) for the
	// snapshot, and add what the store recorded since.
	s.Close()
	s = nil
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(db + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := catalog.InstallSnapshot(copyPath, db); err != nil {
		return err
	}
	if err := relocate(db, loc, res.SnapshotInfo.Target.ID); err != nil {
		return err
	}
	rs, err := a.openSessionFor(readStore)
	if err != nil {
		return err
	}
	s = rs
	if err := a.checkStore(s, engine.StoreUse{NeedKey: true}); err != nil {
		return err
	}
	cfg = a.engineConfig(s)
	stats, problems, err := engine.ApplyRecovery(cfg, res)
	if err != nil {
		return err
	}
	problems = append(res.Problems, problems...)
	sum.Snapshot, sum.SnapshotCreated = res.Snapshot.Archive, res.Snapshot.Created
	sum.Records, sum.Added = len(res.Records), stats.Versions
	sum.Failures, sum.problems = failuresJSON(problems), problems
	a.out.Summary(sum)
	if len(problems) > 0 {
		a.exitCode = exitPartial
	}
	return nil
}

// relocate gives the recovered catalogue's target the location the store
// was reached at now, when the snapshot knew it under another (a local
// store in another folder; the marker's store id, when the snapshot has
// it, lets openSessionFor follow the store by itself).
func relocate(db, loc string, id int64) error {
	cat, err := catalog.Open(db, catalog.OpenOptions{})
	if err != nil {
		return err
	}
	defer cat.Close()
	if _, found, err := cat.Target(loc); err != nil || found {
		return err
	}
	ts, err := cat.Targets()
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ID == id && t.StoreID == "" {
			_, err = cat.MoveTarget(id, loc)
		}
	}
	return err
}

// checkRecoverDB refuses a --db that holds a catalogue, unless it is a
// recovery this command left waiting. It reads the file only.
func checkRecoverDB(db string) error {
	fi, err := os.Stat(db)
	if errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil
	}
	exists := usagef(fmt.Sprintf("recover writes a new catalogue: give another --db (e.g. --db recovered.db), or move %s away first; "+
		"to add what the store holds to this catalogue, use grsync inventory --rebuild", db),
		"the catalogue %s exists; recover never overwrites a catalogue", db)
	if err != nil {
		return exists
	}
	cat, err := catalog.Open(db, catalog.OpenOptions{ReadOnly: true})
	if err != nil {
		return exists
	}
	defer cat.Close()
	if v, ok, err := cat.Setting(recoveringKey); err != nil || !ok || v != "1" {
		return exists
	}
	return nil
}

// recoverPlan is what recover will fetch (JSON "recover_plan").
type recoverPlan struct {
	Target       string        `json:"target"`
	From         string        `json:"from"` // "pointers" or "listing"
	Snapshot     string        `json:"snapshot,omitempty"`
	Created      time.Time     `json:"snapshot_created,omitzero"`
	Records      int           `json:"records"`
	Objects      int           `json:"objects"`
	Bytes        int64         `json:"bytes"`
	Tier         string        `json:"tier,omitempty"`
	ExpectedWait string        `json:"expected_wait"`
	Inventory    bool          `json:"inventory"` // the vault's inventory is needed first
	Rebuild      bool          `json:"rebuild"`   // no usable snapshot
	Refused      []failureJSON `json:"refused"`
	refused      []engine.Failure
	problems     []engine.Failure
}

func newRecoverPlan(loc string, tier store.Tier, p engine.RecoverPlan) recoverPlan {
	r := recoverPlan{Target: loc, From: p.From, Records: len(p.Records), Bytes: p.Bytes, Inventory: p.Inventory,
		Rebuild: p.Rebuild, Refused: failuresJSON(p.Refused), refused: p.Refused, problems: p.Problems, ExpectedWait: "immediate"}
	if p.Snapshot != nil {
		r.Snapshot, r.Created, r.Objects = p.Snapshot.Archive, p.Snapshot.Created, 1+len(p.Records)
	}
	if strings.HasPrefix(loc, "glacier:") {
		r.Tier = tierName(tier)
		r.ExpectedWait = expectedWait(loc, tier)
		if p.Inventory {
			r.ExpectedWait = "3-5 hours for the inventory, then " + r.ExpectedWait + " for the objects"
		}
	}
	return r
}

func (recoverPlan) MessageType() string { return "recover_plan" }

func (p recoverPlan) WriteText(w io.Writer) {
	for _, f := range p.refused {
		fmt.Fprintf(w, "refused: %v\n", f.Err)
	}
	for _, f := range p.problems {
		fmt.Fprintf(w, "ignored: %s: %v\n", f.Path, f.Err)
	}
	wait := ""
	if p.Tier != "" {
		wait = fmt.Sprintf(", tier %s, expected wait %s", p.Tier, p.ExpectedWait)
	}
	switch {
	case p.Inventory:
		fmt.Fprintf(w, "recover from %s: the vault's inventory is needed first to find the catalogue's snapshots (no catalogue pointers)%s\n", p.Target, wait)
	case p.Rebuild:
		fmt.Fprintf(w, "recover from %s: no usable catalogue snapshot; rebuilding from every version records object, pack index and description%s\n", p.Target, wait)
	default:
		from := "the store's catalogue pointers"
		if p.From == "listing" {
			from = "the store's listing"
		}
		fmt.Fprintf(w, "recover from %s (found through %s): the snapshot of %s and %s stored since; %s, %s to fetch%s\n",
			p.Target, from, p.Created.Local().Format(time.DateTime), ui.Count(p.Records, "version records object"),
			ui.Count(p.Objects, "object"), ui.Bytes(p.Bytes), wait)
	}
}

// recoverSummary is what recover did (JSON "summary").
type recoverSummary struct {
	Command         string        `json:"command"` // "recover"
	Target          string        `json:"target"`
	Catalogue       string        `json:"catalogue"`
	Pending         int           `json:"pending"` // objects (or the inventory) not readable yet
	Snapshot        string        `json:"snapshot,omitempty"`
	SnapshotCreated time.Time     `json:"snapshot_created,omitzero"`
	Records         int           `json:"records"` // records objects added after the snapshot
	Rebuilt         bool          `json:"rebuilt"` // no usable snapshot: rebuilt from every object
	Added           int           `json:"added"`   // file versions added after the snapshot (or by the rebuild)
	Waiting         int           `json:"waiting"` // rebuild: objects that need a retrieval first
	Failures        []failureJSON `json:"failures"`
	problems        []engine.Failure
}

func (recoverSummary) MessageType() string { return "summary" }

func (r recoverSummary) WriteText(w io.Writer) {
	switch {
	case r.Pending > 0:
		fmt.Fprintf(w, "waiting for %s from %s; run the same command again later (the jobs are recorded in %s and reused), or add --wait\n",
			ui.Count(r.Pending, "retrieval"), r.Target, r.Catalogue)
		return
	case r.Rebuilt:
		fmt.Fprintf(w, "rebuilt the catalogue %s from the objects in %s: %s\n", r.Catalogue, r.Target, ui.Count(r.Added, "file version"))
		if r.Waiting > 0 {
			fmt.Fprintf(w, "  %s need a retrieval before they can be read; run the same command again later\n", ui.Count(r.Waiting, "object"))
		}
	default:
		fmt.Fprintf(w, "recovered the catalogue %s from %s: the snapshot of %s, then %s (%s added since)\n",
			r.Catalogue, r.Target, r.SnapshotCreated.Local().Format(time.DateTime), ui.Count(r.Records, "version records object"),
			ui.Count(r.Added, "file version"))
	}
	if len(r.problems) > 0 {
		fmt.Fprintf(w, "  %s could not be read:\n", ui.Count(len(r.problems), "object"))
		writeFailures(w, r.problems)
	}
	fmt.Fprintf(w, "  check it against the store with: grsync verify --db %s\n", r.Catalogue)
}
