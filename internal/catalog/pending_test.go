package catalog

import (
	"testing"
	"time"
)

func TestPendingUploads(t *testing.T) {
	c, _ := openLegacy(t)
	tg, err := c.EnsureTarget("local:/s")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	a, err := c.BeginUpload(tg.ID, "/a", "00112233aabbccdd", at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.BeginUpload(tg.ID, "/b", "ffeeddccbbaa9988", at)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.PendingUploads(tg.ID)
	if err != nil || len(ps) != 2 || ps[0].Path != "/a" || ps[0].Group != "00112233aabbccdd" || !ps[0].Started.Equal(at) {
		t.Fatalf("pending: %+v %v", ps, err)
	}
	if ps[0].Resume != nil {
		t.Fatalf("a new intent has no resume record: %q", ps[0].Resume)
	}
	// What continues an upload is kept with it, byte for byte.
	rec := []byte("resume\x00record\xff")
	if err := c.SetUploadResume(b, rec); err != nil {
		t.Fatal(err)
	}
	if ps, _ := c.PendingUploads(tg.ID); len(ps) != 2 || string(ps[1].Resume) != string(rec) || ps[0].Resume != nil {
		t.Fatalf("after SetUploadResume: %+v", ps)
	}
	if err := c.SetUploadResume(9999, rec); err == nil {
		t.Fatal("SetUploadResume of an unknown intent must fail")
	}
	// Recording the upload forgets it in the same transaction.
	if _, err := c.RecordUpload(Version{TargetID: tg.ID, Path: "/a", Size: 1, MTimeNS: 1, ArchiveID: "x"}, a); err != nil {
		t.Fatal(err)
	}
	if err := c.EndUpload(b); err != nil {
		t.Fatal(err)
	}
	if ps, _ := c.PendingUploads(tg.ID); len(ps) != 0 {
		t.Fatalf("nothing should be pending: %+v", ps)
	}
	if _, ok, _ := c.Latest(tg.ID, "/a"); !ok {
		t.Fatal("the upload was not recorded")
	}
	// A failing record keeps the intent.
	p, _ := c.BeginUpload(tg.ID, "/c", "0011", at)
	if _, err := c.RecordUpload(Version{TargetID: 9999, Path: "/c", ArchiveID: "y"}, p); err == nil {
		t.Fatal("recording against an unknown target must fail")
	}
	if ps, _ := c.PendingUploads(tg.ID); len(ps) != 1 {
		t.Fatalf("a failed record must leave the intent: %+v", ps)
	}
}
