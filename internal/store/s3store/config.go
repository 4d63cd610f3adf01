package s3store

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// Defaults and limits of Config.
const (
	DefaultStorageClass = "DEEP_ARCHIVE"
	DefaultPartSize     = 8 << 20
	DefaultConcurrency  = 4
	DefaultRestoreDays  = 7
	DefaultMaxAttempts  = 5
	DefaultMaxBackoff   = 20 * time.Second

	// MinPartSize is the smallest part S3 accepts (except for the last one).
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part S3 accepts.
	MaxPartSize = 5 << 30
	// MaxParts is the most parts one multipart upload may have.
	MaxParts = 10000
)

// storageClassList names the classes Config.StorageClass accepts.
const storageClassList = "STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE"

// Config says which bucket to use and how. Only Bucket is required.
type Config struct {
	// Bucket is the S3 bucket; it must exist.
	Bucket string
	// Prefix is prepended to every key grsync writes. A missing trailing "/"
	// is added, a leading "/" removed: "backups" and "/backups/" are the same.
	Prefix string
	// Region overrides the region of the profile or AWS_REGION.
	Region string
	// StorageClass of new objects: STANDARD, STANDARD_IA, ONEZONE_IA,
	// INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE (default).
	// Case and "-" for "_" do not matter.
	StorageClass string
	// Profile names a profile of the shared AWS config and credentials
	// files; "" means AWS_PROFILE or "default", as with the AWS CLI.
	Profile string
	// EndpointURL replaces the S3 endpoint (an S3-compatible service or a
	// test server). Without it the SDK honours AWS_ENDPOINT_URL_S3,
	// AWS_ENDPOINT_URL and the profile's endpoint_url, like the AWS CLI.
	EndpointURL string
	// PathStyle addresses the bucket in the URL path instead of the host
	// name. It is turned on whenever an endpoint URL is in effect.
	PathStyle bool
	// PartSize of multipart uploads: at least MinPartSize (default 8 MiB).
	// Put raises it for a large store.WithSizeHint so that at most MaxParts
	// parts are needed. Bodies up to PartSize go up in one PutObject.
	PartSize int64
	// Concurrency is the number of parts uploaded at once (default 4). A Put
	// holds at most PartSize × (Concurrency + 1) bytes of the body in memory.
	Concurrency int
	// RestoreDays is how long a restored copy of a GLACIER or DEEP_ARCHIVE
	// object stays readable when the retrieval does not say (default 7).
	RestoreDays int
	// Tier is the retrieval tier used when a retrieval does not name one
	// (default Standard). Expedited is refused for DEEP_ARCHIVE.
	Tier store.Tier
	// MaxAttempts bounds the SDK's attempts per request, the first included
	// (default 5). Throttling, 5xx replies, timeouts and dropped
	// connections are retried with exponential backoff and jitter.
	MaxAttempts int
	// MaxBackoff caps the pause between attempts (default 20s).
	MaxBackoff time.Duration
	// ObjectLock, when set, writes every archive with an S3 Object Lock
	// retention in this mode (store.LockGovernance or
	// store.LockCompliance), in the same request that stores it. New then
	// checks that the bucket has Object Lock enabled and versioning on,
	// and refuses it otherwise, before anything is uploaded.
	ObjectLock store.LockMode
	// LockDays is the retention of a new archive in days from its upload:
	// 0 means DefaultLockDays(StorageClass). Only with ObjectLock.
	LockDays int
	// Logger receives debug messages (retries, aborted uploads) and
	// warnings; nil discards them.
	Logger *slog.Logger
}

// Check reports what New would refuse in cfg before sending any request
// (a *store.ConfigError), so that callers can check settings first.
func (c Config) Check() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults fills in defaults, normalises names and checks every field.
// Its errors are *store.ConfigError.
func (c Config) withDefaults() (Config, error) {
	bad := func(hint, format string, args ...any) (Config, error) {
		return Config{}, &store.ConfigError{Err: fmt.Errorf("s3 store: "+format, args...), Hint: hint}
	}
	if c.Bucket == "" {
		return bad("name the bucket with --bucket", "no bucket given")
	}
	if strings.ContainsAny(c.Bucket, "/: ") {
		return bad("give the bucket's name alone, without s3:// or a path (use --prefix for a folder)", "invalid bucket name %q", c.Bucket)
	}
	c.Prefix = strings.TrimLeft(c.Prefix, "/")
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if !store.ValidDescription(c.Prefix) || strings.Contains(c.Prefix, "//") || len(c.Prefix) > 512 {
		return bad("use a short prefix of printable ASCII characters without empty path segments", "invalid prefix %q", c.Prefix)
	}

	class, ok := normalizeClass(c.StorageClass)
	if !ok {
		return bad("use one of "+storageClassList, "unknown storage class %q", c.StorageClass)
	}
	c.StorageClass = class

	switch {
	case c.PartSize == 0:
		c.PartSize = DefaultPartSize
	case c.PartSize < MinPartSize || c.PartSize > MaxPartSize:
		return bad("use a part size from 5 MiB to 5 GiB", "part size %d is outside S3's limits", c.PartSize)
	}
	switch {
	case c.Concurrency == 0:
		c.Concurrency = DefaultConcurrency
	case c.Concurrency < 0 || c.Concurrency > 64:
		return bad("use 1 to 64 parallel uploads", "concurrency %d is out of range", c.Concurrency)
	}
	switch {
	case c.RestoreDays == 0:
		c.RestoreDays = DefaultRestoreDays
	case c.RestoreDays < 0:
		return bad("give --days as a positive number of days", "restore days %d is negative", c.RestoreDays)
	}
	tier, err := checkTier(c.Tier)
	if err != nil {
		return bad("use --tier Standard, Bulk or Expedited", "%v", err)
	}
	c.Tier = tier
	if c.StorageClass == "DEEP_ARCHIVE" && c.Tier == store.TierExpedited {
		ce := errNoExpedited()
		ce.Err = fmt.Errorf("s3 store: %w", ce.Err)
		return Config{}, ce
	}
	if err := c.checkLock(); err != nil {
		return Config{}, err
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 1 {
		return bad("allow at least one attempt", "max attempts %d is out of range", c.MaxAttempts)
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// normalizeClass returns the canonical name of a storage class; "" is the
// default class.
func normalizeClass(s string) (string, bool) {
	if s == "" {
		return DefaultStorageClass, true
	}
	up := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", "_")
	switch up {
	case "STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE":
		return up, true
	}
	return "", false
}

var errUnknownTier = errors.New("unknown retrieval tier")

// checkTier returns t, or TierStandard for "", and fails for unknown tiers.
func checkTier(t store.Tier) (store.Tier, error) {
	switch t {
	case "":
		return store.TierStandard, nil
	case store.TierStandard, store.TierBulk, store.TierExpedited:
		return t, nil
	}
	return "", fmt.Errorf("%w %q", errUnknownTier, t)
}

// errNoExpedited says that DEEP_ARCHIVE has no Expedited retrievals.
func errNoExpedited() *store.ConfigError {
	return &store.ConfigError{
		Err:  errors.New("the DEEP_ARCHIVE storage class has no Expedited retrievals"),
		Hint: "use --tier Standard (ready within 12 hours) or --tier Bulk (within 48 hours)",
	}
}

// archived reports whether objects of the class must be restored before
// they can be read.
func archived(class string) bool {
	return class == "GLACIER" || class == "DEEP_ARCHIVE"
}
