package vault

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Limits and defaults of the Glacier API and of this store.
const (
	// DefaultPartSize is Glacier's smallest part size, used when
	// Config.PartSize and Config.MinPartSize are 0.
	DefaultPartSize = 1 << 20
	// MaxPartSize is the largest part Glacier accepts: 4 GiB.
	MaxPartSize = 4 << 30
	// MaxParts is the most parts a Glacier multipart upload may have.
	MaxParts = 10000
	// DefaultConcurrency is the number of parts of one archive in flight
	// when Config.Concurrency is 0.
	DefaultConcurrency = 4
	// DefaultMaxAttempts bounds the attempts of one request (and of one
	// download chunk) when Config.MaxAttempts is 0.
	DefaultMaxAttempts = 10
	// DefaultMaxBackoff caps the pause between attempts when
	// Config.MaxBackoff is 0.
	DefaultMaxBackoff = 20 * time.Second
	// JobOutputLifetime is how long Glacier keeps a completed job's output.
	JobOutputLifetime = 24 * time.Hour
)

// Config says which vault to use and how to reach it. Credentials, region
// and endpoint are found exactly as the AWS CLI finds them (environment,
// shared config and credentials files, SSO, IMDS); the fields below
// override them.
type Config struct {
	// Region of the vault; "" takes it from AWS_REGION or the profile.
	Region string
	// Vault is the vault's name. Required.
	Vault string
	// AccountID owning the vault; "" means "-", the credentials' account.
	AccountID string
	// Profile of the shared config files; "" uses AWS_PROFILE or "default".
	Profile string
	// EndpointURL replaces the service endpoint (for example an emulator).
	// Without it the SDK honours AWS_ENDPOINT_URL_GLACIER, AWS_ENDPOINT_URL
	// and the profile's endpoint_url, as the AWS CLI does.
	EndpointURL string

	// PartSize of multipart uploads and the largest archive sent in a single
	// request: MinPartSize × 2^n, at most 4 GiB. 0 means MinPartSize.
	// Put raises it when a size hint says the archive would otherwise need
	// more than 10,000 parts.
	PartSize int64
	// Concurrency is the number of parts of one archive uploaded at once;
	// 0 means 4. A Put holds at most PartSize × (Concurrency + 1) bytes.
	Concurrency int
	// MinPartSize replaces Glacier's 1 MiB minimum part size, for tests
	// against an emulator configured likewise. 0 means 1 MiB.
	MinPartSize int64

	// HTTPClient sends the requests; nil uses the SDK's default client.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts of each request (and of each chunk of
	// a download); 0 means 10.
	MaxAttempts int
	// MaxBackoff caps the randomised, exponentially growing pause between
	// attempts; 0 means 20s. Tests use a few milliseconds.
	MaxBackoff time.Duration

	// ObjectLock must be empty: a vault has no lock per archive. Its
	// equivalent is Vault Lock, a policy on the whole vault (for instance
	// one denying glacier:DeleteArchive for archives younger than N days)
	// that the vault's owner applies once; grsync iam-policy --policy
	// vault-lock prints one. New refuses a lock mode with a
	// *store.ConfigError saying so.
	ObjectLock store.LockMode

	// Logger receives debug lines about retries, uploads and downloads;
	// nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with zero fields set to their defaults, or an
// error if a field is out of range.
func (c Config) withDefaults() (Config, error) {
	if c.Vault == "" {
		return c, errors.New("no vault name given")
	}
	if c.AccountID == "" {
		c.AccountID = "-"
	}
	if c.MinPartSize == 0 {
		c.MinPartSize = DefaultPartSize
	}
	if c.MinPartSize < 1 || c.MinPartSize&(c.MinPartSize-1) != 0 || c.MinPartSize > MaxPartSize {
		return c, fmt.Errorf("minimum part size %d is not a power of two of at most 4 GiB", c.MinPartSize)
	}
	if c.PartSize == 0 {
		c.PartSize = c.MinPartSize
	}
	if !validPartSize(c.PartSize, c.MinPartSize) {
		return c, fmt.Errorf("part size %d is not %d × 2^n of at most 4 GiB", c.PartSize, c.MinPartSize)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 0 {
		return c, fmt.Errorf("negative concurrency %d", c.Concurrency)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 0 {
		return c, fmt.Errorf("negative attempt count %d", c.MaxAttempts)
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < 0 {
		return c, fmt.Errorf("negative backoff %v", c.MaxBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// validPartSize reports whether n is min × 2^k and at most 4 GiB.
func validPartSize(n, min int64) bool {
	return n >= min && n <= MaxPartSize && n%min == 0 && (n/min)&(n/min-1) == 0
}

// choosePartSize returns the part size for an archive of about hint bytes
// (hint < 0: unknown): the configured size, doubled until the archive plus
// a margin for format overhead (1% + 64 KiB) fits in maxParts parts, and
// capped at 4 GiB.
func choosePartSize(configured, hint int64, maxParts int) int64 {
	size := configured
	if hint < 0 {
		return size
	}
	if hint >= MaxPartSize*int64(maxParts) {
		return MaxPartSize // too big for any part size; Put fails at the part limit
	}
	need := hint + hint/100 + 64<<10
	for size < MaxPartSize && (need+size-1)/size > int64(maxParts) {
		size *= 2
	}
	return size
}
