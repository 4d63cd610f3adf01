package cost

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Money is an amount of US dollars counted in billionths of a dollar
// (nano-dollars). Every price on AWS's pages is a whole number of them (the
// smallest, $0.0004 per 1,000 GET requests, is 400 per request), so the price
// table is exact; only amounts computed from fractional quantities (GB of a
// 20 KB object) are rounded, to the nearest nano-dollar.
type Money int64

// Units of Money.
const (
	NanoDollar Money = 1
	Cent       Money = 10_000_000
	Dollar     Money = 1_000_000_000
)

// maxDollars bounds amounts that ParseMoney and the prices file accept.
const maxDollars = 1_000_000_000

// Dollars returns m as a float64 number of dollars (for comparisons and
// arithmetic outside the package; printing uses String).
func (m Money) Dollars() float64 { return float64(m) / float64(Dollar) }

// String prints m the way a bill would, but without hiding small amounts:
// amounts of a dollar or more to the cent with thousands separators
// ("$1,234.57", "$50.00"); smaller ones to two significant digits with at
// least two decimals and no trailing zeros past the second ("$0.41",
// "$0.015", "$0.0012", "$0.0000004"); zero as "$0.00".
func (m Money) String() string {
	sign := ""
	n := uint64(m)
	if m < 0 {
		sign = "-"
		n = uint64(-(m + 1)) + 1 // also right for math.MinInt64
	}
	if n >= uint64(Dollar) {
		cents := (n + uint64(Cent)/2) / uint64(Cent)
		return fmt.Sprintf("%s$%s.%02d", sign, groupThousands(cents/100), cents%100)
	}
	if n == 0 {
		return "$0.00"
	}
	// n < 10^9: find the first significant decimal place and keep one more.
	first := 0 // decimal place (1-based) of the first non-zero digit
	for p, v := 1, uint64(Dollar)/10; p <= 9; p, v = p+1, v/10 {
		if n >= v {
			first = p
			break
		}
	}
	keep := max(2, first+1)
	keep = min(keep, 9)
	unit := uint64(1)
	for range 9 - keep {
		unit *= 10
	}
	r := (n + unit/2) / unit // n rounded to keep decimals, as an integer
	if r >= pow10(keep) {    // rounding carried into the dollars (0.999 → 1.00)
		return sign + Money(r*unit).String()
	}
	frac := fmt.Sprintf("%0*d", keep, r)
	for len(frac) > 2 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	return sign + "$0." + frac
}

// Decimal prints m as a plain decimal number of dollars with no more
// decimals than needed ("0.00099", "10", "0"): the form the prices file uses.
func (m Money) Decimal() string {
	sign := ""
	n := uint64(m)
	if m < 0 {
		sign = "-"
		n = uint64(-(m + 1)) + 1
	}
	whole, frac := n/uint64(Dollar), n%uint64(Dollar)
	if frac == 0 {
		return fmt.Sprintf("%s%d", sign, whole)
	}
	f := strings.TrimRight(fmt.Sprintf("%09d", frac), "0")
	return fmt.Sprintf("%s%d.%s", sign, whole, f)
}

func pow10(k int) uint64 {
	v := uint64(1)
	for range k {
		v *= 10
	}
	return v
}

func groupThousands(n uint64) string {
	s := fmt.Sprintf("%d", n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ParseMoney reads an amount of dollars as a user writes it for --max-cost:
// "5", "$5", "0.50", "$1,000", "0.015". At most nine decimals; no sign, no
// exponent, at most a billion dollars.
func ParseMoney(s string) (Money, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "$")
	whole, frac, hasDot := strings.Cut(t, ".")
	if strings.Contains(whole, ",") {
		if !validGrouping(whole) {
			return 0, fmt.Errorf("invalid amount %q: commas must separate groups of three digits; write dollars like 5, 0.50 or 1,000", s)
		}
		whole = strings.ReplaceAll(whole, ",", "")
	}
	m, err := parseDecimal(whole, frac, hasDot)
	if err != nil {
		return 0, fmt.Errorf("invalid amount %q: %w; write dollars like 5, 0.50 or $1,000", s, err)
	}
	return m, nil
}

func validGrouping(s string) bool {
	parts := strings.Split(s, ",")
	if len(parts[0]) == 0 || len(parts[0]) > 3 {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) != 3 {
			return false
		}
	}
	return true
}

// errPlainDecimal is the problem parseDecimal reports for anything but
// digits with at most one dot.
var errPlainDecimal = errors.New("not a plain decimal number")

// parseDecimal reads whole.frac (digits only; hasDot says a dot was there)
// exactly into Money.
func parseDecimal(whole, frac string, hasDot bool) (Money, error) {
	if whole == "" && frac == "" {
		return 0, errPlainDecimal
	}
	if hasDot && frac == "" {
		return 0, errPlainDecimal
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, errPlainDecimal
		}
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 10 {
		return 0, fmt.Errorf("more than %d dollars", maxDollars)
	}
	if len(frac) > 9 {
		if strings.Trim(frac[9:], "0") != "" {
			return 0, errors.New("more than nine decimals (the smallest amount counted is $0.000000001)")
		}
		frac = frac[:9]
	}
	var w uint64
	for _, c := range whole {
		w = w*10 + uint64(c-'0')
	}
	if w > maxDollars {
		return 0, fmt.Errorf("more than %d dollars", maxDollars)
	}
	var f uint64
	for i := range 9 {
		f *= 10
		if i < len(frac) {
			f += uint64(frac[i] - '0')
		}
	}
	m := w*uint64(Dollar) + f
	if m > maxDollars*uint64(Dollar) {
		return 0, fmt.Errorf("more than %d dollars", maxDollars)
	}
	return Money(m), nil
}

// amount returns q × price / per, rounded to the nearest nano-dollar and
// held within the range of Money.
func amount(q float64, price Money, per float64) Money {
	return fromFloat(q * float64(price) / per)
}

func fromFloat(v float64) Money {
	switch {
	case math.IsNaN(v):
		return 0
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return Money(math.Round(v))
}

// addSat adds without wrapping around.
func addSat(a, b Money) Money {
	s := a + b
	if a > 0 && b > 0 && s < 0 {
		return math.MaxInt64
	}
	if a < 0 && b < 0 && s >= 0 {
		return math.MinInt64
	}
	return s
}
