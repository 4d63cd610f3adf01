package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

func (a *app) costCommand() *cobra.Command {
	var co costOptions
	cmd := &cobra.Command{
		Use:   "cost [--prices FILE]",
		Short: "What the target's stored objects cost a month now, by storage class",
		Long: `Estimate what the objects the catalogue records in the target cost a month now,
by storage class: their data, the per-object overheads of the archive classes
(docs/COSTS.md), and how much of it no kept version uses (what grsync prune can
free, once their minimum storage duration is over). Reads the catalogue only:
no store, no credentials. Prices are estimates from the built-in us-east-1
table, or from --prices FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			prices, err := co.load()
			if err != nil {
				return err
			}
			s, err := a.openSessionFor(readCatalog)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg := a.engineConfig(s)
			r, err := engine.Costs(cfg, prices)
			if err != nil {
				return asUsage(err, "correct the class with a prices file (--prices), see docs/COSTS.md")
			}
			for _, c := range r.Classes {
				a.out.Result(costClass{Class: c.Name, Objects: c.Objects, Bytes: c.Bytes, Unrecorded: c.Unrecorded,
					Monthly: newEstimateJSON(c.Monthly), monthly: c.Monthly, priced: r.Priced})
			}
			a.out.Summary(costSummary{Command: "cost", Target: s.target.Location, Priced: r.Priced, Objects: r.Objects, Bytes: r.Bytes,
				MonthlyUSD: usd(r.Monthly.Total), UnusedObjects: r.UnusedObjects, UnusedBytes: r.UnusedBytes,
				UnusedMonthlyUSD: usd(r.UnusedMonthly.Total), PartialDeadBytes: r.PartialDeadBytes,
				PartialDeadMonthlyUSD: usd(r.PartialDeadMonthly.Total), Disclaimer: prices.Disclaimer()})
			return nil
		},
	}
	co.addFlags(cmd.Flags(), false)
	return cmd
}

// costClass is one storage class of grsync cost (JSON "cost_class").
type costClass struct {
	Class      string       `json:"class"`
	Objects    int          `json:"objects"`
	Bytes      int64        `json:"bytes"`
	Unrecorded int          `json:"unrecorded_class"` // objects whose class the catalogue did not record, priced as this one
	Monthly    estimateJSON `json:"monthly"`
	monthly    cost.Estimate
	priced     bool
}

func (costClass) MessageType() string { return "cost_class" }

func (c costClass) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s: %s, %s", c.Class, ui.Count(c.Objects, "object"), ui.Bytes(c.Bytes))
	if !c.priced {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, ", %s a month\n", c.monthly.Total)
	if c.Unrecorded > 0 {
		fmt.Fprintf(w, "  %s of them have no recorded class (older catalogues): priced as %s\n", ui.Count(c.Unrecorded, "object"), c.Class)
	}
	writeEstimate(w, "  ", c.monthly)
}

// costSummary is grsync cost's total (JSON "summary").
type costSummary struct {
	Command               string      `json:"command"` // "cost"
	Target                string      `json:"target"`
	Priced                bool        `json:"priced"` // false: a local store, which bills nothing
	Objects               int         `json:"objects"`
	Bytes                 int64       `json:"bytes"`
	MonthlyUSD            json.Number `json:"monthly_usd"`
	UnusedObjects         int         `json:"unused_objects"` // no kept version uses them: prune's
	UnusedBytes           int64       `json:"unused_bytes"`
	UnusedMonthlyUSD      json.Number `json:"unused_monthly_usd"`
	PartialDeadBytes      int64       `json:"partial_dead_bytes"` // unused bytes inside packs kept versions use in part
	PartialDeadMonthlyUSD json.Number `json:"partial_dead_monthly_usd"`
	Disclaimer            string      `json:"disclaimer"`
}

func (costSummary) MessageType() string { return "summary" }

func (s costSummary) WriteText(w io.Writer) {
	money := func(n json.Number) cost.Money {
		m, _ := cost.ParseMoney(string(n))
		return m
	}
	if !s.Priced {
		fmt.Fprintf(w, "%s holds %s (%s); a local store bills nothing\n", s.Target, ui.Count(s.Objects, "object"), ui.Bytes(s.Bytes))
		if s.UnusedObjects > 0 {
			fmt.Fprintf(w, "  %s (%s) no kept version uses: grsync prune deletes them\n", ui.Count(s.UnusedObjects, "object"), ui.Bytes(s.UnusedBytes))
		}
		return
	}
	fmt.Fprintf(w, "%s: %s (%s) cost about %s a month\n", s.Target, ui.Count(s.Objects, "object"), ui.Bytes(s.Bytes), money(s.MonthlyUSD))
	if s.UnusedObjects > 0 {
		fmt.Fprintf(w, "  %s (%s, %s a month) no kept version uses: grsync prune deletes them once their minimum storage duration is over\n",
			ui.Count(s.UnusedObjects, "object"), ui.Bytes(s.UnusedBytes), money(s.UnusedMonthlyUSD))
	}
	if s.PartialDeadBytes > 0 {
		fmt.Fprintf(w, "  %s unused inside partly used packs (%s a month): see grsync prune --repack --dry-run\n",
			ui.Bytes(s.PartialDeadBytes), money(s.PartialDeadMonthlyUSD))
	}
	fmt.Fprintf(w, "  %s\n", s.Disclaimer)
}
