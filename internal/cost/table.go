package cost

import (
	"fmt"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Size units as AWS bills them: a "GB" on an AWS bill is 2^30 bytes and a
// "KB" of per-object overhead is 1,024 bytes.
const (
	KB = 1 << 10
	MB = 1 << 20
	GB = 1 << 30
)

// daysPerMonth is the month AWS prorates by: a GB-month is 30 days of a GB
// in minimum-duration and early-deletion charges.
const daysPerMonth = 30

// DefaultRestoreDays is how long a restored copy of a GLACIER or
// DEEP_ARCHIVE object stays when the caller gives no --days (grsync's
// default).
const DefaultRestoreDays = 7

// Class is an S3 storage class, or Vault for an Amazon S3 Glacier vault
// (the original Glacier service).
type Class string

// The classes the price table knows.
const (
	Standard           Class = "STANDARD"
	IntelligentTiering Class = "INTELLIGENT_TIERING"
	StandardIA         Class = "STANDARD_IA"
	OneZoneIA          Class = "ONEZONE_IA"
	GlacierIR          Class = "GLACIER_IR"
	Glacier            Class = "GLACIER" // S3 Glacier Flexible Retrieval
	DeepArchive        Class = "DEEP_ARCHIVE"
	Vault              Class = "VAULT" // an Amazon S3 Glacier vault
)

// Classes returns every class of the table, warmest first.
func Classes() []Class {
	return []Class{Standard, IntelligentTiering, StandardIA, OneZoneIA, GlacierIR, Glacier, DeepArchive, Vault}
}

// Wait is the typical time between a retrieval request and readable data.
// Zero is "immediate"; Min 0 with Max set is "within Max".
type Wait struct {
	Min, Max time.Duration
}

// String prints the wait for an "expected wait" line: "immediate",
// "1–5 minutes", "3–5 hours", "within 12 hours".
func (w Wait) String() string {
	switch {
	case w.Max <= 0:
		return "immediate"
	case w.Min <= 0:
		return "within " + humanDuration(w.Max)
	case sameUnit(w.Min, w.Max):
		n, unit := durationUnit(w.Max)
		m, _ := durationUnit(w.Min)
		return fmt.Sprintf("%d–%d %s", m, n, unit)
	default:
		return humanDuration(w.Min) + " to " + humanDuration(w.Max)
	}
}

func sameUnit(a, b time.Duration) bool {
	_, ua := durationUnit(a)
	_, ub := durationUnit(b)
	return ua == ub
}

// durationUnit expresses d in whole hours, else whole minutes, else
// seconds (rounded down).
func durationUnit(d time.Duration) (int64, string) {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return int64(d / time.Hour), "hours"
	case d >= time.Minute && d%time.Minute == 0:
		return int64(d / time.Minute), "minutes"
	default:
		return int64(d / time.Second), "seconds"
	}
}

