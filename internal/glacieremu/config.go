package glacieremu

import (
	"log/slog"
	"time"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultRegion       = "us-east-1"
	DefaultAccountID    = "123456789012"
	DefaultMaxPartCount = 10000
	DefaultMinPartSize  = 1 << 20 // 1 MiB, as AWS
	DefaultJobExpiry    = 24 * time.Hour
	// MaxPartSize is the largest part size AWS accepts: 4 GiB.
	MaxPartSize = 4 << 30
	// MaxUploadArchiveSize is the largest single-request upload: 4 GiB.
	MaxUploadArchiveSize = 4 << 30
	// MaxDescription is the longest archive or job description, in bytes.
	MaxDescription = 1024
	// APIVersion is the only x-amz-glacier-version the API accepts.
	APIVersion = "2012-06-01"
)

// Tier is a retrieval speed class.
type Tier string

// The three retrieval tiers of the Glacier API.
const (
	TierExpedited Tier = "Expedited"
	TierStandard  Tier = "Standard"
	TierBulk      Tier = "Bulk"
)

// Delays says how long jobs take to complete. Real Glacier takes minutes to
// hours; the defaults are tiny so that tests run fast.
type Delays struct {
	Expedited time.Duration
	Standard  time.Duration
	Bulk      time.Duration
	Inventory time.Duration // inventory-retrieval jobs, whatever their tier
}

// DefaultDelays are the job delays used when Config.Delays is the zero value.
func DefaultDelays() Delays {
	return Delays{
		Expedited: 10 * time.Millisecond,
		Standard:  50 * time.Millisecond,
		Bulk:      100 * time.Millisecond,
		Inventory: 50 * time.Millisecond,
	}
}

func (d Delays) forTier(t Tier) time.Duration {
	switch t {
	case TierExpedited:
		return d.Expedited
	case TierBulk:
		return d.Bulk
	default:
		return d.Standard
	}
}

// Fault describes the faults injected into requests of one operation. Rates
// are probabilities in [0, 1]; on each request one draw of the seeded
// generator picks at most one of drop, throttle or error, in that order.
type Fault struct {
	// ErrorRate: reply 500 ServiceUnavailableException.
	ErrorRate float64
	// ThrottleRate: reply 400 ThrottlingException, as Glacier does (not 429).
	ThrottleRate float64
	// DropRate: take over the connection and close it mid-body: after
	// reading about half of the request body for uploads, after writing about
	// half of the response body for GetJobOutput, at once otherwise.
	DropRate float64
	// Latency is added before the request is handled.
	Latency time.Duration
}

// Config configures a Server. The zero value is usable: an in-memory store
// with AWS's limits, tiny job delays, the real clock and no faults.
type Config struct {
	// Region and AccountID appear in ARNs and Location headers. Requests may
	// name the account as "-" or as AccountID; any other account is denied.
	Region    string
	AccountID string

	// Dir, if set, is a directory under which archive and part data are
	// stored in files, so that memory stays bounded for large archives.
	// The emulator makes its own subdirectory and removes it on Close.
	// Vault, archive and job metadata always live in memory.
	Dir string

	// Now is the clock; nil means time.Now. Tests inject a fake clock to
	// move jobs along and to expire them.
	Now func() time.Time

	// Delays before jobs complete; the zero value means DefaultDelays().
	// (To make every job complete at once, set each delay to 1ns.)
	Delays Delays

	// JobExpiry is how long a completed job's output stays available;
	// 0 means 24 hours, as AWS.
	JobExpiry time.Duration

	// MaxPartCount is the most parts a multipart upload may have; 0 means
	// 10,000, as AWS.
	MaxPartCount int

	// MinPartSize replaces AWS's 1 MiB as the smallest part size (valid part
	// sizes are MinPartSize × 2^n, up to 4 GiB), so that a test can reach
	// MaxPartCount with little data. 0 means 1 MiB.
	MinPartSize int64

	// Faults per operation. The entry for AllOps applies to operations
	// without an entry of their own (a zero Fault entry exempts one).
	// Server.SetFault changes them at run time.
	Faults map[Op]Fault

	// Seed seeds the generator that decides fault injection.
	Seed uint64

	// NoTags makes the emulator answer the vault tag operations as moto
	// does, which does not implement them: 404 with an HTML page and no
	// AWS error code. For testing how clients cope with such a service.
	NoTags bool

	// Logger receives one debug line per request and info lines for
	// injected faults; nil discards.
	Logger *slog.Logger
}

// withDefaults returns c with zero fields replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = DefaultAccountID
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Delays == (Delays{}) {
		c.Delays = DefaultDelays()
	}
	if c.JobExpiry == 0 {
		c.JobExpiry = DefaultJobExpiry
	}
	if c.MaxPartCount == 0 {
		c.MaxPartCount = DefaultMaxPartCount
	}
	if c.MinPartSize == 0 {
		c.MinPartSize = DefaultMinPartSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
