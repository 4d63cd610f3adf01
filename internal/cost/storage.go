package cost

import (
	"errors"
	"fmt"
)

// Objects is a group of objects of equal size: Count objects of Bytes in
// all. Estimators take several groups; a caller who knows each object's
// size passes one group per size (or per object) and every per-object rule
// (minimum billable size, multipart parts, monitoring threshold) is then
// exact. A group of mixed sizes is treated as Count objects of
// Bytes/Count each.
type Objects struct {
	Count int64
	Bytes int64
}

func (o Objects) check() error {
	switch {
	case o.Count < 0 || o.Bytes < 0:
		return fmt.Errorf("negative object count or size (%d objects, %d bytes)", o.Count, o.Bytes)
	case o.Count == 0 && o.Bytes > 0:
		return fmt.Errorf("%d bytes in no objects", o.Bytes)
	}
	return nil
}

// each is the size of one object of the group.
func (o Objects) each() float64 {
	if o.Count == 0 {
		return 0
	}
	return float64(o.Bytes) / float64(o.Count)
}

// Storage estimates one month of storage of the groups in class: the data,
// the rounding of small objects up to the minimum billable size, the
// per-object overhead (for GLACIER and DEEP_ARCHIVE 8 KB at STANDARD's price
// plus 32 KB at the class's; for a vault 32 KB), and INTELLIGENT_TIERING's
// monitoring charge.
func (p *Prices) Storage(class Class, groups ...Objects) (Estimate, error) {
	e, _, err := p.storage(class, groups)
	return e, err
}

// storage is Storage that also returns the bytes billed at the class's own
// storage price, which the minimum storage duration applies to.
func (p *Prices) storage(class Class, groups []Objects) (Estimate, float64, error) {
	cp, err := p.Class(class)
	if err != nil {
		return Estimate{}, 0, err
	}
	var data, rounded, overStd, overClass float64
	var small, monitored, count int64
	for _, g := range groups {
		if err := g.check(); err != nil {
			return Estimate{}, 0, err
		}
		count += g.Count
		data += float64(g.Bytes)
		if each := g.each(); g.Count > 0 && each < float64(cp.MinBillableBytes) {
			rounded += float64(g.Count)*float64(cp.MinBillableBytes) - float64(g.Bytes)
			small += g.Count
		}
		overStd += float64(g.Count) * float64(cp.OverheadStandardBytes)
		overClass += float64(g.Count) * float64(cp.OverheadClassBytes)
		if cp.MonitoringPer1000Objects > 0 && g.each() >= float64(cp.MonitoringMinBytes) {
			monitored += g.Count
		}
	}
	name := className(class)
	var e Estimate
	e.gbMonths(fmt.Sprintf("stored data (%s)", name), data, 1, cp.StoragePerGBMonth)
	if small > 0 {
		e.gbMonths(fmt.Sprintf("%s objects rounded up to the %s minimum billable size (%s)", formatQuantity(float64(small)), formatBytes(cp.MinBillableBytes), name),
			rounded, 1, cp.StoragePerGBMonth)
	}
	if overClass > 0 {
		e.gbMonths(fmt.Sprintf("archive index, %s per object (%s)", formatBytes(cp.OverheadClassBytes), name), overClass, 1, cp.StoragePerGBMonth)
	}
	if overStd > 0 {
		std, err := p.Class(Standard)
		if err != nil {
			return Estimate{}, 0, err
		}
		e.gbMonths(fmt.Sprintf("object name and metadata, %s per object (%s)", formatBytes(cp.OverheadStandardBytes), className(Standard)), overStd, 1, std.StoragePerGBMonth)
	}
	if cp.MonitoringPer1000Objects > 0 {
		e.add(fmt.Sprintf("monitoring and automation, objects of %s or more", formatBytes(cp.MonitoringMinBytes)), float64(monitored), "objects", 1000, cp.MonitoringPer1000Objects)
	}
	if class == IntelligentTiering {
		e.note("INTELLIGENT_TIERING is priced at its Frequent Access tier, where new objects stay for 30 days; objects not read for 30 days cost less")
	}
	if class == Standard && data/GB > 50*1024 {
		e.note("STANDARD is priced at its first 50 TB tier; larger amounts cost slightly less per GB")
	}
	return e, data + rounded + overClass, nil
}

// UploadOptions says how objects go up.
type UploadOptions struct {
	// PartSize: objects larger than it go up as multipart uploads of
	// PartSize parts (initiate, one request per part, complete); smaller
	// ones in one request. 0 sends every object in one request.
	PartSize int64
	// Months of storage to include in Total; 0 means 1.
	Months int
	// HeadPerObject counts one HEAD request (priced as a GET) per object,
	// as grsync's S3 store makes to check each upload.
	HeadPerObject bool
	// SidecarPerMultipart counts one STANDARD PUT per multipart upload, for
	// the small sidecar object grsync's S3 store writes beside each (its
	// deletion is free, and its storage for the upload's minutes negligible).
	SidecarPerMultipart bool
}

