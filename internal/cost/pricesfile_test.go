package cost

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

func TestPricesFileOverridesOneValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eu.json")
	file := `{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb_month": 0.0018}}}`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Only that value changed.
	want := Default()
	da := want.Classes[DeepArchive]
	da.StoragePerGBMonth = 1_800_000 // $0.0018
	want.Classes[DeepArchive] = da
	want.File = path
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("table differs beyond DEEP_ARCHIVE storage:\n%+v\n%+v", p, want)
	}
	// And estimates use it: 19.073486328125 GB × $0.0018 = $0.034332275390625.
	e := mustStorage(t, p, DeepArchive, unpacked...)
	near(t, "data at the file's price", line(t, e, "stored data").Amount, 0.034332275390625)
	if !strings.Contains(p.Disclaimer(), path) {
		t.Errorf("disclaimer does not name the file: %q", p.Disclaimer())
	}
}

func TestPricesFileFull(t *testing.T) {
	// A file written from a table reads back as that table.
	p := Default()
	p.Date, p.Region = "2026-05-01", "eu-west-1"
	tp := p.Classes[Glacier].Tiers[store.TierBulk]
	tp.PerGB = 123 // $0.000000123
	p.Classes[Glacier].Tiers[store.TierBulk] = tp
	var buf bytes.Buffer
	if err := p.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip differs:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `"per_gb": 0.000000123`) {
		t.Errorf("prices are not written as plain decimals:\n%s", buf.String())
	}
	if q.Disclaimer() != "estimates from the price table of 2026-05-01 (eu-west-1); actual bills may differ" {
		t.Errorf("disclaimer %q", q.Disclaimer())
	}
}

func TestPricesFileWaitsAndTiers(t *testing.T) {
	p, err := Parse([]byte(`{"version": 1, "classes": {"DEEP_ARCHIVE": {"tiers": {"Bulk": {"per_gb": 0.002, "wait_min": "24h", "wait_max": "48h"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tp := p.Classes[DeepArchive].Tiers[store.TierBulk]
	if tp.PerGB != 2_000_000 || tp.Per1000 != Default().Classes[DeepArchive].Tiers[store.TierBulk].Per1000 || tp.Wait.String() != "24–48 hours" {
		t.Errorf("Bulk tier %+v (%s)", tp, tp.Wait)
	}
}

func TestPricesFileErrors(t *testing.T) {
	for _, tc := range []struct {
		file, field, says string
	}{
		{`{"classes": {}}`, "version", `missing; start the file with "version": 1`},
		{`{"version": 2}`, "version", "not a version this grsync reads"},
		{`{"version": 1, "colour": "red"}`, "colour", "unknown field"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb": 0.001}}}`, "classes.DEEP_ARCHIVE.storage_per_gb", "unknown field"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"tiers": {"Bulk": {"per_gb": 1, "speed": 2}}}}}`, "classes.DEEP_ARCHIVE.tiers.Bulk.speed", "unknown field"},
		{`{"version": 1, "classes": {"COLD": {}}}`, "classes.COLD", "unknown storage class; use STANDARD, INTELLIGENT_TIERING"},
		{`{"version": 1, "classes": {"deep_archive": {}}}`, "classes.deep_archive", "unknown storage class"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb_month": -0.001}}}`, "classes.DEEP_ARCHIVE.storage_per_gb_month", "negative"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb_month": "0.001"}}}`, "classes.DEEP_ARCHIVE.storage_per_gb_month", "a string where a number is expected"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb_month": 1e-3}}}`, "classes.DEEP_ARCHIVE.storage_per_gb_month", "plain decimal"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb_month": 0.0000000001}}}`, "classes.DEEP_ARCHIVE.storage_per_gb_month", "nine decimals"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"storage_per_gb_month": 99000000}}}`, "classes.DEEP_ARCHIVE.storage_per_gb_month", "check the units"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"min_days": 1.5}}}`, "classes.DEEP_ARCHIVE.min_days", "where a whole number is expected"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"min_days": -1}}}`, "classes.DEEP_ARCHIVE.min_days", "out of range"},
		{`{"version": 1, "classes": {"DEEP_ARCHIVE": {"tiers": {"Expedited": {"per_gb": 0.03}}}}}`, "classes.DEEP_ARCHIVE.tiers.Expedited", "no Expedited"},
		{`{"version": 1, "classes": {"STANDARD": {"tiers": {"Bulk": {}}}}}`, "classes.STANDARD.tiers.Bulk", "read directly"},
		{`{"version": 1, "classes": {"GLACIER": {"tiers": {"Slow": {}}}}}`, "classes.GLACIER.tiers.Slow", "unknown retrieval tier"},
		{`{"version": 1, "classes": {"GLACIER": {"tiers": {"Bulk": {"wait_max": "soon"}}}}}`, "classes.GLACIER.tiers.Bulk.wait_max", "not a wait"},
		{`{"version": 1, "classes": {"GLACIER": {"tiers": {"Bulk": {"wait_min": "20h"}}}}}`, "classes.GLACIER.tiers.Bulk", "longer than wait_max"},
		{`{"version": 1, "date": "5 May"}`, "date", "YYYY-MM-DD"},
		{`{"version": 1, "region": ""}`, "region", "one line of text"},
		{`{"version": 1} {}`, "", "unexpected data after the JSON object"},
		{"{\"version\": 1,\n \"classes\": {,}}", "", "not valid JSON at line 2"},
		{`[1]`, "", "an array where an object is expected"},
		{``, "", "missing or cut short"},
	} {
		_, err := Parse([]byte(tc.file))
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v is not a *FileError", tc.file, err)
			continue
		}
		if fe.Field != tc.field || !strings.Contains(fe.Problem, tc.says) {
			t.Errorf("%s:\n got field %q: %s\nwant field %q: ...%s...", tc.file, fe.Field, fe.Problem, tc.field, tc.says)
		}
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "prices file") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(big); err == nil || !strings.Contains(err.Error(), "prices file "+big+": larger than") {
		t.Errorf("big file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": 1, "classes": {"GLACIER": {"put_per_1000": true}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(bad)
	if want := "prices file " + bad + ": classes.GLACIER.put_per_1000: a bool where a number is expected"; err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}
