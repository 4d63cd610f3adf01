package s3store

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/store"
)

// The cost of immutability, as docs/COSTS.md gives it: 1,000,000 files of
// 20 KB in DEEP_ARCHIVE for a year, unpacked (one object per file) or
// packed into 64 MB objects (305 full packs and one of 11.25 MB: 306),
// locked with the defaults (210 days, extended by the nightly sync when
// fewer than 30 days are left), prices from the built-in table.
const (
	immFiles   = 1_000_000
	immBytes   = immFiles * 20 * cost.KB // 20,480,000,000
	immPacks   = 306
	immLastPak = immBytes - 305*64*cost.MB // 11,796,480
	yearDays   = 365
)

var (
	immUnpacked = []cost.Objects{{Count: immFiles, Bytes: immBytes}}
	immPacked   = []cost.Objects{{Count: 305, Bytes: 305 * 64 * cost.MB}, {Count: 1, Bytes: immLastPak}}
)

// renewals runs the extension cadence for one object kept for days days:
// locked at upload (day 0) until day lockDays; every day a sync extends
// the lock of a live object that ends within margin days to that day +
// lockDays. It returns the number of extensions and the day the lock ends.
func renewals(lockDays, margin, days int) (n, until int) {
	until = lockDays
	for day := 0; day < days; day++ {
		if until-day <= margin {
			until = day + lockDays
			n++
		}
	}
	return n, until
}

// perRequests is n requests at price per 1,000, exactly.
func perRequests(n int64, per1000 cost.Money) cost.Money {
	return cost.Money(n) * per1000 / 1000
}

func dollars(t *testing.T, what string, got cost.Money, want float64) {
	t.Helper()
	// Within a millionth of a dollar: the figures below are the table's
	// prices times counts, and months of storage rounded to the nano-dollar.
	if math.Abs(got.Dollars()-want) > 1e-6 {
		t.Errorf("%s = %s (%.9f), want %.9f", what, got, got.Dollars(), want)
	}
}

