package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

func addKeepSnapshotsFlag(f *pflag.FlagSet, p *int) {
	f.IntVar(p, "keep-snapshots", engine.DefaultKeepSnapshots,
		"catalogue snapshots the store keeps (older ones are deleted once their class allows it without a fee)")
}

// checkKeepSnapshots refuses a --keep-snapshots below 1 or absurdly high.
func checkKeepSnapshots(n int) error {
	if n < 1 || n > 100 {
		return usagef("keep at least one snapshot, e.g. --keep-snapshots 3", "invalid --keep-snapshots %d", n)
	}
	return nil
}

func (a *app) catalogueCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalogue",
		Short: "Store a snapshot of the catalogue in the target now (catalogue push)",
	}
	var keep int
	var class string
	push := &cobra.Command{
		Use:   "push",
		Short: "Store the catalogue's changes and a snapshot of it in the target now",
		Long: `Store in the target the version records not stored yet, and a snapshot of the
catalogue (compressed and encrypted like everything else) unless the newest
snapshot already holds all of it. Sync does this by itself when a snapshot is
due; push is for before a risky change, or after "grsync forget".

With the snapshots and version records in the store, "grsync recover" gives the
catalogue back from the store alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKeepSnapshots(keep); err != nil {
				return err
			}
			c := strings.ToUpper(class)
			if c != "STANDARD" && c != "GLACIER_IR" {
				return usagef("use STANDARD or GLACIER_IR: the catalogue's copies must be readable without a restore",
					"invalid --catalogue-class %q", class)
			}
			s, err := a.openSessionFor(readStore)
			if err != nil {
				return err
			}
			defer s.Close()
			if s.target.Encrypted && s.key == nil {
				return usagef("give the key with --encryption-key-file FILE", "the backups in %s are encrypted and no key was given", s.target.Location)
			}
			if err := a.checkStore(s, engine.StoreUse{Upload: true, Encrypt: s.target.Encrypted, Look: true}); err != nil {
				return err
			}
			cfg := a.engineConfig(s)
			cfg.Encrypt = s.target.Encrypted
			if cfg.HotClass != "" {
				cfg.HotClass = c
			}
			if _, err := engine.StoreRecords(cmd.Context(), cfg, 0); err != nil {
				return err
			}
			res, err := engine.MaintainSnapshots(cmd.Context(), cfg, engine.SnapshotPolicy{Keep: keep, Force: true})
			if err != nil {
				return err
			}
			a.out.Summary(pushSummary{Command: "catalogue push", Target: s.target.Location, Snapshot: newSnapshotJSON(res, nil)})
			return nil
		},
	}
	addKeepSnapshotsFlag(push.Flags(), &keep)
	push.Flags().StringVar(&class, "catalogue-class", "STANDARD", "S3 class of the snapshot: STANDARD or GLACIER_IR")
	cmd.AddCommand(push)
	return cmd
}

// pushSummary is what catalogue push did (JSON "summary").
type pushSummary struct {
	Command  string       `json:"command"`
	Target   string       `json:"target"`
	Snapshot snapshotJSON `json:"snapshot"`
}

func (pushSummary) MessageType() string { return "summary" }

func (p pushSummary) WriteText(w io.Writer) {
	if !p.Snapshot.Taken {
		fmt.Fprintf(w, "no snapshot stored in %s: %s\n", p.Target, p.Snapshot.Reason)
	} else {
		fmt.Fprintf(w, "catalogue snapshot stored in %s\n", p.Target)
	}
	p.Snapshot.writeText(w, "  ")
}

// snapshotJSON says whether a run stored a catalogue snapshot (JSON
// "snapshot" of the sync and push summaries).
type snapshotJSON struct {
	Taken       bool       `json:"taken"`
	Reason      string     `json:"reason"`
	Object      string     `json:"object,omitempty"`
	CopyBytes   int64      `json:"copy_bytes,omitempty"`   // the catalogue copy
	StoredBytes int64      `json:"stored_bytes,omitempty"` // compressed and encrypted
	Seconds     float64    `json:"duration_seconds,omitempty"`
	Deleted     []string   `json:"deleted"` // older snapshots deleted
	Held        []heldJSON `json:"held"`    // older snapshots kept past --keep-snapshots, and why
	Error       string     `json:"error,omitempty"`
	took        time.Duration
}

type heldJSON struct {
	Object string    `json:"object"`
	Until  time.Time `json:"until,omitzero"`
	Why    string    `json:"why"`
}

func newSnapshotJSON(r engine.SnapshotResult, err error) snapshotJSON {
	s := snapshotJSON{Taken: r.Taken, Reason: r.Reason, CopyBytes: r.CopyBytes, Seconds: seconds(r.Took), took: r.Took,
		Deleted: []string{}, Held: []heldJSON{}}
	if r.Taken {
		s.Object, s.StoredBytes = r.Object.ArchiveID, r.Object.Size
	}
	for _, o := range r.Deleted {
		s.Deleted = append(s.Deleted, o.ArchiveID)
	}
	for _, h := range r.Held {
		s.Held = append(s.Held, heldJSON{Object: h.Object.ArchiveID, Until: h.Until, Why: h.Why})
	}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// writeText prints one line when a snapshot was stored or failed, and
// one per older snapshot deleted or held.
func (s snapshotJSON) writeText(w io.Writer, label string) {
	switch {
	case s.Error != "":
		fmt.Fprintf(w, "%ssnapshot not stored: %s (the next run tries again)\n", label, s.Error)
	case s.Taken:
		fmt.Fprintf(w, "%ssnapshot stored: %s copy, %s stored, in %s (%s)\n", label, ui.Bytes(s.CopyBytes), ui.Bytes(s.StoredBytes),
			s.took.Round(time.Millisecond), s.Reason)
	default:
		return
	}
	pad := strings.Repeat(" ", len(label))
	if n := len(s.Deleted); n > 0 {
		fmt.Fprintf(w, "%s%s deleted (past --keep-snapshots)\n", pad, ui.Count(n, "older snapshot"))
	}
	for _, h := range s.Held {
		if !h.Until.IsZero() {
			fmt.Fprintf(w, "%ssnapshot %s kept until %s: %s\n", pad, shortID(h.Object), h.Until.Local().Format("2006-01-02"), h.Why)
		} else {
			fmt.Fprintf(w, "%ssnapshot %s kept: %s\n", pad, shortID(h.Object), h.Why)
		}
	}
}

// shortID shortens a store id for a message (vault ids are 138 characters).
func shortID(id string) string {
	if len(id) > 24 {
		return id[:12] + "…" + id[len(id)-8:]
	}
	return id
}
