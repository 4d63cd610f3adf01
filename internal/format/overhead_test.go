package format

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestSizeOverheadTable measures the bytes each encoding adds to random
// files and checks that docs/FORMAT.md section 6 shows exactly these figures.
// The sizes do not depend on the random nonces, so they are reproducible.
func TestSizeOverheadTable(t *testing.T) {
	k := testKey(t)
	const w = 17
	header := fmt.Sprintf("| %-9s |", "file size")
	sep := "|-----------|"
	for _, o := range optionSets {
		header += fmt.Sprintf(" %-*s |", w, o.name)
		sep += strings.Repeat("-", w+2) + "|"
	}
	rows := []string{header, sep}
	for _, sz := range []struct {
		label string
		n     int
	}{{"0 B", 0}, {"1 KiB", 1 << 10}, {"1 MiB", 1 << 20}} {
		content := randomBytes(sz.n, 30)
		row := fmt.Sprintf("| %-9s |", sz.label)
		for _, o := range optionSets {
			archive := encode(t, testInfo(sz.n), content, o.options(k))
			overhead := len(archive) - sz.n
			row += fmt.Sprintf(" %-*s |", w, fmt.Sprintf("+%d (%d)", overhead, len(archive)))
			// Bounds stated in section 6: tar adds 2,560 to 3,071 bytes;
			// zstd on random data adds at most ~0.01%; age adds 184 bytes
			// and 16 per 64 KiB chunk.
			limit := 3072 + 200 + 16*(sz.n/(64<<10)+1) + sz.n/5000
			if overhead < 0 || overhead > limit {
				t.Errorf("%s of %s: %d bytes of overhead, more than %d", o.name, sz.label, overhead, limit)
			}
		}
		rows = append(rows, row)
	}
	table := strings.Join(rows, "\n")
	t.Logf("measured overhead, bytes added (archive size):\n%s", table)
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), table) {
		t.Errorf("docs/FORMAT.md section 6 does not show the measured table; update it to:\n%s", table)
	}
}
