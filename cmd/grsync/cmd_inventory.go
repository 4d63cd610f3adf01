package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
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

// listing opens the session in mode, checks the store for use, and
// fetches the store's listing (waiting with --wait). While the store is
// still preparing it, it reports so, sets exit code 3 and returns a nil
// session.
func (a *app) listing(cmd *cobra.Command, o *inventoryOptions, mode sessionMode, use engine.StoreUse) (*session, *engine.Config, engine.Listing, error) {
	if err := checkPoll(o.poll); err != nil {
		return nil, nil, engine.Listing{}, err
	}
	s, err := a.openSessionFor(mode)
	if err != nil {
		return nil, nil, engine.Listing{}, err
	}
	if err := a.checkStore(s, use); err != nil {
		s.Close()
		return nil, nil, engine.Listing{}, err
	}
	cfg := a.engineConfig(s)
	l, err := engine.FetchInventory(cmd.Context(), cfg, o.wait, o.poll, a.stop)
	if err != nil {
		s.Close()
		return nil, nil, l, err
	}
	if l.Pending {
		a.out.Summary(inventoryPending{Command: cmd.Name(), Target: s.target.Location, Pending: true, Job: l.Job.JobID})
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
			a.lockMaySet, a.lockRebuild = o.rebuild, o.rebuild // a rebuilt catalogue learns the target's lock
			// Only a rebuild writes backups into the catalogue: only then
			// does the target become its default.
			mode := listStore
			if o.rebuild {
				mode = writeStore
			}
			s, cfg, l, err := a.listing(cmd, o, mode, engine.StoreUse{NeedKey: o.rebuild, Look: true})
			if s == nil || err != nil {
				return err
			}
			defer s.Close()
			sum := inventorySummary{Command: "inventory", Target: s.target.Location, InventoryDate: l.Date, Archives: len(l.Archives)}
			if !o.rebuild {
				a.out.Summary(sum)
				return nil
			}
			res, err := engine.Rebuild(cmd.Context(), cfg, l, engine.WaitOptions{Wait: o.wait, Poll: o.poll, Stop: a.stop})
			if errors.Is(err, engine.ErrRebuildKey) {
				return usagef("give the key these backups were made with: --encryption-key-file FILE; nothing was added to the catalogue", "%v", err)
			}
			if err != nil {
				return err
			}
			d := res.Decoded
			sum.Rebuild = &rebuildJSON{Catalogue: a.g.db, Added: res.Added, Entries: res.Entries, FromRecords: res.Records.Stats.Versions - res.Records.Stats.Entries,
				FromPacks: res.FromPacks, Legacy: res.Legacy, AlreadyKnown: res.AlreadyKnown,
				MetadataPieces: len(d.Continuations), NotGrsync: len(d.Unknown), Waiting: res.Records.Waiting + res.PacksWaiting,
				Unreadable: failuresJSON(d.Problems), problems: d.Problems}
			a.out.Summary(sum)
			a.warnUnrecordedLock(s, l)
			if len(d.Problems) > 0 || sum.Rebuild.Waiting > 0 {
				a.exitCode = exitPartial
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.rebuild, "rebuild", false, "add what the archives describe to the catalogue")
	o.addFlags(cmd)
	return cmd
}

// warnUnrecordedLock warns after a rebuild when the store's objects are
// locked but the catalogue records no lock for the target: syncs would
// store new objects without one and extend none.
func (a *app) warnUnrecordedLock(s *session, l engine.Listing) {
	if s.target.LockMode != "" {
		return
	}
	for _, ar := range l.Archives {
		if ar.Lock.Mode != "" {
			m := strings.ToLower(string(ar.Lock.Mode))
			a.log.Warn(fmt.Sprintf("the store's objects are locked (%s) but the catalogue records no object lock for %s: syncs would neither lock new objects nor extend locks; "+
				"run grsync inventory --rebuild again with --object-lock %s [--lock-days N] (N: the days new objects were locked for)", m, s.target.Location, m))
			return
		}
	}
}

// inventoryPending says the store is still preparing its inventory (JSON
// "summary" with pending true, for inventory and verify).
type inventoryPending struct {
	Command string `json:"command"`
	Target  string `json:"target"`
	Pending bool   `json:"pending"`
	Job     string `json:"job"`
}

func (inventoryPending) MessageType() string { return "summary" }
func (p inventoryPending) WriteText(w io.Writer) {
	fmt.Fprintf(w, "the inventory of %s is being prepared (job %s); run the same command again later, or add --wait\n", p.Target, p.Job)
}

// inventorySummary is what inventory found (JSON "summary").
type inventorySummary struct {
	Command       string       `json:"command"` // "inventory"
	Target        string       `json:"target"`
	InventoryDate time.Time    `json:"inventory_date"`
	Archives      int          `json:"archives"`
	Rebuild       *rebuildJSON `json:"rebuild,omitempty"` // with --rebuild
}

type rebuildJSON struct {
	Catalogue      string        `json:"catalogue"`
	Added          int           `json:"added"`        // file versions added
	Entries        int           `json:"entries"`      // folder and symlink versions added
	FromRecords    int           `json:"from_records"` // of them, from the store's version records
	FromPacks      int           `json:"from_packs"`   // of them, from pack indexes no records name
	Legacy         int           `json:"legacy"`       // of them, from the Python tool
	Waiting        int           `json:"waiting"`      // records objects and packs that need a retrieval first
	AlreadyKnown   int           `json:"already_known"`
	MetadataPieces int           `json:"metadata_pieces"`
	NotGrsync      int           `json:"not_grsync"`
	Unreadable     []failureJSON `json:"unreadable"`
	problems       []engine.Failure
}

func (inventorySummary) MessageType() string { return "summary" }

func (r inventorySummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "inventory of %s taken %s: %s\n", r.Target, r.InventoryDate.Local().Format(time.DateTime), ui.Count(r.Archives, "archive"))
	if b := r.Rebuild; b != nil {
		fmt.Fprintf(w, "rebuilt the catalogue %s: %s added (%d from version records, %d from pack indexes, %d from the Python tool)",
			b.Catalogue, ui.Count(b.Added, "file version"), b.FromRecords, b.FromPacks, b.Legacy)
		if b.Entries > 0 {
			fmt.Fprintf(w, ", %s of folders and symlinks", ui.Count(b.Entries, "version"))
		}
		fmt.Fprintf(w, ", %d already known, %s, %s not made by grsync\n", b.AlreadyKnown,
			ui.Count(b.MetadataPieces, "metadata piece"), ui.Count(b.NotGrsync, "archive"))
		if b.Waiting > 0 {
			fmt.Fprintf(w, "  %s need a retrieval before they can be read\n", ui.Count(b.Waiting, "records object or pack"))
		}
		if len(b.problems) > 0 {
			fmt.Fprintf(w, "  %s could not be read:\n", ui.Count(len(b.problems), "archive"))
			writeFailures(w, b.problems)
		}
	}
}
