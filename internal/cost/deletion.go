package cost

import (
	"fmt"
	"time"
)

// Object is one stored object (or vault archive), as prune sees it.
type Object struct {
	Class    Class
	Size     int64     // stored size in bytes
	Uploaded time.Time // when the store accepted it
}

// ReasonKind says why an object should not be deleted before a time.
type ReasonKind int

// Reason kinds.
const (
	// MinimumDuration: the class bills a minimum storage duration, so an
	// earlier deletion pays for the remaining days. Overridable (with an
	// explicit flag and the fee shown).
	MinimumDuration ReasonKind = iota + 1
	// ObjectLock: an S3 Object Lock retention date; the store refuses the
	// deletion before it. Not overridable.
	ObjectLock
)

// Reason is one reason an object should not be deleted before Until.
type Reason struct {
	Kind  ReasonKind
	Until time.Time
	Why   string // a sentence for the user
}

// ObjectLockReason is the Reason an S3 Object Lock retention gives, for
// the caller to pass to EarliestDelete: its mode (GOVERNANCE, COMPLIANCE,
// or "" if unknown) and retain-until date.
func ObjectLockReason(mode string, retainUntil time.Time) Reason {
	what := "S3 Object Lock"
	if mode != "" {
		what += " (" + mode + " mode)"
	}
	return Reason{Kind: ObjectLock, Until: retainUntil,
		Why: fmt.Sprintf("%s retains it until %s", what, retainUntil.UTC().Format(time.RFC3339))}
}

// EarliestDelete returns the earliest time obj can be deleted without a
// fee or a refusal, and every reason that sets a time (its class's minimum
// storage duration, then the extra reasons the caller passes, such as an
// ObjectLockReason). The time is the latest of the reasons' times, or
// obj.Uploaded when there are none; reasons whose time has passed are
// included, and the caller shows those with Until after now. An object of
// a class the table does not know, or whose class is not recorded (Class
// ""), is held for the longest minimum duration in the table, with a
// reason saying so.
//
// This is the one place prune asks.
func (p *Prices) EarliestDelete(obj Object, extra ...Reason) (time.Time, []Reason) {
	var reasons []Reason
	if cp, err := p.Class(obj.Class); err != nil {
		longest := 0
		for _, c := range p.Classes {
			longest = max(longest, c.MinDays)
		}
		if longest > 0 {
			until := obj.Uploaded.Add(time.Duration(longest) * 24 * time.Hour)
			what := fmt.Sprintf("storage class %q is not in the price table", obj.Class)
			if obj.Class == "" {
				what = "its storage class is not recorded"
			}
			reasons = append(reasons, Reason{Kind: MinimumDuration, Until: until,
				Why: fmt.Sprintf("%s: assuming the longest minimum storage duration, %d days from its upload on %s",
					what, longest, day(obj.Uploaded))})
		}
	} else if cp.MinDays > 0 {
		until := obj.Uploaded.Add(time.Duration(cp.MinDays) * 24 * time.Hour)
		reasons = append(reasons, Reason{Kind: MinimumDuration, Until: until,
			Why: fmt.Sprintf("%s bills at least %d days of storage: uploaded %s, deleting before %s pays the remaining days",
				className(obj.Class), cp.MinDays, day(obj.Uploaded), day(until))})
	}
	reasons = append(reasons, extra...)
	t := obj.Uploaded
	for _, r := range reasons {
		if r.Until.After(t) {
			t = r.Until
		}
	}
	return t, reasons
}

// EarlyDeletion estimates the fee for deleting obj at time at: the storage
// of its billed size (BilledBytes: the minimum billable size and the
// per-object index billed at the class's price) for the days left of the
// class's minimum storage duration, prorated by the day (a month is 30
// days). Empty (total 0) when the minimum has passed or the class has none.
func (p *Prices) EarlyDeletion(obj Object, at time.Time) (Estimate, error) {
	cp, err := p.Class(obj.Class)
	if err != nil {
		return Estimate{}, err
	}
	if obj.Size < 0 {
		return Estimate{}, fmt.Errorf("negative object size %d", obj.Size)
	}
	var e Estimate
	minimum := time.Duration(cp.MinDays) * 24 * time.Hour
	age := max(at.Sub(obj.Uploaded), 0)
	if age >= minimum {
		return e, nil
	}
	left := (minimum - age).Hours() / 24
	e.gbMonths(fmt.Sprintf("early deletion: %s of the %d-day minimum left (%s)", formatDays(left), cp.MinDays, className(obj.Class)),
		float64(cp.BilledBytes(obj.Size)), left/daysPerMonth, cp.StoragePerGBMonth)
	return e, nil
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// formatDays prints a number of days: "1 day", "12 days", "0.5 days".
func formatDays(d float64) string {
	if d == 1 {
		return "1 day"
	}
	return formatQuantity(d) + " days"
}
