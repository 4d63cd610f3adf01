package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/store"
)

// Key namespaces under the prefix.
const (
	archivesDir = "grsync/"         // PREFIX + "grsync/" + id: one archive
	uploadsDir  = "grsync-uploads/" // PREFIX + "grsync-uploads/" + id: a multipart upload's description
)

// Store is a store.Store on an S3 bucket. It is safe for concurrent use.
type Store struct {
	cfg    Config
	client *s3.Client
	store.Base
	region string // the region in effect
	// versioned is set when New found versioning on (it checks only when
	// Object Lock is configured): deletes then remove versions.
	versioned bool

	// bufAllocs counts part buffers allocated by Puts, for tests of the
	// memory bound.
	bufAllocs atomic.Int64
	// spare keeps the part buffers of finished Puts for the next ones (a
	// sync Puts its packs one after another): without it every pack
	// allocated its parts anew, and a 1 GiB backup made ~400 MiB of garbage
	// that the heap grew to hold. At most 2 × (Concurrency + 1) are kept.
	spare chan []byte
}

var _ store.Store = (*Store)(nil)

// New checks cfg, loads credentials and region the way the AWS CLI does
// (config.LoadDefaultConfig with cfg.Profile and cfg.Region), and checks
// that the bucket exists and can be reached, by listing at most one key
// under PREFIX grsync/ (ListObjectsV2, which a policy that lets grsync list
// only its own prefix allows, unlike HeadBucket). With cfg.ObjectLock it
// also checks that the bucket has Object Lock enabled and versioning on. A
// problem the user must fix (a bad setting, a missing bucket, bad
// credentials, a wrong region, a bucket that cannot lock) is a
// *store.ConfigError with a Hint.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{Base: store.NewBase(location(cfg.Bucket, cfg.Prefix)), cfg: cfg}
	s.spare = make(chan []byte, 2*(cfg.Concurrency+1))

	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	opts = append(opts,
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
				// A backup of many parts must not run out of retry tokens
				// after a burst of network trouble; attempts stay bounded.
				o.RateLimiter = ratelimit.None
			})
		}),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = 2 * time.Minute
			t.MaxIdleConnsPerHost = max(2*cfg.Concurrency, 16)
		})),
		config.WithLogger(sdkLogger(cfg.Logger)),
		config.WithClientLogMode(aws.LogRetries),
	)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var noProfile config.SharedConfigProfileNotExistError
		if errors.As(err, &noProfile) {
			return nil, &store.ConfigError{
				Err:  fmt.Errorf("%s: AWS profile %q not found: %w", s.Location(), noProfile.Profile, err),
				Hint: "check --profile and AWS_PROFILE against ~/.aws/config and ~/.aws/credentials",
			}
		}
		return nil, &store.ConfigError{Err: fmt.Errorf("%s: load AWS configuration: %w", s.Location(), err), Hint: "check ~/.aws/config and the AWS_* environment variables"}
	}
	if awsCfg.Region == "" {
		return nil, &store.ConfigError{
			Err:  fmt.Errorf("%s: no AWS region configured", s.Location()),
			Hint: "give --region, set AWS_REGION, or set region in the profile",
		}
	}
	if awsCfg.Credentials == nil {
		return nil, &store.ConfigError{Err: fmt.Errorf("%s: no AWS credentials configured", s.Location()), Hint: credentialsHint}
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, s.Fail("open", ctx.Err())
		}
		return nil, &store.ConfigError{Err: fmt.Errorf("%s: no usable AWS credentials: %w", s.Location(), err), Hint: credentialsHint}
	}
	s.region = awsCfg.Region
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.EndpointURL)
		}
		// Endpoints other than AWS's (explicit, or from AWS_ENDPOINT_URL*)
		// rarely have a DNS name per bucket.
		o.UsePathStyle = cfg.PathStyle || o.BaseEndpoint != nil
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	if err := s.checkBucket(ctx); err != nil {
		return nil, err
	}
	if cfg.ObjectLock != "" {
		if err := s.checkObjectLock(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Connection returns the AWS region and the endpoint URL ("" for AWS's
// own) in effect, whichever way they were given (Config, AWS_REGION,
// AWS_ENDPOINT_URL*, the profile), so that a caller can remember them.
func (s *Store) Connection() (region, endpoint string) {
	return s.region, aws.ToString(s.client.Options().BaseEndpoint)
}

// location is "s3:BUCKET/PREFIX" without the prefix's trailing slash, or
// "s3:BUCKET" without a prefix.
func location(bucket, prefix string) string {
	if prefix == "" {
		return "s3:" + bucket
	}
	return "s3:" + bucket + "/" + strings.TrimSuffix(prefix, "/")
}

// checkBucket lists at most one key under PREFIX grsync/, and turns the
// ways that fails into ConfigErrors.
func (s *Store) checkBucket(ctx context.Context) error {
	_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.cfg.Prefix + archivesDir), MaxKeys: aws.Int32(1),
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return s.Fail("open", err)
	}
	if ce := configError(err, s.cfg.Bucket, s.region); ce != nil {
		ce.Err = fmt.Errorf("%s: open: %w", s.Location(), ce.Err)
		return ce
	}
	return s.Fail("open", err)
}

// Location returns "s3:BUCKET/PREFIX" (without a trailing slash), or
// "s3:BUCKET" when there is no prefix.

// objectKey is the key of archive id.
func (s *Store) objectKey(id string) string { return s.cfg.Prefix + archivesDir + id }

// uploadKey is the key of the sidecar that describes archive id's
// multipart upload while it is in progress.
func (s *Store) uploadKey(id string) string { return s.cfg.Prefix + uploadsDir + id }

// restoreJobID is the stable handle of a restore of archive id.
func (s *Store) restoreJobID(id string) string { return "restore:" + s.objectKey(id) }

// newID returns a new archive id (store.NewID: never starting with "-",
// so that the object saved under its id is no option to the recovery
// recipe's tools).
func newID() string { return store.NewID() }

// validID reports whether id could name an archive: 1 to 200 characters
// from [A-Za-z0-9_-].
func validID(id string) bool {
	if len(id) == 0 || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
