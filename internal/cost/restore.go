package cost

import (
	"errors"
	"fmt"

	"github.com/grsync/grsync/internal/store"
)

// Retrieval is a group of objects to read back: Objects objects of Bytes
// in all, each read whole, or (Ranges > 0) read as Ranges byte ranges of
// RangeBytes in all, as when one file is taken out of a larger archive.
//
// What a range saves depends on the store: an S3 GLACIER or DEEP_ARCHIVE
// object is always restored whole (one restore request and the retrieval
// fee for all of Bytes) and only the download is ranged; a vault job can
// fetch a range (one job per range, retrieval fee on RangeBytes, which
// must be megabyte-aligned: see VaultRangeBytes).
type Retrieval struct {
	Objects    int64
	Bytes      int64
	Ranges     int64
	RangeBytes int64
}

func (r Retrieval) check() error {
	if err := (Objects{r.Objects, r.Bytes}).check(); err != nil {
		return err
	}
	switch {
	case r.Ranges < 0 || r.RangeBytes < 0:
		return fmt.Errorf("negative range count or size (%d ranges, %d bytes)", r.Ranges, r.RangeBytes)
	case r.Ranges == 0 && r.RangeBytes > 0:
		return fmt.Errorf("%d range bytes in no ranges", r.RangeBytes)
	case r.Ranges > 0 && r.Objects == 0:
		return fmt.Errorf("%d ranges of no objects", r.Ranges)
	case r.RangeBytes > r.Bytes:
		return fmt.Errorf("ranges of %d bytes read from objects of %d bytes", r.RangeBytes, r.Bytes)
	}
	return nil
}

// reads is the number of reads (ranges, else whole objects) and the bytes
// they read.
func (r Retrieval) reads() (int64, int64) {
	if r.Ranges > 0 {
		return r.Ranges, r.RangeBytes
	}
	return r.Objects, r.Bytes
}

// VaultRangeBytes is the size of the range a vault retrieval job must
// fetch to cover length bytes at offset of an archive of archiveSize
// bytes: Glacier wants ranges that start on a megabyte boundary and end on
// one or at the end of the archive.
func VaultRangeBytes(offset, length, archiveSize int64) int64 {
	if length <= 0 || offset < 0 || offset >= archiveSize {
		return 0
	}
	start := offset / MB * MB
	end := min(ceilDiv(offset+length, MB)*MB, archiveSize)
	return end - start
}

// RestoreOptions says how data is read back.
type RestoreOptions struct {
	Tier store.Tier // "" means Standard; ignored for classes read directly
	// Days a restored copy of a GLACIER or DEEP_ARCHIVE object stays (it is
	// billed at STANDARD's storage price meanwhile); 0 means
	// DefaultRestoreDays.
	Days int
	// SameRegion: the data is downloaded inside the store's AWS region, so
	// no transfer out of AWS is billed.
	SameRegion bool
}

// RestoreEstimate is what reading data back costs, and how long it takes.
type RestoreEstimate struct {
	Estimate
	Tier store.Tier // the tier priced; "" for classes read directly
	Wait Wait       // typical wait before the data can be downloaded
}

// ErrNoExpedited is returned (wrapped) for an Expedited estimate of
// DEEP_ARCHIVE, which has no such tier.
var ErrNoExpedited = errors.New("DEEP_ARCHIVE has no Expedited retrievals")

// Restore estimates reading the groups back from class: restore requests
// or retrieval jobs, the per-GB retrieval fee of the tier (or of a class
// read directly), the restored copy's storage (S3 archive classes), GET
// requests, and the transfer out of AWS; and the expected wait.
func (p *Prices) Restore(class Class, opt RestoreOptions, groups ...Retrieval) (RestoreEstimate, error) {
	cp, err := p.Class(class)
	if err != nil {
		return RestoreEstimate{}, err
	}
	var objects, bytes, reads, readBytes int64
	for _, g := range groups {
		if err := g.check(); err != nil {
			return RestoreEstimate{}, err
		}
		n, b := g.reads()
		objects, bytes, reads, readBytes = objects+g.Objects, bytes+g.Bytes, reads+n, readBytes+b
	}
	name := className(class)
	var out RestoreEstimate
	e := &out.Estimate
	if cp.Archive() {
		tier := opt.Tier
		if tier == "" {
			tier = store.TierStandard
		}
		tp, ok := cp.Tiers[tier]
		if !ok {
			if class == DeepArchive && tier == store.TierExpedited {
				return RestoreEstimate{}, fmt.Errorf("%w: use --tier Standard (%s) or Bulk (%s)", ErrNoExpedited,
					cp.Tiers[store.TierStandard].Wait, cp.Tiers[store.TierBulk].Wait)
			}
			return RestoreEstimate{}, fmt.Errorf("no %q retrieval tier for %s: use Expedited, Standard or Bulk", tier, name)
		}
		out.Tier, out.Wait = tier, tp.Wait
		if class == Vault {
			// A job per whole archive or per range; the fee on what it reads.
			e.requests(fmt.Sprintf("retrieval jobs (%s, vault)", tier), reads, tp.Per1000)
			e.gb(fmt.Sprintf("data retrieval (%s, vault)", tier), float64(readBytes), tp.PerGB)
		} else {
			days := opt.Days
			if days <= 0 {
				days = DefaultRestoreDays
			}
			std, err := p.Class(Standard)
			if err != nil {
				return RestoreEstimate{}, err
			}
			// S3 restores whole objects, then serves ranged GETs.
			e.requests(fmt.Sprintf("restore requests (%s, %s)", tier, name), objects, tp.Per1000)
			e.gb(fmt.Sprintf("data retrieval (%s, %s)", tier, name), float64(bytes), tp.PerGB)
			e.gbMonths(fmt.Sprintf("restored copy kept %d %s (%s)", days, plural(days, "day", "days"), className(Standard)),
				float64(bytes), float64(days)/daysPerMonth, std.StoragePerGBMonth)
			e.requests(fmt.Sprintf("GET requests (%s)", name), reads, cp.GetPer1000)
			e.note("status checks while a restore runs (HEAD requests, priced as GETs) are not counted: a fraction of a cent per thousand")
		}
	} else {
		e.requests(fmt.Sprintf("GET requests (%s)", name), reads, cp.GetPer1000)
		if cp.RetrievalPerGB > 0 {
			e.gb(fmt.Sprintf("data retrieval (%s)", name), float64(readBytes), cp.RetrievalPerGB)
		}
	}
	if opt.SameRegion {
		e.note("downloaded inside the store's region: no transfer out of AWS is billed")
	} else {
		e.gb("data transfer out to the internet", float64(readBytes), p.TransferOutPerGB)
		if p.TransferOutFreeGB > 0 {
			e.note(fmt.Sprintf("the first %d GB a month transferred out of AWS (all services of the account together) are free; not subtracted here", p.TransferOutFreeGB))
		}
	}
	return out, nil
}
