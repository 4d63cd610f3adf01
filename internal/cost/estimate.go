package cost

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Line is one billed item of an estimate: what, how many, at what price.
type Line struct {
	What      string  // what is billed, e.g. "restore requests (Standard)"
	Quantity  float64 // how many units
	Unit      string  // "requests", "GB-month", "GB", "objects"
	Per       float64 // UnitPrice is per this many units: 1,000 for requests, else 1
	UnitPrice Money
	Amount    Money // Quantity / Per × UnitPrice, rounded to the nano-dollar
}

// String prints the line with its arithmetic:
// "restore requests (Standard): 1,000,000 requests × $0.10 per 1,000 = $100.00".
func (l Line) String() string {
	return fmt.Sprintf("%s: %s = %s", l.What, l.Arithmetic(), l.Amount)
}

// Arithmetic is the "quantity × unit price" part of String.
func (l Line) Arithmetic() string {
	per := l.Unit
	if l.Per != 1 && l.Per != 0 {
		per = formatQuantity(l.Per)
	}
	return fmt.Sprintf("%s %s × %s per %s", formatQuantity(l.Quantity), l.Unit, l.UnitPrice, per)
}

// Estimate is a breakdown of billed items and their total.
type Estimate struct {
	Lines []Line
	Total Money
	// Notes are the assumptions and caveats of the estimate (the free
	// transfer allowance not subtracted, say), one sentence each.
	Notes []string
}

// add appends a line, computing its amount.
func (e *Estimate) add(what string, q float64, unit string, per float64, price Money) {
	a := amount(q, price, per)
	e.Lines = append(e.Lines, Line{What: what, Quantity: q, Unit: unit, Per: per, UnitPrice: price, Amount: a})
	e.Total = addSat(e.Total, a)
}

// note appends a caveat once.
func (e *Estimate) note(s string) {
	for _, n := range e.Notes {
		if n == s {
			return
		}
	}
	e.Notes = append(e.Notes, s)
}

// requests adds a line for n requests at price per 1,000.
func (e *Estimate) requests(what string, n int64, price Money) {
	e.add(what, float64(n), "requests", 1000, price)
}

// gb adds a line for bytes at a per-GB price.
func (e *Estimate) gb(what string, bytes float64, price Money) {
	e.add(what, bytes/GB, "GB", 1, price)
}

// gbMonths adds a line for bytes stored for months at a per-GB-month price.
func (e *Estimate) gbMonths(what string, bytes, months float64, price Money) {
	e.add(what, bytes/GB*months, "GB-month", 1, price)
}

// Sum adds estimates: their lines one after the other (lines with the same
// What, Unit and UnitPrice merged), totals added, notes kept once.
func Sum(es ...Estimate) Estimate {
	var out Estimate
	index := map[[3]string]int{}
	for _, e := range es {
		for _, l := range e.Lines {
			k := [3]string{l.What, l.Unit, strconv.FormatInt(int64(l.UnitPrice), 10) + "/" + strconv.FormatFloat(l.Per, 'g', -1, 64)}
			if i, ok := index[k]; ok {
				m := &out.Lines[i]
				m.Quantity += l.Quantity
				m.Amount = addSat(m.Amount, l.Amount)
			} else {
				index[k] = len(out.Lines)
				out.Lines = append(out.Lines, l)
			}
		}
		out.Total = addSat(out.Total, e.Total)
		for _, n := range e.Notes {
			out.note(n)
		}
	}
	return out
}

// String prints the estimate as an aligned table (what, arithmetic,
// amount), then the total and the notes.
func (e Estimate) String() string {
	rows := make([][3]string, 0, len(e.Lines)+1)
	for _, l := range e.Lines {
		rows = append(rows, [3]string{l.What, l.Arithmetic(), l.Amount.String()})
	}
	rows = append(rows, [3]string{"total", "", e.Total.String()})
	var w [3]int
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%s  %s  %s\n", pad(r[0], w[0], false), pad(r[1], w[1], false), pad(r[2], w[2], true))
	}
	for _, n := range e.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

// pad pads s with spaces to width runes, on the left if right is set.
func pad(s string, width int, right bool) string {
	fill := strings.Repeat(" ", max(0, width-len([]rune(s))))
	if right {
		return fill + s
	}
	return s + fill
}

// formatQuantity prints a count with thousands separators ("1,000,000")
// and a fractional quantity to four significant digits ("19.07",
// "0.00001907").
func formatQuantity(q float64) string {
	if math.IsNaN(q) || math.IsInf(q, 0) {
		return fmt.Sprint(q)
	}
	if q == math.Trunc(q) && math.Abs(q) < 1e15 {
		s := groupThousands(uint64(math.Abs(q)))
		if q < 0 {
			s = "-" + s
		}
		return s
	}
	a := math.Abs(q)
	if a >= 1000 {
		whole := math.Trunc(a)
		frac := strconv.FormatFloat(a-whole, 'f', 1, 64) // "0.x" or "1.0"
		if frac == "1.0" {
			whole++
			frac = "0.0"
		}
		s := groupThousands(uint64(whole)) + frac[1:]
		if q < 0 {
			s = "-" + s
		}
		return s
	}
	decimals := 3 - int(math.Floor(math.Log10(a)))
	decimals = min(max(decimals, 1), 12)
	s := strconv.FormatFloat(q, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// Over returns what e, the bill of one month (a storage estimate), comes
// to over months months: every line's quantity times months, its amount
// computed again, and " for N months" after what it bills.
func (e Estimate) Over(months float64) Estimate {
	out := Estimate{Notes: append([]string(nil), e.Notes...)}
	for _, l := range e.Lines {
		out.add(fmt.Sprintf("%s for %s %s", l.What, formatQuantity(months), pluralF(months, "month", "months")), l.Quantity*months, l.Unit, l.Per, l.UnitPrice)
	}
	return out
}

func pluralF(n float64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
