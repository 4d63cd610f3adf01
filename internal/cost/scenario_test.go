package cost

import (
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

// The scenario of docs/COSTS.md: 1,000,000 files of 20 KB (20,480 bytes),
// 20,480,000,000 bytes = 19.073486328125 GB in all (a GB is 2^30 bytes),
// stored unpacked (one object per file) or packed into 64 MB objects:
// 20,480,000,000 / 67,108,864 = 305 full packs and one of 11,796,480 bytes.
// Prices are the built-in us-east-1 table; every expected figure is worked
// out by hand in the comments.
const (
	nFiles   = 1_000_000
	fileSize = 20 * KB
	allBytes = nFiles * fileSize // 20,480,000,000
	allGB    = 19.073486328125   // allBytes / 2^30
	packSize = 64 * MB
	lastPack = allBytes - 305*packSize // 11,796,480 bytes (11.25 MB)
)

var (
	unpacked = []Objects{{nFiles, allBytes}}
	packed   = []Objects{{305, 305 * packSize}, {1, lastPack}}
)

func TestScenarioShape(t *testing.T) {
	if lastPack != 11_796_480 || 305*packSize+lastPack != allBytes {
		t.Fatalf("packs do not add up: last pack %d", lastPack)
	}
	if allGB*GB != allBytes {
		t.Fatalf("allGB is not allBytes/2^30")
	}
}

func TestDeepArchiveUploadRequests(t *testing.T) {
	p := Default()
	// Unpacked: every 20 KB object is one PUT at $0.05 per 1,000:
	// 1,000,000 / 1,000 × $0.05 = $50.00 (the figure).
	u := mustUpload(t, p, DeepArchive, UploadOptions{PartSize: 8 * MB}, unpacked...)
	near(t, "unpacked PUTs", u.Requests.Total, 50.00)
	quantity(t, line(t, u.Requests, "PUT requests, one per object"), nFiles)

	// Packed, each pack in one PUT: 306 / 1,000 × $0.05 = $0.0153 (the
	// issue's $0.015).
	u = mustUpload(t, p, DeepArchive, UploadOptions{}, packed...)
	near(t, "packed single PUTs", u.Requests.Total, 0.0153)
	if got := u.Requests.Total.String(); got != "$0.015" {
		t.Errorf("packed PUTs print %s, want $0.015", got)
	}

	// Packed, as grsync's S3 store sends them (8 MB parts, a STANDARD
	// sidecar per multipart upload, a HEAD per object):
	//   305 packs × (initiate + 8 parts + complete) = 3,050 requests
	//   + the last pack: 11.25 MB → 2 parts + 2 = 4     → 3,054 PUTs
	//   3,054 / 1,000 × $0.05  = $0.1527
	//   306 sidecars / 1,000 × $0.005 (STANDARD) = $0.00153
	//   306 HEADs / 1,000 × $0.0004 = $0.0001224
	//   total $0.1543524
	u = mustUpload(t, p, DeepArchive, UploadOptions{PartSize: 8 * MB, SidecarPerMultipart: true, HeadPerObject: true}, packed...)
	quantity(t, line(t, u.Requests, "PUT requests, multipart parts"), 305*8+2)
	quantity(t, line(t, u.Requests, "PUT requests, multipart initiate"), 2*306)
	near(t, "packed PUTs with 8 MB parts", u.Requests.Total, 0.1543524)
}

func TestDeepArchiveMonthlyStorage(t *testing.T) {
	p := Default()
	// Unpacked:
	//   data      19.073486328125 GB × $0.00099            = $0.018882751464844
	//   index     1,000,000 × 32 KB = 30.517578125 GB × $0.00099 = $0.030212402343750
	//   metadata  1,000,000 ×  8 KB =  7.62939453125 GB × $0.023 (STANDARD) = $0.175476074218750
	//   total                                              = $0.224571228027344
	// Overhead: (0.0302124 + 0.1754761) / 0.2245712 = 91.6% (the 92%).
	e := mustStorage(t, p, DeepArchive, unpacked...)
	near(t, "data", line(t, e, "stored data").Amount, 0.018882751464844)
	near(t, "index", line(t, e, "archive index, 32 KB").Amount, 0.030212402343750)
	near(t, "metadata", line(t, e, "object name and metadata, 8 KB").Amount, 0.175476074218750)
	near(t, "unpacked month", e.Total, 0.224571228027344)
	overhead := 1 - line(t, e, "stored data").Amount.Dollars()/e.Total.Dollars()
	if overhead < 0.915 || overhead > 0.917 {
		t.Errorf("overhead share %.4f, want 0.916", overhead)
	}
	if got := e.Total.String(); got != "$0.22" {
		t.Errorf("month prints %s, want $0.22", got)
	}

	// Packed:
	//   data      19.073486328125 GB × $0.00099          = $0.018882751464844
	//   index     306 × 32 KB = 0.00933837890625 GB × $0.00099 = $0.000009244995117
	//   metadata  306 ×  8 KB = 0.0023345947265625 GB × $0.023 = $0.000053695678711
	//   total                                            = $0.018945692138672
	e = mustStorage(t, p, DeepArchive, packed...)
	near(t, "packed month", e.Total, 0.018945692138672)
}

func TestDeepArchiveFullRestore(t *testing.T) {
	p := Default()
	whole := func(g []Objects) []Retrieval {
		var r []Retrieval
		for _, o := range g {
			r = append(r, Retrieval{Objects: o.Count, Bytes: o.Bytes})
		}
		return r
	}
	// Common to every full restore of 19.073486328125 GB (7 days, to the
	// internet):
	//   restored copy  19.073486328125 GB × 7/30 month × $0.023 = $0.102361043294271
	//   transfer out   19.073486328125 GB × $0.09              = $1.716613769531250
	const copy7, transfer = 0.102361043294271, 1.716613769531250

	// Unpacked, Standard:
	//   restore requests 1,000,000 / 1,000 × $0.10 = $100 (the issue's ~$100)
	//   retrieval        19.073486328125 GB × $0.02 = $0.3814697265625
	//   GET requests     1,000,000 / 1,000 × $0.0004 = $0.40
	//   total 100 + 0.3814697265625 + 0.102361043294271 + 0.40 + 1.71661376953125 = $102.600444539388
	r := mustRestore(t, p, DeepArchive, RestoreOptions{Tier: store.TierStandard}, whole(unpacked)...)
	near(t, "restore requests", line(t, r.Estimate, "restore requests").Amount, 100)
	near(t, "restored copy", line(t, r.Estimate, "restored copy kept 7 days").Amount, copy7)
	near(t, "transfer", line(t, r.Estimate, "data transfer out").Amount, transfer)
	near(t, "unpacked Standard", r.Total, 102.600444539388)
	if r.Wait.String() != "within 12 hours" {
		t.Errorf("wait %q", r.Wait)
	}

	// Unpacked, Bulk: 1,000,000 / 1,000 × $0.025 = $25;
	// 19.073486328125 × $0.0025 = $0.0476837158203125;
	// total 25 + 0.0476837158203125 + 0.102361043294271 + 0.40 + 1.71661376953125 = $27.266658528645833
	r = mustRestore(t, p, DeepArchive, RestoreOptions{Tier: store.TierBulk}, whole(unpacked)...)
	near(t, "unpacked Bulk", r.Total, 27.266658528645833)
	if r.Wait.String() != "within 48 hours" {
		t.Errorf("wait %q", r.Wait)
	}

	// Packed, Standard: 306 / 1,000 × $0.10 = $0.0306 of requests and
	// $0.3814697265625 of retrieval: $0.41 (the figure, which
	// leaves out the rest); GETs 306 / 1,000 × $0.0004 = $0.0001224;
	// total 0.0306 + 0.3814697265625 + 0.102361043294271 + 0.0001224 + 1.71661376953125 = $2.231166939388021
	r = mustRestore(t, p, DeepArchive, RestoreOptions{}, whole(packed)...)
	requestsAndRetrieval := line(t, r.Estimate, "restore requests").Amount + line(t, r.Estimate, "data retrieval").Amount
	near(t, "packed requests + retrieval", requestsAndRetrieval, 0.4120697265625)
	if requestsAndRetrieval.String() != "$0.41" {
		t.Errorf("packed requests + retrieval print %s", requestsAndRetrieval)
	}
	near(t, "packed Standard", r.Total, 2.231166939388021)
	if r.Tier != store.TierStandard {
		t.Errorf("default tier %q", r.Tier)
	}

	// Packed, Bulk: 306 / 1,000 × $0.025 = $0.00765; 19.073486328125 × $0.0025 = $0.0476837158203125;
	// total 0.00765 + 0.0476837158203125 + 0.102361043294271 + 0.0001224 + 1.71661376953125 = $1.874430928645833
	r = mustRestore(t, p, DeepArchive, RestoreOptions{Tier: store.TierBulk}, whole(packed)...)
	near(t, "packed Bulk", r.Total, 1.874430928645833)

	// Downloading inside the region removes the transfer line:
	// 2.231166939388021 - 1.71661376953125 = $0.514553169856771.
	r = mustRestore(t, p, DeepArchive, RestoreOptions{SameRegion: true}, whole(packed)...)
	near(t, "packed Standard in region", r.Total, 0.514553169856771)
}

func TestDeepArchiveOneFileRestore(t *testing.T) {
	p := Default()
	// Unpacked: one 20 KB object = 20,480 / 2^30 = 0.000019073486328125 GB.
	//   restore request  1 / 1,000 × $0.10  = $0.0001
	//   retrieval        0.000019073486328125 × $0.02 = $0.00000038147
	//   copy, 7 days     0.000019073486328125 × 7/30 × $0.023 = $0.00000010236
	//   GET              1 / 1,000 × $0.0004 = $0.0000004
	//   transfer         0.000019073486328125 × $0.09 = $0.00000171661
	//   total $0.000102600444539
	r := mustRestore(t, p, DeepArchive, RestoreOptions{}, Retrieval{Objects: 1, Bytes: fileSize})
	near(t, "one unpacked file", r.Total, 0.000102600444539)

	// Packed: the whole 64 MB pack (0.0625 GB) is restored, then 20 KB
	// downloaded with a ranged GET.
	//   restore request  $0.0001
	//   retrieval        0.0625 × $0.02 = $0.00125
	//   copy, 7 days     0.0625 × 7/30 × $0.023 = $0.000335416666667
	//   GET              $0.0000004
	//   transfer         20 KB: $0.00000171661376953
	//   total $0.001687533280437
	r = mustRestore(t, p, DeepArchive, RestoreOptions{}, Retrieval{Objects: 1, Bytes: packSize, Ranges: 1, RangeBytes: fileSize})
	near(t, "one packed file", r.Total, 0.001687533280437)
	quantity(t, line(t, r.Estimate, "data retrieval"), 0.0625)
	quantity(t, line(t, r.Estimate, "data transfer out"), float64(fileSize)/GB)
}

func TestGlacierScenario(t *testing.T) {
	p := Default()
	// PUTs at $0.03 per 1,000: unpacked 1,000,000 → $30; packed 306 → $0.00918.
	near(t, "unpacked PUTs", mustUpload(t, p, Glacier, UploadOptions{}, unpacked...).Requests.Total, 30)
	near(t, "packed PUTs", mustUpload(t, p, Glacier, UploadOptions{}, packed...).Requests.Total, 0.00918)

	// Month, unpacked: 19.073486328125 × $0.0036 = $0.06866455078125
	// + 30.517578125 × $0.0036 = $0.10986328125 + metadata $0.17547607421875
	// = $0.35400390625 (80.6% overhead).
	near(t, "unpacked month", mustStorage(t, p, Glacier, unpacked...).Total, 0.35400390625)
	// Packed: $0.06866455078125 + 0.00933837890625 × $0.0036 = $0.0000336181640625
	// + $0.0000536956787109375 = $0.0687518646240234.
	near(t, "packed month", mustStorage(t, p, Glacier, packed...).Total, 0.0687518646240234)

	const copy7, transfer = 0.102361043294271, 1.716613769531250
	// Unpacked Standard: 1,000,000 / 1,000 × $0.05 = $50 + 19.073486328125 × $0.01
	// = $0.19073486328125 + copy + GETs $0.40 + transfer = $52.409709676106771.
	r := mustRestore(t, p, Glacier, RestoreOptions{}, Retrieval{Objects: nFiles, Bytes: allBytes})
	near(t, "unpacked Standard", r.Total, 50+0.19073486328125+copy7+0.40+transfer)
	if r.Wait.String() != "3–5 hours" {
		t.Errorf("wait %q", r.Wait)
	}
	// Unpacked Bulk: requests and retrieval free; copy + GETs + transfer = $2.218974812825521.
	r = mustRestore(t, p, Glacier, RestoreOptions{Tier: store.TierBulk}, Retrieval{Objects: nFiles, Bytes: allBytes})
	near(t, "unpacked Bulk", r.Total, 2.218974812825521)
	// Unpacked Expedited: 1,000,000 / 1,000 × $10 = $10,000; 19.073486328125 × $0.03 = $0.57220458984375.
	r = mustRestore(t, p, Glacier, RestoreOptions{Tier: store.TierExpedited}, Retrieval{Objects: nFiles, Bytes: allBytes})
	near(t, "unpacked Expedited", r.Total, 10000+0.57220458984375+copy7+0.40+transfer)
	if r.Total.String() != "$10,002.79" {
		t.Errorf("Expedited prints %s", r.Total)
	}
	// Packed Standard: 306 / 1,000 × $0.05 = $0.0153 + $0.19073486328125 + copy
	// + $0.0001224 + transfer = $2.025132076106771.
	r = mustRestore(t, p, Glacier, RestoreOptions{}, Retrieval{Objects: 306, Bytes: allBytes})
	near(t, "packed Standard", r.Total, 2.025132076106771)
	// Packed Bulk: copy + $0.0001224 + transfer = $1.819097212825521.
	r = mustRestore(t, p, Glacier, RestoreOptions{Tier: store.TierBulk}, Retrieval{Objects: 306, Bytes: allBytes})
	near(t, "packed Bulk", r.Total, 1.819097212825521)

	// One file, unpacked Standard: $0.00005 + 0.000019073486328125 × $0.01
	// + copy $0.00000010236 + GET $0.0000004 + transfer $0.00000171661 = $0.000052409709676.
	r = mustRestore(t, p, Glacier, RestoreOptions{}, Retrieval{Objects: 1, Bytes: fileSize})
	near(t, "one unpacked file", r.Total, 0.000052409709676)
	// One file from a pack: $0.00005 + 0.0625 × $0.01 = $0.000625
	// + 0.0625 × 7/30 × $0.023 = $0.000335416666667 + $0.0000004 + $0.00000171661 = $0.001012533280437.
	r = mustRestore(t, p, Glacier, RestoreOptions{}, Retrieval{Objects: 1, Bytes: packSize, Ranges: 1, RangeBytes: fileSize})
	near(t, "one packed file", r.Total, 0.001012533280437)
}

func TestVaultScenario(t *testing.T) {
	p := Default()
	// Upload requests at $0.03 per 1,000; a 64 MB archive in 1 MB parts
	// (the vault store's default) is initiate + 64 parts + complete = 66
	// requests: 306 archives → 305 × 66 + (2 + 12 parts of the 11.25 MB
	// last one) = 20,144 requests × $0.03 / 1,000 = $0.60432.
	u := mustUpload(t, p, Vault, UploadOptions{PartSize: MB}, packed...)
	near(t, "packed vault upload", u.Requests.Total, 0.60432)
	if !strings.HasPrefix(u.Requests.Lines[0].What, "upload requests") {
		t.Errorf("vault requests are called %q", u.Requests.Lines[0].What)
	}
	// Month, unpacked: 19.073486328125 × $0.0036 + 30.517578125 × $0.0036
	// (32 KB index per archive; no STANDARD metadata) = $0.17852783203125.
	near(t, "unpacked vault month", mustStorage(t, p, Vault, unpacked...).Total, 0.17852783203125)

	// One file out of a 64 MB archive: a ranged job must be megabyte-aligned,
	// so 20 KB at offset 10 MB + 100 needs 1 MB.
	rb := VaultRangeBytes(10*MB+100, fileSize, packSize)
	if rb != MB {
		t.Fatalf("aligned range %d bytes, want 1 MB", rb)
	}
	// Standard: 1 job × $0.05 / 1,000 = $0.00005; 1/1024 GB × $0.01 =
	// $0.0000097656; transfer 1/1024 GB × $0.09 = $0.0000878906; total $0.0001476562.
	r := mustRestore(t, p, Vault, RestoreOptions{}, Retrieval{Objects: 1, Bytes: packSize, Ranges: 1, RangeBytes: rb})
	near(t, "vault ranged job", r.Total, 0.00005+0.01/1024+0.09/1024)
	// The same file restored whole: 0.0625 × ($0.01 + $0.09) + $0.00005 = $0.00630.
	r = mustRestore(t, p, Vault, RestoreOptions{}, Retrieval{Objects: 1, Bytes: packSize})
	near(t, "vault whole job", r.Total, 0.00005+0.0625*0.10)
	// A range crossing the end of the archive stops there; one past the end is nothing.
	if got := VaultRangeBytes(packSize-100, 1000, packSize); got != MB {
		t.Errorf("range at the end: %d", got)
	}
	if got := VaultRangeBytes(packSize, 10, packSize); got != 0 {
		t.Errorf("range past the end: %d", got)
	}
}

func TestMinimumBillableSize(t *testing.T) {
	p := Default()
	// 1,000 objects of 20 KB in STANDARD_IA are billed as 128 KB each:
	// data 20,480,000 bytes = 0.019073486328125 GB × $0.0125 = $0.000238418579102
	// rounding 1,000 × 108 KB = 110,592,000 bytes = 0.102996826171875 GB × $0.0125 = $0.001287460327148
	e := mustStorage(t, p, StandardIA, Objects{1000, 1000 * fileSize})
	near(t, "rounding", line(t, e, "1,000 objects rounded up to the 128 KB").Amount, 0.001287460327148)
	near(t, "IA month", e.Total, 0.000238418579102+0.001287460327148)
	// Objects above the minimum are not rounded: one group per size is exact.
	e = mustStorage(t, p, GlacierIR, Objects{1, 20 * KB}, Objects{1, 200 * KB})
	// 20 KB → 128 KB, 200 KB as is: 328 KB = 0.000312805175781 GB × $0.004.
	near(t, "GLACIER_IR mixed", e.Total, 328.0*KB/GB*0.004)
	// INTELLIGENT_TIERING monitors only the 200 KB one: 1/1,000 × $0.0025.
	e = mustStorage(t, p, IntelligentTiering, Objects{1, 20 * KB}, Objects{1, 200 * KB})
	quantity(t, line(t, e, "monitoring and automation"), 1)
	near(t, "IT month", e.Total, 220.0*KB/GB*0.023+0.0000025)
}

func TestUploadCommitment(t *testing.T) {
	p := Default()
	// 10 GB in DEEP_ARCHIVE in one PUT: $0.00005 of requests; a month of
	// 10 GB + 32 KB at $0.00099 plus 8 KB at $0.023. Deleted tomorrow, the
	// 180 days of (10 GB + 32 KB) at $0.00099 are billed anyway:
	// (10 + 32/1048576) × 6 × $0.00099 = $0.059401812744141 + $0.00005.
	u := mustUpload(t, p, DeepArchive, UploadOptions{Months: 3}, Objects{1, 10 * GB})
	if u.MinDays != 180 || u.Months != 3 {
		t.Fatalf("min days %d, months %d", u.MinDays, u.Months)
	}
	near(t, "commitment", u.Commitment.Total, (10+32.0/1048576)*6*0.00099+0.00005)
	near(t, "3 months", u.Total.Total, u.Requests.Total.Dollars()+3*u.Monthly.Total.Dollars())
	// STANDARD commits to nothing but the requests.
	u = mustUpload(t, p, Standard, UploadOptions{}, Objects{1, 10 * GB})
	if u.Commitment.Total != u.Requests.Total {
		t.Errorf("STANDARD commitment %s, requests %s", u.Commitment.Total, u.Requests.Total)
	}
}

func TestRestoreRefusals(t *testing.T) {
	p := Default()
	_, err := p.Restore(DeepArchive, RestoreOptions{Tier: store.TierExpedited}, Retrieval{Objects: 1, Bytes: 1})
	if err == nil || !strings.Contains(err.Error(), "use --tier Standard (within 12 hours) or Bulk (within 48 hours)") {
		t.Errorf("DEEP_ARCHIVE Expedited: %v", err)
	}
	if _, err := p.Restore("COLD", RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "DEEP_ARCHIVE") {
		t.Errorf("unknown class: %v", err)
	}
	for _, g := range []Retrieval{{Objects: -1}, {Objects: 0, Bytes: 5}, {Objects: 1, Bytes: 5, RangeBytes: 3}, {Objects: 1, Bytes: 5, Ranges: 1, RangeBytes: 6}} {
		if _, err := p.Restore(Glacier, RestoreOptions{}, g); err == nil {
			t.Errorf("%+v accepted", g)
		}
	}
	// Classes read directly have no tiers: the tier is ignored, the wait is immediate.
	r := mustRestore(t, p, GlacierIR, RestoreOptions{Tier: store.TierBulk}, Retrieval{Objects: 1, Bytes: GB})
	// 1 GET × $0.01 / 1,000 + 1 GB × $0.03 + 1 GB × $0.09 = $0.12001.
	near(t, "GLACIER_IR read", r.Total, 0.12001)
	if r.Wait.String() != "immediate" || r.Tier != "" {
		t.Errorf("GLACIER_IR wait %q tier %q", r.Wait, r.Tier)
	}
}

func TestEstimateText(t *testing.T) {
	p := Default()
	r := mustRestore(t, p, DeepArchive, RestoreOptions{}, Retrieval{Objects: 306, Bytes: allBytes})
	got := line(t, r.Estimate, "restore requests").String()
	if want := "restore requests (Standard, DEEP_ARCHIVE): 306 requests × $0.10 per 1,000 = $0.031"; got != want {
		t.Errorf("line prints\n%q, want\n%q", got, want)
	}
	got = line(t, r.Estimate, "data retrieval").String()
	if want := "data retrieval (Standard, DEEP_ARCHIVE): 19.07 GB × $0.02 per GB = $0.38"; got != want {
		t.Errorf("line prints\n%q, want\n%q", got, want)
	}
	text := r.String()
	for _, want := range []string{"total", "$2.23\n", "note: the first 100 GB a month transferred out of AWS"} {
		if !strings.Contains(text, want) {
			t.Errorf("estimate text lacks %q:\n%s", want, text)
		}
	}
	if want := "estimates from the price table of " + DefaultDate + " (us-east-1); actual bills may differ"; p.Disclaimer() != want {
		t.Errorf("disclaimer %q", p.Disclaimer())
	}
}

func TestSum(t *testing.T) {
	p := Default()
	// Summing one estimate per object gives the same as one group.
	var parts []Estimate
	for range 3 {
		parts = append(parts, mustStorage(t, p, DeepArchive, Objects{1, fileSize}))
	}
	s := Sum(parts...)
	whole := mustStorage(t, p, DeepArchive, Objects{3, 3 * fileSize})
	if len(s.Lines) != len(whole.Lines) {
		t.Fatalf("sum has %d lines, want %d", len(s.Lines), len(whole.Lines))
	}
	for i := range s.Lines {
		quantity(t, s.Lines[i], whole.Lines[i].Quantity)
	}
	near(t, "sum", s.Total, whole.Total.Dollars())
}

func TestRangedReads(t *testing.T) {
	p := Default()
	// Five files taken out of two 64 MB packs. S3 restores the two packs
	// whole (2 restore requests, 0.125 GB retrieved) and serves 5 ranged
	// GETs of 100 KB (500 KB out).
	g := Retrieval{Objects: 2, Bytes: 2 * packSize, Ranges: 5, RangeBytes: 5 * 100 * KB}
	r := mustRestore(t, p, Glacier, RestoreOptions{Days: 1}, g)
	quantity(t, line(t, r.Estimate, "restore requests"), 2)
	quantity(t, line(t, r.Estimate, "data retrieval"), 0.125)
	quantity(t, line(t, r.Estimate, "GET requests"), 5)
	quantity(t, line(t, r.Estimate, "restored copy kept 1 day "), 0.125/30)
	quantity(t, line(t, r.Estimate, "data transfer out"), 500.0*KB/GB)
	// A vault runs one job per range and retrieves only the ranges.
	r = mustRestore(t, p, Vault, RestoreOptions{Tier: store.TierBulk}, g)
	quantity(t, line(t, r.Estimate, "retrieval jobs (Bulk, vault)"), 5)
	quantity(t, line(t, r.Estimate, "data retrieval (Bulk, vault)"), 500.0*KB/GB)
	if r.Wait.String() != "5–12 hours" {
		t.Errorf("vault Bulk wait %q", r.Wait)
	}
}
