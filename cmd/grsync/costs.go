package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/store/s3store"
	"github.com/grsync/grsync/internal/store/vault"
	"github.com/grsync/grsync/internal/ui"
)

// costOptions are the price flags of the commands that put a price on
// their plan: --prices FILE, and --max-cost USD where a plan can be refused.
type costOptions struct {
	prices  string
	maxCost string
	max     cost.Money
	hasMax  bool
}

func (o *costOptions) addFlags(fs *pflag.FlagSet, withMax bool) {
	fs.StringVar(&o.prices, "prices", "", "prices file (JSON, see docs/COSTS.md) replacing figures of the built-in us-east-1 price table")
	if withMax {
		fs.StringVar(&o.maxCost, "max-cost", "", "refuse (exit 2, nothing requested) a plan whose estimate is above USD, e.g. --max-cost 5")
	}
}

// load checks --max-cost and reads the price table.
func (o *costOptions) load() (*cost.Prices, error) {
	if o.maxCost != "" {
		m, err := cost.ParseMoney(o.maxCost)
		if err != nil {
			return nil, usagef("e.g. --max-cost 5 or --max-cost 0.50 (US dollars)", "--max-cost: %v", err)
		}
		o.max, o.hasMax = m, true
	}
	if o.prices == "" {
		return cost.Default(), nil
	}
	p, err := cost.ReadFile(o.prices)
	if err != nil {
		return nil, usagef("fix the file (docs/COSTS.md lists its fields), or leave out --prices for the built-in table", "%v", err)
	}
	return p, nil
}

// check refuses a plan whose estimate is above --max-cost.
func (o *costOptions) check(what string, total cost.Money) error {
	if !o.hasMax || total <= o.max {
		return nil
	}
	return usagef("raise --max-cost, or make the plan smaller (fewer paths, another --tier); prices are estimates",
		"the %s is estimated at %s, above --max-cost %s: nothing was requested or changed", what, total, o.max)
}

// estimateJSON is an estimate in JSON: amounts are US dollars, as exact
// decimal numbers.
type estimateJSON struct {
	TotalUSD json.Number `json:"total_usd"`
	Lines    []lineJSON  `json:"lines"`
	Notes    []string    `json:"notes"`
}

type lineJSON struct {
	What         string      `json:"what"`
	Quantity     float64     `json:"quantity"`
	Unit         string      `json:"unit"`
	Per          float64     `json:"per"`
	UnitPriceUSD json.Number `json:"unit_price_usd"`
	AmountUSD    json.Number `json:"amount_usd"`
}

func usd(m cost.Money) json.Number { return json.Number(m.Decimal()) }

func newEstimateJSON(e cost.Estimate) estimateJSON {
	out := estimateJSON{TotalUSD: usd(e.Total), Lines: []lineJSON{}, Notes: []string{}}
	for _, l := range e.Lines {
		out.Lines = append(out.Lines, lineJSON{What: l.What, Quantity: l.Quantity, Unit: l.Unit, Per: l.Per,
			UnitPriceUSD: usd(l.UnitPrice), AmountUSD: usd(l.Amount)})
	}
	out.Notes = append(out.Notes, e.Notes...)
	return out
}

// writeEstimate prints an estimate's lines indented, then its total.
func writeEstimate(w io.Writer, indent string, e cost.Estimate) {
	for _, line := range strings.Split(strings.TrimRight(e.String(), "\n"), "\n") {
		fmt.Fprintf(w, "%s%s\n", indent, line)
	}
}

// uploadOptions says how the target's store sends objects, for estimates.
func (a *app) uploadOptions(location string) cost.UploadOptions {
	switch {
	case strings.HasPrefix(location, "s3:"):
		part := int64(s3store.DefaultPartSize)
		if a.partSize >= s3store.MinPartSize {
			part = a.partSize
		}
		return cost.UploadOptions{PartSize: part, HeadPerObject: true, SidecarPerMultipart: true}
	case strings.HasPrefix(location, "glacier:"):
		part := int64(vault.DefaultPartSize)
		if a.partSize > 0 {
			part = a.partSize
		}
		return cost.UploadOptions{PartSize: part}
	}
	return cost.UploadOptions{}
}

// priced reports whether the target at location bills anything.
func priced(location string) bool {
	_, ok := engine.PriceClass(location, "", "")
	return ok
}

