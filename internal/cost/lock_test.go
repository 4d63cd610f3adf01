package cost

import (
	"strings"
	"testing"
)

// Extending the locks of 306 DEEP_ARCHIVE packs costs 306 PUTs at $0.05
// and 306 HEADs at $0.0004 per 1,000: $0.0153 + $0.0001224; of 100
// records objects in STANDARD, 100 × ($0.005 + $0.0004) / 1,000.
func TestLockExtensions(t *testing.T) {
	p := Default()
	e, err := p.LockExtensions(DeepArchive, 306)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "306 DEEP_ARCHIVE extensions", e.Total, 0.0154224)
	if len(e.Lines) != 2 || !strings.Contains(e.Lines[0].String(), "306 requests × $0.05 per 1,000") {
		t.Errorf("lines:\n%s", e)
	}
	s, err := p.LockExtensions(Standard, 100)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "100 STANDARD extensions", s.Total, 0.00054)
	if sum := Sum(e, s); sum.Total != e.Total+s.Total || len(sum.Notes) != 1 {
		t.Errorf("sum = %s with %d notes", sum.Total, len(sum.Notes))
	}
	if _, err := p.LockExtensions(Standard, -1); err == nil {
		t.Error("a negative count was accepted")
	}
	if _, err := p.LockExtensions("NOPE", 1); err == nil {
		t.Error("an unknown class was accepted")
	}
}
