package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/store"
)

// PriceClass is the price table's class of an object the catalogue records
// with class objClass in the target at location, and whether the target
// bills anything: a local store does not (ok false). Every object of a
// vault is priced as a vault's; an S3 object whose class was not recorded
// keeps class "", which the table does not know: EarliestDelete then
// holds it for the longest minimum duration, and storage estimates price
// it as fallback (the class new objects get).
func PriceClass(location, objClass, fallback string) (cost.Class, bool) {
	switch {
	case strings.HasPrefix(location, "local:"):
		return "", false
	case strings.HasPrefix(location, "glacier:"):
		return cost.Vault, true
	}
	c := strings.ToUpper(objClass)
	if c == "" {
		c = strings.ToUpper(fallback)
	}
	return cost.Class(c), true
}

// earliestDelete is when o may be deleted without a fee or a refusal, and
// why: its class's minimum storage duration (an unrecorded class is held
// for the longest one) and its Object Lock, if any. A local store's
// objects may go at once.
func (c *Config) earliestDelete(p *cost.Prices, o catalog.Object) (t Earliest) {
	t.At = o.Uploaded
	if strings.HasPrefix(c.Target.Location, "local:") {
		return t
	}
	class := cost.Class(strings.ToUpper(o.Class))
	if strings.HasPrefix(c.Target.Location, "glacier:") {
		class = cost.Vault
	}
	var extra []cost.Reason
	if o.LockMode != "" && !o.LockUntil.IsZero() {
		extra = append(extra, cost.ObjectLockReason(o.LockMode, o.LockUntil))
		t.Lock = o.LockUntil
	}
	t.At, t.Reasons = p.EarliestDelete(cost.Object{Class: class, Size: o.Size, Uploaded: o.Uploaded}, extra...)
	return t
}

// Earliest is the earliest time an object may be deleted, with its reasons.
type Earliest struct {
	At      time.Time
	Reasons []cost.Reason
	// Lock is the Object Lock's retain-until date (zero: none). Nothing
	// deletes the object before it: grsync never bypasses a lock.
	Lock time.Time
}

// ClassCost is what the target's objects of one class cost a month.
type ClassCost struct {
	Name       string // the class ("LOCAL" on a local store)
	Objects    int
	Bytes      int64
	Unrecorded int // objects without a recorded class, priced as this one
	Monthly    cost.Estimate
}

// CostReport is what the target's stored objects cost a month now.
type CostReport struct {
	Priced  bool // false: a local store, which bills nothing
	Classes []ClassCost
	Objects int
	Bytes   int64
	Monthly cost.Estimate
	// Unused* are the objects no kept version uses (prune's); PartialDead*
	// the unused bytes inside packs kept versions use in part.
	UnusedObjects      int
	UnusedBytes        int64
	UnusedMonthly      cost.Estimate
	PartialDeadBytes   int64
	PartialDeadMonthly cost.Estimate
}

