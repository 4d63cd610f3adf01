package cost

import (
	"strings"
	"testing"
	"time"
)

const day24 = 24 * time.Hour

var uploaded = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestEarlyDeletion(t *testing.T) {
	p := Default()
	obj := func(c Class) Object { return Object{Class: c, Size: GB, Uploaded: uploaded} }
	for _, tc := range []struct {
		class Class
		age   int // days
		want  float64
	}{
		// GLACIER, 89 days old: 1 day of the 90 left. Billed size 1 GB +
		// 32 KB index = 1.000030517578125 GB; 1/30 month × $0.0036:
		// 1.000030517578125 × 0.00012 = $0.000120003662109.
		{Glacier, 89, 0.000120003662109},
		{Glacier, 90, 0},
		{Glacier, 91, 0},
		// DEEP_ARCHIVE, 179 days: 1 day of 180 left: 1.000030517578125 ×
		// $0.00099 / 30 = $0.000033001007080.
		{DeepArchive, 179, 0.000033001007080},
		{DeepArchive, 181, 0},
		// DEEP_ARCHIVE deleted the day it was uploaded: all 180 days, 6
		// months: 1.000030517578125 × 6 × $0.00099 = $0.005940181274414.
		{DeepArchive, 0, 0.005940181274414},
		// STANDARD_IA, 10 days: 20 days left of 30 on 1 GB (no index):
		// 20/30 × $0.0125 = $0.008333333333333.
		{StandardIA, 10, 0.008333333333333},
		{Standard, 0, 0},
	} {
		e, err := p.EarlyDeletion(obj(tc.class), uploaded.Add(time.Duration(tc.age)*day24))
		if err != nil {
			t.Fatal(err)
		}
		near(t, string(tc.class)+" after "+formatDays(float64(tc.age)), e.Total, tc.want)
		if tc.want == 0 && len(e.Lines) != 0 {
			t.Errorf("%s after %d days has lines: %v", tc.class, tc.age, e.Lines)
		}
	}
	e, _ := p.EarlyDeletion(obj(Glacier), uploaded.Add(89*day24))
	if got := e.Lines[0].What; got != "early deletion: 1 day of the 90-day minimum left (GLACIER)" {
		t.Errorf("line says %q", got)
	}
	// A small GLACIER_IR object pays for its 128 KB minimum: 10 KB object,
	// 60 days left of 90: 128 KB = 0.0001220703125 GB × 2 months × $0.004.
	e, _ = p.EarlyDeletion(Object{Class: GlacierIR, Size: 10 * KB, Uploaded: uploaded}, uploaded.Add(30*day24))
	near(t, "GLACIER_IR small", e.Total, 0.0001220703125*2*0.004)
	if _, err := p.EarlyDeletion(Object{Class: "COLD"}, uploaded); err == nil {
		t.Error("unknown class accepted")
	}
}