func TestCostOfImmutability(t *testing.T) {
	p := cost.Default()
	da, err := p.Class(cost.DeepArchive)
	if err != nil {
		t.Fatal(err)
	}
	std, _ := p.Class(cost.Standard)

	// Defaults: DEEP_ARCHIVE bills 180 days of every object, so a lock of
	// 180 + 30 = 210 days costs nothing while the data is kept anyway.
	lockDays := DefaultLockDays("DEEP_ARCHIVE")
	if lockDays != da.MinDays+LockMarginDays || lockDays != 210 {
		t.Fatalf("default lock of DEEP_ARCHIVE: %d days, want 180 + 30", lockDays)
	}
	// Over a year an object is extended on day 180 (to day 390) and on
	// day 360 (to day 570): 2 extensions.
	n, until := renewals(lockDays, LockMarginDays, yearDays)
	if n != 2 || until != 570 {
		t.Fatalf("a year of the cadence: %d extensions, lock until day %d; want 2 and 570", n, until)
	}

	// Each extension is one HeadObject (the current lock; GET price) and
	// one PutObjectRetention, priced here as a PUT of the object's class
	// ($0.05 per 1,000 for DEEP_ARCHIVE; AWS's pricing page does not list
	// it apart, so this is the upper bound; at STANDARD's $0.005 it would
	// be a tenth).
	//   unpacked: 2 × 1,000,000 = 2,000,000 PUTs × $0.05/1,000 = $100.00
	//             + 2,000,000 HEADs × $0.0004/1,000          =   $0.80
	//   packed:   2 × 306 = 612 PUTs × $0.05/1,000           = $0.0306
	//             + 612 HEADs × $0.0004/1,000                = $0.0002448
	ext := func(objects int64, put cost.Money) cost.Money {
		return perRequests(int64(n)*objects, put) + perRequests(int64(n)*objects, da.GetPer1000)
	}
	dollars(t, "unpacked extensions", ext(immFiles, da.PutPer1000), 100.80)
	dollars(t, "packed extensions", ext(immPacks, da.PutPer1000), 0.0308448)
	dollars(t, "unpacked extensions at STANDARD's PUT price", ext(immFiles, std.PutPer1000), 10.80)
	dollars(t, "packed extensions at STANDARD's PUT price", ext(immPacks, std.PutPer1000), 0.0033048)

	// Locking new objects costs nothing: the lock rides in the PutObject
	// or CreateMultipartUpload that stores the object. The bucket check is
	// two bucket GETs per run: 365 runs × 2 × $0.0004/1,000 = $0.000292.
	dollars(t, "bucket checks", perRequests(yearDays*2, std.GetPer1000), 0.000292)

	// For comparison, the year without a lock: uploads as grsync sends
	// them, plus 12 months of storage.
	monthU, err := p.Storage(cost.DeepArchive, immUnpacked...)
	if err != nil {
		t.Fatal(err)
	}
	monthP, _ := p.Storage(cost.DeepArchive, immPacked...)
	dollars(t, "unpacked month", monthU.Total, 0.224571228)
	dollars(t, "packed month", monthP.Total, 0.018945692)
	upU, _ := p.Upload(cost.DeepArchive, cost.UploadOptions{PartSize: 8 * cost.MB, HeadPerObject: true, SidecarPerMultipart: true}, immUnpacked...)
	upP, _ := p.Upload(cost.DeepArchive, cost.UploadOptions{PartSize: 8 * cost.MB, HeadPerObject: true, SidecarPerMultipart: true}, immPacked...)
	yearU := upU.Requests.Total + 12*monthU.Total
	yearP := upP.Requests.Total + 12*monthP.Total
	dollars(t, "unpacked year without a lock", yearU, 50.40+12*0.224571228)
	dollars(t, "packed year without a lock", yearP, 0.1543524+12*0.018945692)
	t.Logf("year without a lock: unpacked %s, packed %s; extensions: unpacked %s (%.0f%% more), packed %s (%.0f%% more)",
		yearU, yearP, ext(immFiles, da.PutPer1000), 100*ext(immFiles, da.PutPer1000).Dollars()/yearU.Dollars(),
		ext(immPacks, da.PutPer1000), 100*ext(immPacks, da.PutPer1000).Dollars()/yearP.Dollars())

	// What prune sees: an object uploaded on day 0 and extended on day
	// 360 cannot be deleted before day 570, whatever its class allows.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lockEnd := t0.AddDate(0, 0, until)
	earliest, reasons := p.EarliestDelete(cost.Object{Class: cost.DeepArchive, Size: 64 * cost.MB, Uploaded: t0},
		cost.ObjectLockReason(string(store.LockCompliance), lockEnd))
	if !earliest.Equal(lockEnd) || len(reasons) != 2 || reasons[1].Kind != cost.ObjectLock {
		t.Errorf("EarliestDelete = %v with %v, want the lock's end %v", earliest, reasons, lockEnd)
	}
	// If everything is deleted at the end of the year, the locks keep it
	// 570 - 365 = 205 days longer: 205/30 months of storage.
	//   unpacked: $0.224571228 × 205/30 = $1.534570
	//   packed:   $0.018945692 × 205/30 = $0.129462
	extra := until - yearDays
	dollars(t, "unpacked overshoot", monthU.Total*cost.Money(extra)/30, 1.534570058)
	dollars(t, "packed overshoot", monthP.Total*cost.Money(extra)/30, 0.129462230)

	// The alternative for tiny objects: lock for a year and a margin up
	// front (395 days): no extension within the year, but a deletion may
	// wait up to 395 days. Unpacked, that saves the $100.80 for at most
	// 215 more days of storage ($1.61); packed, it saves $0.03 for $0.14:
	// the default fits packs, which is how grsync stores small files.
	n395, until395 := renewals(yearDays+LockMarginDays, LockMarginDays, yearDays)
	if n395 != 0 || until395 != 395 {
		t.Errorf("395-day lock: %d extensions, until day %d; want 0 and 395", n395, until395)
	}
	dollars(t, "unpacked wait of a 395-day lock beyond 180 days", monthU.Total*cost.Money(395-180)/30, 1.609427134)
	dollars(t, "packed wait of a 395-day lock beyond 180 days", monthP.Total*cost.Money(395-180)/30, 0.135777460)

	// Break-even of one extension ($0.00005 + $0.0000004) against a
	// month of one object's storage: ~24 days of a 64 MB pack, ~19 years
	// of a 20 KB object.
	one := ext(1, da.PutPer1000) / cost.Money(n)
	dollars(t, "one extension", one, 0.0000504)
	packMonth, _ := p.Storage(cost.DeepArchive, cost.Objects{Count: 1, Bytes: 64 * cost.MB})
	if days := one.Dollars() / packMonth.Total.Dollars() * 30; days < 24 || days >= 25 {
		t.Errorf("one extension = %.1f days of a 64 MB pack, want about 24", days)
	}
	if years := one.Dollars() / (monthU.Total.Dollars() / immFiles) / 12; years < 18.5 || years >= 19.5 {
		t.Errorf("one extension = %.1f years of a 20 KB object, want about 19", years)
	}
}

// The version records of a nightly sync that always changes something
// (docs/COSTS.md, "Version records"): one small STANDARD object a day,
// all kept and so all extended with the same cadence: 190, 930 and 1,670
// extensions in the first three years, at STANDARD's PUT and GET prices.
func TestCostOfLockedRecords(t *testing.T) {
	p := cost.Default()
	lockDays := DefaultLockDays("DEEP_ARCHIVE") // the target's; records objects get it too
	var until []int                             // each records object's lock end, by day stored
	perYear := make([]int64, 3)
	for day := 0; day < 3*yearDays; day++ {
		for i := range until {
			if until[i]-day <= LockMarginDays {
				until[i] = day + lockDays
				perYear[day/yearDays]++
			}
		}
		until = append(until, day+lockDays)
	}
	want := []int64{190, 930, 1670}
	for y, n := range perYear {
		if n != want[y] {
			t.Errorf("year %d: %d extensions of records objects, want %d", y+1, n, want[y])
		}
		e, err := p.LockExtensions(cost.Standard, n)
		if err != nil {
			t.Fatal(err)
		}
		dollars(t, fmt.Sprintf("year %d", y+1), e.Total, float64(want[y])*(0.005+0.0004)/1000)
	}
}
