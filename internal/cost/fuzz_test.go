package cost

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

func FuzzParse(f *testing.F) {
	var full bytes.Buffer
	if err := Default().WriteJSON(&full); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		full.String(),
		`{"version": 1}`,
		`{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb_month": 0.0018}}}`,
		`{"version": 1, "transfer_out_per_gb": 0.05, "classes": {"GLACIER": {"tiers": {"Bulk": {"per_gb": 0.0025, "wait_max": "12h"}}}}}`,
		`{"version": 1, "classes": {"DEEP_ARCHIVE": {"tiers": {"Expedited": {}}}}}`,
		`{"version": 1, "classes": {"X": {}}}`, `{"version": 1} x`, `{"version": 1, "date": "2026-13-01"}`,
		`{"version": 1, "classes": {"STANDARD_IA": {"min_billable_bytes": 5368709120, "storage_per_gb_month": 1000000}}}`,
		`{"version":1,"classes":{"GLACIER":{"put_per_1000":-0,"min_days":3650}}}`, `[`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Problem == "" {
				t.Fatalf("error %v is not a *FileError with a problem", err)
			}
			return
		}
		// A table that parses writes back to the same table.
		var buf bytes.Buffer
		if err := p.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		q, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("rewritten table does not parse: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("rewritten table differs:\n%s", buf.String())
		}
		// Its prices are in range, and every estimator copes with them.
		for c, cp := range p.Classes {
			if cp.StoragePerGBMonth < 0 || cp.StoragePerGBMonth > maxPrice || cp.MinDays < 0 || cp.MinBillableBytes < 0 {
				t.Fatalf("%s out of range: %+v", c, cp)
			}
			if _, err := p.Storage(c, Objects{3, 5 * GB}, Objects{1, 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Upload(c, UploadOptions{PartSize: 8 * MB}, Objects{2, 3 * GB}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Restore(c, RestoreOptions{Tier: store.TierBulk}, Retrieval{Objects: 1, Bytes: GB, Ranges: 1, RangeBytes: 1}); err != nil {
				t.Fatal(err)
			}
			if e, err := p.EarlyDeletion(Object{Class: c, Size: GB, Uploaded: uploaded}, uploaded); err != nil || e.Total < 0 {
				t.Fatalf("early deletion: %v %v", e.Total, err)
			}
		}
	})
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"5", "$5", "0.50", "$1,000.25", "0.000000001", "1e3", "-1", "", "1,00", "1000000000.999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMoney(s)
		if err != nil {
			return
		}
		if m < 0 || m > maxDollars*Dollar {
			t.Fatalf("ParseMoney(%q) = %d out of range", s, m)
		}
		// The plain decimal form reads back exactly.
		if m2, err := ParseMoney(m.Decimal()); err != nil || m2 != m {
			t.Fatalf("ParseMoney(%q) = %d; its decimal %q reads back as %d, %v", s, m, m.Decimal(), m2, err)
		}
		_ = m.String()
	})
}
