package catalog

import (
	"testing"
	"time"
)

func TestMatchVersionFindsOlderLegacyRow(t *testing.T) {
	c, _ := openLegacy(t)
	tg, ok, err := c.Target("glacier::my-vault")
	if err != nil || !ok {
		t.Fatalf("legacy target: %v %v", ok, err)
	}
	const report = "/home/alice/backup-src/docs/report.txt"
	// Row 1 (not the latest) has mtime 1710590400.123456.
	ns := int64(1710590400123456000)
	v, ok, err := c.MatchVersion(tg.ID, report, 5571, float64(ns)/1e9, ns)
	if err != nil || !ok || v.ID != 1 {
		t.Fatalf("want row 1, got %+v ok=%v err=%v", v, ok, err)
	}
	if _, ok, _ := c.MatchVersion(tg.ID, report, 5572, float64(ns)/1e9, ns); ok {
		t.Error("another size must not match")
	}
	if _, ok, _ := c.MatchVersion(tg.ID, report, 5571, float64(ns)/1e9+0.01, ns+1e7); ok {
		t.Error("another mtime must not match")
	}
	// grsync's own rows compare nanoseconds exactly.
	id, err := c.Record(Version{TargetID: tg.ID, Path: "/x", Size: 3, MTimeNS: 1700000000000000001,
		ArchiveID: "a", Compression: "grsync1", Timestamp: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := c.MatchVersion(tg.ID, "/x", 3, 1700000000, 1700000000000000001); !ok || v.ID != id {
		t.Errorf("exact ns should match row %d, got %+v", id, v)
	}
	if _, ok, _ := c.MatchVersion(tg.ID, "/x", 3, 1700000000, 1700000000000000002); ok {
		t.Error("a different ns must not match a grsync row")
	}
}