// Costs estimates what the objects the catalogue records in the target
// (those prune condemned but the store may still hold included) cost a
// month, by class, from the objects table alone.
func Costs(cfg *Config, prices *cost.Prices) (CostReport, error) {
	var r CostReport
	uses, err := cfg.Catalog.ObjectUses(cfg.Target.ID)
	if err != nil {
		return r, fmt.Errorf("reading the catalogue: %w", err)
	}
	_, r.Priced = PriceClass(cfg.Target.Location, "", "")
	type acc struct {
		ClassCost
		sizes map[int64]int64
	}
	classes := map[cost.Class]*acc{}
	unused := map[cost.Class][]cost.Objects{}
	var dead []cost.Estimate
	for _, u := range uses {
		c, _ := PriceClass(cfg.Target.Location, u.Class, cfg.Class)
		name := string(c)
		if !r.Priced {
			name = "LOCAL"
		}
		a := classes[c]
		if a == nil {
			a = &acc{ClassCost: ClassCost{Name: name}, sizes: map[int64]int64{}}
			classes[c] = a
		}
		a.Objects++
		a.Bytes += u.Size
		a.sizes[u.Size]++
		if u.Class == "" && r.Priced && c != cost.Vault {
			a.Unrecorded++
		}
		r.Objects++
		r.Bytes += u.Size
		switch {
		case u.Prunable() && !u.Live():
			r.UnusedObjects++
			r.UnusedBytes += u.Size
			unused[c] = append(unused[c], cost.Objects{Count: 1, Bytes: u.Size})
		case u.Kind == catalog.ObjectPack && u.LiveBytes < u.BlobBytes:
			r.PartialDeadBytes += u.BlobBytes - u.LiveBytes
			if r.Priced {
				e, err := prices.Bytes(c, "unused bytes of partly used packs", u.BlobBytes-u.LiveBytes, 1)
				if err != nil {
					return r, err
				}
				dead = append(dead, e)
			}
		}
	}
	var all, free []cost.Estimate
	for _, c := range sortedClasses(classes) {
		a := classes[c]
		if r.Priced {
			groups := make([]cost.Objects, 0, len(a.sizes))
			for size, n := range a.sizes {
				groups = append(groups, cost.Objects{Count: n, Bytes: size * n})
			}
			sort.Slice(groups, func(i, j int) bool { return groups[i].Bytes < groups[j].Bytes })
			if a.Monthly, err = prices.Storage(c, groups...); err != nil {
				return r, err
			}
			all = append(all, a.Monthly)
			if len(unused[c]) > 0 {
				e, err := prices.Storage(c, unused[c]...)
				if err != nil {
					return r, err
				}
				free = append(free, e)
			}
		}
		r.Classes = append(r.Classes, a.ClassCost)
	}
	r.Monthly, r.UnusedMonthly, r.PartialDeadMonthly = cost.Sum(all...), cost.Sum(free...), cost.Sum(dead...)
	return r, nil
}

// RestoreCost prices a restore plan before anything is requested: per
// class, one restore request or retrieval job per object, the retrieval
// fee (on the plan's byte range of a vault object retrieved by range), the
// restored copy (S3), the GETs and the transfer out. Objects whose
// retrieval an earlier run requested and that can still be reused (and
// holds what the plan reads) are not billed again; Reused counts them.
func RestoreCost(cfg *Config, plan *RestorePlan, prices *cost.Prices, tier store.Tier, days int) (RestoreCostEstimate, error) {
	var out RestoreCostEstimate
	groups := map[cost.Class][]cost.Retrieval{}
	for _, it := range plan.Items {
		c, ok := PriceClass(cfg.Target.Location, it.Class, cfg.Class)
		if !ok {
			continue
		}
		out.Priced = true
		if old, found, err := cfg.Catalog.Retrieval(cfg.Target.ID, "archive", it.ArchiveID); err != nil {
			return out, fmt.Errorf("reading the catalogue: %w", err)
		} else if found && old.JobID != "" && (old.Expires.IsZero() || old.Expires.After(cfg.now())) && it.covered(old) {
			out.Reused++
			continue
		}
		r := cost.Retrieval{Objects: 1, Bytes: it.Size}
		switch {
		case it.Ranged(): // a vault job for a range
			r.Ranges, r.RangeBytes = 1, it.Length
		case it.Reads > 0 && c != cost.Vault:
			r.Ranges, r.RangeBytes = it.Reads, min(it.Need, it.Size)
		}
		groups[c] = append(groups[c], r)
	}
	var es []cost.Estimate
	for _, c := range sortedClasses(groups) {
		e, err := prices.Restore(c, cost.RestoreOptions{Tier: tier, Days: days}, groups[c]...)
		if err != nil {
			return out, err
		}
		if e.Wait.Max > out.Wait.Max {
			out.Wait, out.Tier = e.Wait, e.Tier
		}
		es = append(es, e.Estimate)
	}
	out.Estimate = cost.Sum(es...)
	return out, nil
}

// RestoreCostEstimate is the price of a restore plan.
type RestoreCostEstimate struct {
	cost.Estimate
	Priced bool       // false: a local store, which bills nothing
	Reused int        // objects whose earlier retrieval is reused: not billed again
	Tier   store.Tier // the tier priced ("" when every object is read directly)
	Wait   cost.Wait  // the longest typical wait
}