// recordsBytesPerFile is about what a file version adds to the version
// records a sync stores (a JSON line with its path, times, hash and piece).
const recordsBytesPerFile = 300

// syncEstimate is the price of what a sync would upload.
type syncEstimate struct {
	priced     bool
	class      cost.Class
	objects    int64 // objects the content goes into
	upload     cost.UploadEstimate
	total      cost.Estimate // requests and the first month
	commitment cost.Estimate // requests and the minimum storage duration
}

// held is what --max-cost is held against: what the upload commits to,
// its requests and at least a month of storage, or the class's minimum
// duration when that is longer.
func (e syncEstimate) held() cost.Money { return max(e.total.Total, e.commitment.Total) }

// estimateSync prices uploading files of the given sizes (size → count) to
// the target at location: in packs of pk.size (or one object per file),
// plus the version records, before compression (which only lowers it) and
// deduplication (found while uploading).
func (a *app) estimateSync(location string, sizes map[int64]int64, pk packOptions, prices *cost.Prices) (syncEstimate, error) {
	var e syncEstimate
	e.class, e.priced = engine.PriceClass(location, a.storageClassOf(location), "")
	if !e.priced {
		return e, nil
	}
	var groups []cost.Objects
	var files, bytes int64
	for size, n := range sizes {
		if size <= 0 {
			continue
		}
		files += n
		bytes += size * n
		if pk.size == 0 {
			groups = append(groups, cost.Objects{Count: n, Bytes: size * n})
		}
	}
	if pk.size > 0 && bytes > 0 {
		full := bytes / pk.size
		if full > 0 {
			groups = append(groups, cost.Objects{Count: full, Bytes: full * pk.size})
		}
		if rest := bytes % pk.size; rest > 0 {
			groups = append(groups, cost.Objects{Count: 1, Bytes: rest})
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Bytes < groups[j].Bytes })
	for _, g := range groups {
		e.objects += g.Count
	}
	opts := a.uploadOptions(location)
	var err error
	if e.upload, err = prices.Upload(e.class, opts, groups...); err != nil {
		return e, err
	}
	e.total, e.commitment = e.upload.Total, e.upload.Commitment
	if files > 0 {
		hot := e.class
		if strings.HasPrefix(location, "s3:") {
			hot = cost.Class(pk.catalogueClass)
		}
		rec, err := prices.Upload(hot, opts, cost.Objects{Count: 1, Bytes: files * recordsBytesPerFile})
		if err != nil {
			return e, err
		}
		e.total = cost.Sum(e.total, rec.Total)
		e.commitment = cost.Sum(e.commitment, rec.Commitment)
	}
	return e, nil
}

// syncPrice is the price of a sync's plan (JSON "sync_estimate").
type syncPrice struct {
	Target     string       `json:"target"`
	Class      string       `json:"class"`
	Objects    int64        `json:"objects"`    // objects the content goes into (packs, or one per file)
	Estimate   estimateJSON `json:"estimate"`   // requests and the first month of storage
	Commitment estimateJSON `json:"commitment"` // requests and the class's minimum storage duration
	MinDays    int          `json:"min_days"`
	HeldUSD    json.Number  `json:"max_cost_compared_usd"` // what --max-cost is held against
	Disclaimer string       `json:"disclaimer"`
	e          syncEstimate
}

func newSyncPrice(target string, e syncEstimate, prices *cost.Prices) syncPrice {
	return syncPrice{Target: target, Class: string(e.class), Objects: e.objects, Estimate: newEstimateJSON(e.total),
		Commitment: newEstimateJSON(e.commitment), MinDays: e.upload.MinDays, HeldUSD: usd(e.held()),
		Disclaimer: prices.Disclaimer(), e: e}
}

func (syncPrice) MessageType() string { return "sync_estimate" }

func (p syncPrice) WriteText(w io.Writer) {
	fmt.Fprintf(w, "  estimate: %s into %s, before compression and deduplication (which only lower it):\n", ui.Count(int(p.Objects), "object"), p.Class)
	writeEstimate(w, "    ", p.e.total)
	if p.MinDays > 0 {
		fmt.Fprintf(w, "  %s bills at least %d days of storage: deleting it all at once would still cost %s\n", p.Class, p.MinDays, p.e.commitment.Total)
	}
	fmt.Fprintf(w, "  %s\n", p.Disclaimer)
}
