package cost

import (
	"math"
	"strings"
	"testing"
)

// near fails unless got is want dollars, give or take the rounding of each
// line to the nano-dollar (a few nano-dollars in all).
func near(t *testing.T, what string, got Money, want float64) {
	t.Helper()
	if d := math.Abs(float64(got) - want*float64(Dollar)); d > 3 {
		t.Errorf("%s = %s (%d nano-dollars), want $%.12f (off by %.0f nano-dollars)", what, got, int64(got), want, d)
	}
}

// line returns the only line of e whose What starts with prefix.
func line(t *testing.T, e Estimate, prefix string) Line {
	t.Helper()
	var found []Line
	for _, l := range e.Lines {
		if strings.HasPrefix(l.What, prefix) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d lines start with %q in:\n%s", len(found), prefix, e)
	}
	return found[0]
}

// quantity fails unless l's quantity is want (to a part in 10^12).
func quantity(t *testing.T, l Line, want float64) {
	t.Helper()
	if math.Abs(l.Quantity-want) > math.Abs(want)*1e-12 {
		t.Errorf("%s: quantity %v, want %v", l.What, l.Quantity, want)
	}
}

func mustStorage(t *testing.T, p *Prices, c Class, g ...Objects) Estimate {
	t.Helper()
	e, err := p.Storage(c, g...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustUpload(t *testing.T, p *Prices, c Class, opt UploadOptions, g ...Objects) UploadEstimate {
	t.Helper()
	e, err := p.Upload(c, opt, g...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustRestore(t *testing.T, p *Prices, c Class, opt RestoreOptions, g ...Retrieval) RestoreEstimate {
	t.Helper()
	e, err := p.Restore(c, opt, g...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
