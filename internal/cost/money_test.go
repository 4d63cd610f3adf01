package cost

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMoneyString(t *testing.T) {
	for _, tc := range []struct {
		m    Money
		want string
	}{
		{0, "$0.00"},
		{410_000_000, "$0.41"},
		{412_069_727, "$0.41"},
		{15_300_000, "$0.015"},
		{1_200_000, "$0.0012"},
		{30_212_402, "$0.03"},
		{100_000_000, "$0.10"},
		{1_000_000, "$0.001"},
		{400, "$0.0000004"},
		{1, "$0.000000001"},
		{999_000_000, "$1.00"},
		{995_000_000, "$1.00"},
		{994_999_999, "$0.99"},
		{Dollar, "$1.00"},
		{50 * Dollar, "$50.00"},
		{102_600_444_539, "$102.60"},
		{10_002_791_179_800, "$10,002.79"},
		{1_234_567 * Dollar, "$1,234,567.00"},
		{-15_300_000, "-$0.015"},
		{math.MaxInt64, "$9,223,372,036.85"},
		{math.MinInt64, "-$9,223,372,036.85"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("Money(%d) = %s, want %s", int64(tc.m), got, tc.want)
		}
	}
}

func TestParseMoney(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Money
	}{
		{"5", 5 * Dollar},
		{"$5", 5 * Dollar},
		{" 0.50 ", 50 * Cent},
		{"$1,000", 1000 * Dollar},
		{"1,234,567.89", 1_234_567_890_000_000},
		{"0.015", 15_000_000},
		{".5", 500_000_000},
		{"0.000000001", 1},
		{"0.1000000000", 100_000_000},
		{"1000000000", 1_000_000_000 * Dollar},
	} {
		got, err := ParseMoney(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "$", "-1", "1e3", "5.", "1.2.3", "0.0000000001", "1000000001", "12,34", ",100", "1,0000", "five", "$ 5", "5$"} {
		if m, err := ParseMoney(in); err == nil {
			t.Errorf("ParseMoney(%q) = %s, want an error", in, m)
		} else if !strings.Contains(err.Error(), "write dollars like") {
			t.Errorf("ParseMoney(%q): error without a hint: %v", in, err)
		}
	}
}

func TestWaitString(t *testing.T) {
	for _, tc := range []struct {
		w    Wait
		want string
	}{
		{Wait{}, "immediate"},
		{Wait{time.Minute, 5 * time.Minute}, "1–5 minutes"},
		{Wait{3 * time.Hour, 5 * time.Hour}, "3–5 hours"},
		{Wait{0, 12 * time.Hour}, "within 12 hours"},
		{Wait{0, time.Hour}, "within 1 hour"},
		{Wait{30 * time.Minute, 2 * time.Hour}, "30 minutes to 2 hours"},
	} {
		if got := tc.w.String(); got != tc.want {
			t.Errorf("%+v prints %q, want %q", tc.w, got, tc.want)
		}
	}
}

func TestTableRules(t *testing.T) {
	// The billing rules of the brief, held against the built-in table.
	p := Default()
	for c, days := range map[Class]int{GlacierIR: 90, Glacier: 90, Vault: 90, DeepArchive: 180, StandardIA: 30, OneZoneIA: 30, Standard: 0, IntelligentTiering: 0} {
		if got := p.Classes[c].MinDays; got != days {
			t.Errorf("%s minimum %d days, want %d", c, got, days)
		}
	}
	for _, c := range []Class{StandardIA, OneZoneIA, GlacierIR} {
		if got := p.Classes[c].MinBillableBytes; got != 128*KB {
			t.Errorf("%s minimum size %d", c, got)
		}
	}
	for _, c := range []Class{Glacier, DeepArchive} {
		if cp := p.Classes[c]; cp.OverheadStandardBytes != 8*KB || cp.OverheadClassBytes != 32*KB {
			t.Errorf("%s overhead %+v", c, cp)
		}
	}
	if _, ok := p.Classes[DeepArchive].Tiers["Expedited"]; ok {
		t.Error("DEEP_ARCHIVE has an Expedited tier")
	}
	for _, c := range Classes() {
		if _, ok := p.Classes[c]; !ok {
			t.Errorf("no prices for %s", c)
		}
		if archive := c == Glacier || c == DeepArchive || c == Vault; p.Classes[c].Archive() != archive {
			t.Errorf("%s archive %v", c, p.Classes[c].Archive())
		}
	}
	// Default returns independent copies.
	q := Default()
	q.Classes[Glacier].Tiers["Bulk"] = TierPrices{PerGB: 1}
	if p.Classes[Glacier].Tiers["Bulk"].PerGB != 0 {
		t.Error("Default tables share their tier maps")
	}
}