func humanDuration(d time.Duration) string {
	n, unit := durationUnit(d)
	if n == 1 {
		unit = strings.TrimSuffix(unit, "s")
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// TierPrices is what one retrieval tier of an archive class costs.
type TierPrices struct {
	PerGB   Money // per GB retrieved (restored or, for a vault, read by the job)
	Per1000 Money // per 1,000 restore requests (S3) or retrieval jobs (vault)
	Wait    Wait  // typical time until the data can be read
}

// ClassPrices is the price list and the billing rules of one class.
type ClassPrices struct {
	StoragePerGBMonth Money // per GB-month stored
	// PutPer1000 is per 1,000 PUT, COPY, POST and LIST requests. A
	// multipart upload's initiate, each part and complete count one each.
	// For a vault: per 1,000 upload requests, counted the same way.
	PutPer1000 Money
	// GetPer1000 is per 1,000 GET, HEAD and other requests (a vault has no
	// such charge: downloading a job's output is not a billed request).
	GetPer1000        Money
	TransitionPer1000 Money // per 1,000 lifecycle transitions into the class
	// RetrievalPerGB is per GB read from a class that is read directly
	// (STANDARD_IA, ONEZONE_IA, GLACIER_IR); archive classes use Tiers.
	RetrievalPerGB Money
	// Tiers are the retrieval tiers of an archive class (GLACIER,
	// DEEP_ARCHIVE, VAULT); nil for classes read directly. DEEP_ARCHIVE has
	// no Expedited tier.
	Tiers map[store.Tier]TierPrices
	// MinDays is the minimum storage duration: an object deleted earlier
	// is billed for the remaining days.
	MinDays int
	// MinBillableBytes is the size a smaller object is billed as.
	MinBillableBytes int64
	// OverheadStandardBytes is billed per object at STANDARD's storage
	// price (the 8 KB S3 keeps for the name and metadata of an archived
	// object); OverheadClassBytes at this class's (the 32 KB index).
	OverheadStandardBytes int64
	OverheadClassBytes    int64
	// MonitoringPer1000Objects is INTELLIGENT_TIERING's monthly monitoring
	// and automation charge, for objects of MonitoringMinBytes or more.
	MonitoringPer1000Objects Money
	MonitoringMinBytes       int64
}

// Archive reports whether objects of the class must be restored (or, for a
// vault, retrieved by a job) before they can be read.
func (c ClassPrices) Archive() bool { return c.Tiers != nil }

// BilledBytes is the size an object of size bytes is billed as at the
// class's storage price: rounded up to the minimum billable size, plus the
// per-object overhead billed at the class's price. (The overhead billed at
// STANDARD's price is not included.)
func (c ClassPrices) BilledBytes(size int64) int64 {
	return max(size, c.MinBillableBytes) + c.OverheadClassBytes
}

// Prices is a price table: the built-in one (Default) or one read from a
// prices file (Parse, ReadFile). Estimators are methods of it.
type Prices struct {
	Date   string // YYYY-MM-DD the prices were read
	Region string // AWS region they apply to
	Source string // where they come from
	// File names the prices file applied on top of the built-in table, ""
	// for the built-in table alone.
	File string
	// TransferOutPerGB is per GB transferred out of AWS to the internet
	// (downloads of restored data), first price tier.
	TransferOutPerGB Money
	// TransferOutFreeGB is the monthly allowance AWS does not bill (100 GB
	// a month, shared by all services of the account). Estimates do not
	// subtract it, because the rest of the account's traffic is unknown;
	// they say so in a note.
	TransferOutFreeGB int64
	Classes           map[Class]ClassPrices
}

// Class returns the prices of c, or an error naming the classes known.
func (p *Prices) Class(c Class) (ClassPrices, error) {
	cp, ok := p.Classes[c]
	if !ok {
		names := make([]string, 0, len(p.Classes))
		for _, k := range Classes() {
			names = append(names, string(k))
		}
		return ClassPrices{}, fmt.Errorf("no prices for storage class %q: use one of %s", c, strings.Join(names, ", "))
	}
	return cp, nil
}

// Disclaimer is the sentence the CLI prints under every estimate.
func (p *Prices) Disclaimer() string {
	if p.File != "" {
		return fmt.Sprintf("estimates from the price table of %s (%s, with %s); actual bills may differ", p.Date, p.Region, p.File)
	}
	return fmt.Sprintf("estimates from the price table of %s (%s); actual bills may differ", p.Date, p.Region)
}

// clone returns a deep copy (tier maps included).
func (p *Prices) clone() *Prices {
	q := *p
	q.Classes = make(map[Class]ClassPrices, len(p.Classes))
	for c, cp := range p.Classes {
		if cp.Tiers != nil {
			t := make(map[store.Tier]TierPrices, len(cp.Tiers))
			for k, v := range cp.Tiers {
				t[k] = v
			}
			cp.Tiers = t
		}
		q.Classes[c] = cp
	}
	return &q
}

// Where the built-in table comes from. docs/COSTS.md lists, figure by
// figure, which were read on AWS's own pages and which are the best-known
// public figures.
const (
	DefaultDate   = "2026-12-05"
	DefaultRegion = "us-east-1"
	DefaultSource = "AWS list prices for US East (N. Virginia): https://aws.amazon.com/s3/pricing/, " +
		"https://aws.amazon.com/s3/glacier/pricing/ (vaults), " +
		"https://docs.aws.amazon.com/AmazonS3/latest/userguide/archival-storage.html (per-object overhead); see docs/COSTS.md"
)

// usd turns a decimal dollar literal of the table into Money. The table is
// written in the units of AWS's pages; a typo panics in every test.
func usd(s string) Money {
	whole, frac, dot := strings.Cut(s, ".")
	m, err := parseDecimal(whole, frac, dot)
	if err != nil {
		panic("cost: bad price literal " + s)
	}
	return m
}

// Default returns the built-in us-east-1 price table (a fresh copy each
// time; callers may change it).
func Default() *Prices {
	hours := func(a, b int) Wait { return Wait{time.Duration(a) * time.Hour, time.Duration(b) * time.Hour} }
	minutes := func(a, b int) Wait { return Wait{time.Duration(a) * time.Minute, time.Duration(b) * time.Minute} }
	overhead := func(cp ClassPrices) ClassPrices {
		cp.OverheadStandardBytes, cp.OverheadClassBytes = 8*KB, 32*KB
		return cp
	}
	return &Prices{
		Date:              DefaultDate,
		Region:            DefaultRegion,
		Source:            DefaultSource,
		TransferOutPerGB:  usd("0.09"),
		TransferOutFreeGB: 100,
		Classes: map[Class]ClassPrices{
			Standard: {
				StoragePerGBMonth: usd("0.023"),
				PutPer1000:        usd("0.005"),
				GetPer1000:        usd("0.0004"),
			},
			IntelligentTiering: {
				// Frequent Access tier: what a new object is billed at
				// for its first 30 days (an upper bound afterwards).
				StoragePerGBMonth:        usd("0.023"),
				PutPer1000:               usd("0.005"),
				GetPer1000:               usd("0.0004"),
				TransitionPer1000:        usd("0.01"),
				MonitoringPer1000Objects: usd("0.0025"),
				MonitoringMinBytes:       128 * KB,
			},
			StandardIA: {
				StoragePerGBMonth: usd("0.0125"),
				PutPer1000:        usd("0.01"),
				GetPer1000:        usd("0.001"),
				TransitionPer1000: usd("0.01"),
				RetrievalPerGB:    usd("0.01"),
				MinDays:           30,
				MinBillableBytes:  128 * KB,
			},
			OneZoneIA: {
				StoragePerGBMonth: usd("0.01"),
				PutPer1000:        usd("0.01"),
				GetPer1000:        usd("0.001"),
				TransitionPer1000: usd("0.01"),
				RetrievalPerGB:    usd("0.01"),
				MinDays:           30,
				MinBillableBytes:  128 * KB,
			},
			GlacierIR: {
				StoragePerGBMonth: usd("0.004"),
				PutPer1000:        usd("0.02"),
				GetPer1000:        usd("0.01"),
				TransitionPer1000: usd("0.02"),
				RetrievalPerGB:    usd("0.03"),
				MinDays:           90,
				MinBillableBytes:  128 * KB,
			},
			Glacier: overhead(ClassPrices{
				StoragePerGBMonth: usd("0.0036"),
				PutPer1000:        usd("0.03"),
				GetPer1000:        usd("0.0004"),
				TransitionPer1000: usd("0.03"),
				MinDays:           90,
				Tiers: map[store.Tier]TierPrices{
					store.TierExpedited: {PerGB: usd("0.03"), Per1000: usd("10"), Wait: minutes(1, 5)},
					store.TierStandard:  {PerGB: usd("0.01"), Per1000: usd("0.05"), Wait: hours(3, 5)},
					store.TierBulk:      {PerGB: 0, Per1000: 0, Wait: hours(5, 12)},
				},
			}),
			DeepArchive: overhead(ClassPrices{
				StoragePerGBMonth: usd("0.00099"),
				PutPer1000:        usd("0.05"),
				GetPer1000:        usd("0.0004"),
				TransitionPer1000: usd("0.05"),
				MinDays:           180,
				Tiers: map[store.Tier]TierPrices{
					store.TierStandard: {PerGB: usd("0.02"), Per1000: usd("0.10"), Wait: hours(0, 12)},
					store.TierBulk:     {PerGB: usd("0.0025"), Per1000: usd("0.025"), Wait: hours(0, 48)},
				},
			}),
			Vault: {
				StoragePerGBMonth:  usd("0.0036"),
				PutPer1000:         usd("0.03"),
				MinDays:            90,
				OverheadClassBytes: 32 * KB,
				Tiers: map[store.Tier]TierPrices{
					store.TierExpedited: {PerGB: usd("0.03"), Per1000: usd("10"), Wait: minutes(1, 5)},
					store.TierStandard:  {PerGB: usd("0.01"), Per1000: usd("0.05"), Wait: hours(3, 5)},
					store.TierBulk:      {PerGB: usd("0.0025"), Per1000: usd("0.025"), Wait: hours(5, 12)},
				},
			},
		},
	}
}