// UploadEstimate is what uploading a set of objects costs.
type UploadEstimate struct {
	Requests Estimate // one-time request charges
	Monthly  Estimate // storage per month once uploaded
	Months   int
	// Total is Requests plus Months months of storage.
	Total Estimate
	// MinDays is the class's minimum storage duration, and Commitment what
	// is billed even if everything is deleted right after the upload: the
	// requests and MinDays days of the storage billed at the class's price.
	MinDays    int
	Commitment Estimate
}

// Upload estimates uploading the groups into class.
func (p *Prices) Upload(class Class, opt UploadOptions, groups ...Objects) (UploadEstimate, error) {
	cp, err := p.Class(class)
	if err != nil {
		return UploadEstimate{}, err
	}
	if opt.PartSize < 0 || opt.Months < 0 {
		return UploadEstimate{}, errors.New("negative part size or months")
	}
	months := max(opt.Months, 1)
	var singles, multiparts, parts, heads int64
	for _, g := range groups {
		if err := g.check(); err != nil {
			return UploadEstimate{}, err
		}
		heads += g.Count
		size := ceilDiv(g.Bytes, g.Count)
		if opt.PartSize > 0 && size > opt.PartSize {
			multiparts += g.Count
			parts += g.Count * ceilDiv(size, opt.PartSize)
		} else {
			singles += g.Count
		}
	}
	name := className(class)
	verb := "PUT requests"
	if class == Vault {
		verb = "upload requests"
	}
	var req Estimate
	if singles > 0 || multiparts == 0 {
		req.requests(fmt.Sprintf("%s, one per object (%s)", verb, name), singles, cp.PutPer1000)
	}
	if multiparts > 0 {
		req.requests(fmt.Sprintf("%s, multipart initiate and complete (%s)", verb, name), 2*multiparts, cp.PutPer1000)
		req.requests(fmt.Sprintf("%s, multipart parts of %s (%s)", verb, formatBytes(opt.PartSize), name), parts, cp.PutPer1000)
		if opt.SidecarPerMultipart {
			std, err := p.Class(Standard)
			if err != nil {
				return UploadEstimate{}, err
			}
			req.requests(fmt.Sprintf("PUT requests, sidecar per multipart upload (%s)", className(Standard)), multiparts, std.PutPer1000)
		}
	}
	if opt.HeadPerObject {
		req.requests(fmt.Sprintf("HEAD requests, one check per object (%s)", name), heads, cp.GetPer1000)
	}
	monthly, classBytes, err := p.storage(class, groups)
	if err != nil {
		return UploadEstimate{}, err
	}
	total := Estimate{Lines: append([]Line(nil), req.Lines...), Total: req.Total}
	for _, l := range monthly.Lines {
		total.add(fmt.Sprintf("%s for %d %s", l.What, months, plural(months, "month", "months")), l.Quantity*float64(months), l.Unit, l.Per, l.UnitPrice)
	}
	for _, n := range monthly.Notes {
		total.note(n)
	}
	commit := Estimate{Lines: append([]Line(nil), req.Lines...), Total: req.Total}
	if cp.MinDays > 0 {
		commit.gbMonths(fmt.Sprintf("%d days minimum storage duration (%s)", cp.MinDays, name), classBytes, float64(cp.MinDays)/daysPerMonth, cp.StoragePerGBMonth)
	}
	return UploadEstimate{Requests: req, Monthly: monthly, Months: months, Total: total, MinDays: cp.MinDays, Commitment: commit}, nil
}

// ceilDiv is ⌈a/b⌉ for a ≥ 0, b > 0 (0 when b is 0).
func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return a/b + min(a%b, 1)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// className is how lines name a class.
func className(c Class) string {
	if c == Vault {
		return "vault"
	}
	return string(c)
}

// formatBytes prints a size in the largest binary unit that divides it:
// "8 KB", "128 KB", "8 MB", else bytes.
func formatBytes(n int64) string {
	switch {
	case n >= GB && n%GB == 0:
		return fmt.Sprintf("%d GB", n/GB)
	case n >= MB && n%MB == 0:
		return fmt.Sprintf("%d MB", n/MB)
	case n >= KB && n%KB == 0:
		return fmt.Sprintf("%d KB", n/KB)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Bytes estimates storing bytes inside objects of class for months months,
// at the class's storage price alone: no per-object rule applies (they are
// part of objects that are billed anyway), as for the bytes of a pack that
// no kept version uses any more.
func (p *Prices) Bytes(class Class, what string, bytes int64, months float64) (Estimate, error) {
	cp, err := p.Class(class)
	if err != nil {
		return Estimate{}, err
	}
	if bytes < 0 || months < 0 {
		return Estimate{}, fmt.Errorf("negative bytes or months (%d bytes, %g months)", bytes, months)
	}
	var e Estimate
	e.gbMonths(fmt.Sprintf("%s (%s)", what, className(class)), float64(bytes), months, cp.StoragePerGBMonth)
	return e, nil
}

// MinimumMonths is the class's minimum storage duration in (30-day)
// months: what an object stored now is billed for at least.
func (p *Prices) MinimumMonths(class Class) float64 {
	cp, err := p.Class(class)
	if err != nil {
		return 0
	}
	return float64(cp.MinDays) / daysPerMonth
}