func TestEarliestDelete(t *testing.T) {
	p := Default()
	at, reasons := p.EarliestDelete(Object{Class: Glacier, Size: 5, Uploaded: uploaded})
	if !at.Equal(uploaded.Add(90*day24)) || len(reasons) != 1 || reasons[0].Kind != MinimumDuration {
		t.Fatalf("GLACIER: %v %+v", at, reasons)
	}
	if want := "GLACIER bills at least 90 days of storage: uploaded 2026-01-01, deleting before 2026-04-01 pays the remaining days"; reasons[0].Why != want {
		t.Errorf("reason %q", reasons[0].Why)
	}
	at, _ = p.EarliestDelete(Object{Class: DeepArchive, Uploaded: uploaded})
	if !at.Equal(uploaded.Add(180 * day24)) {
		t.Errorf("DEEP_ARCHIVE earliest %v", at)
	}
	at, reasons = p.EarliestDelete(Object{Class: Standard, Uploaded: uploaded})
	if !at.Equal(uploaded) || len(reasons) != 0 {
		t.Errorf("STANDARD: %v %+v", at, reasons)
	}

	// An Object Lock date later than the minimum duration wins; both reasons are kept.
	lock := uploaded.Add(365 * day24)
	at, reasons = p.EarliestDelete(Object{Class: DeepArchive, Uploaded: uploaded}, ObjectLockReason("COMPLIANCE", lock))
	if !at.Equal(lock) || len(reasons) != 2 || reasons[1].Kind != ObjectLock {
		t.Fatalf("with lock: %v %+v", at, reasons)
	}
	if !strings.Contains(reasons[1].Why, "S3 Object Lock (COMPLIANCE mode) retains it until 2027-01-01T00:00:00Z") {
		t.Errorf("lock reason %q", reasons[1].Why)
	}
	// An earlier lock does not shorten the minimum duration.
	at, _ = p.EarliestDelete(Object{Class: DeepArchive, Uploaded: uploaded}, ObjectLockReason("", uploaded.Add(day24)))
	if !at.Equal(uploaded.Add(180 * day24)) {
		t.Errorf("early lock: %v", at)
	}

	// A class the table does not know is held for the longest minimum (180 days).
	at, reasons = p.EarliestDelete(Object{Class: "REDUCED_REDUNDANCY", Uploaded: uploaded})
	if !at.Equal(uploaded.Add(180*day24)) || len(reasons) != 1 || !strings.Contains(reasons[0].Why, "not in the price table") {
		t.Errorf("unknown class: %v %+v", at, reasons)
	}

	at, reasons = p.EarliestDelete(Object{Uploaded: uploaded})
	if !at.Equal(uploaded.Add(180*day24)) || len(reasons) != 1 || !strings.Contains(reasons[0].Why, "its storage class is not recorded") {
		t.Errorf("no class: %v %+v", at, reasons)
	}

	// Prune's question: no fee at the earliest time, a fee a day before.
	obj := Object{Class: Glacier, Size: GB, Uploaded: uploaded}
	at, _ = p.EarliestDelete(obj)
	if e, _ := p.EarlyDeletion(obj, at); e.Total != 0 {
		t.Errorf("fee at the earliest time: %s", e.Total)
	}
	if e, _ := p.EarlyDeletion(obj, at.Add(-day24)); e.Total == 0 {
		t.Error("no fee a day before the earliest time")
	}
}

// Bytes prices bytes inside objects with no per-object rule; Over scales a
// month; MinimumMonths is the minimum duration in 30-day months.
func TestBytesOverAndMinimumMonths(t *testing.T) {
	p := Default()
	e, err := p.Bytes(DeepArchive, "unused bytes", GB, 1)
	if err != nil || e.Total != usd("0.00099") || len(e.Lines) != 1 || e.Lines[0].What != "unused bytes (DEEP_ARCHIVE)" {
		t.Fatalf("a GB of DEEP_ARCHIVE for a month: %+v %v", e, err)
	}
	m, _ := p.Storage(Glacier, Objects{Count: 1, Bytes: GB})
	y := m.Over(12)
	// 12 × (1 GB + 32 KB at $0.0036, 8 KB at $0.023), line by line.
	want := usd("0.0432") + amount(12*32.0/(1<<20), usd("0.0036"), 1) + amount(12*8.0/(1<<20), usd("0.023"), 1)
	if y.Total != want || y.Lines[0].What != "stored data (GLACIER) for 12 months" {
		t.Errorf("a year of a GB in GLACIER: %s, want %s (%+v)", y.Total, want, y.Lines)
	}
	if p.MinimumMonths(DeepArchive) != 6 || p.MinimumMonths(Vault) != 3 || p.MinimumMonths(Standard) != 0 || p.MinimumMonths("NOPE") != 0 {
		t.Error("minimum months")
	}
	if _, err := p.Bytes(DeepArchive, "x", -1, 1); err == nil {
		t.Error("negative bytes accepted")
	}
}
