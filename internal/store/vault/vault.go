package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/store"
)

// openAttempts bounds the attempts of New's DescribeVault, so that a wrong
// endpoint is reported in about a second rather than after minutes.
const openAttempts = 3

// Store is a store.Store on one Amazon S3 Glacier vault. It is safe for
// concurrent use.
type Store struct {
	cfg    Config // with defaults applied
	client *glacier.Client
	region string
	store.Base
	log  *slog.Logger
	bufs *bufPools

	maxParts     int           // MaxParts; tests lower it
	stallTimeout time.Duration // if set, replaces chunkTimeout's estimate (tests)
}

var _ store.Store = (*Store)(nil)

// New connects to the vault cfg names and checks that it exists and that
// the credentials may use it (DescribeVault). Problems the user must fix —
// a missing vault, missing or rejected credentials, an unknown profile, a
// wrong region or endpoint — come back as one *store.ConfigError whose Hint
// says what to do.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.ObjectLock != "" {
		return nil, &store.ConfigError{
			Err: fmt.Errorf("glacier vault %s: --object-lock %s: a vault has no lock per archive", cfg.Vault, strings.ToLower(string(cfg.ObjectLock))),
			Hint: "leave out --object-lock; a vault is made immutable with a Vault Lock policy on the whole vault, " +
				"applied once by its owner: grsync iam-policy --policy vault-lock prints one (see the README)",
		}
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, &store.ConfigError{
			Err:  fmt.Errorf("glacier vault: %w", err),
			Hint: "check --vault and --part-size",
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return newRetryer(cfg.MaxAttempts, cfg.MaxBackoff) }),
		config.WithLogger(sdkLogger(cfg.Logger)),
		config.WithClientLogMode(aws.LogRetries),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &store.ConfigError{
			Err:  fmt.Errorf("glacier vault %s: loading the AWS configuration: %w", cfg.Vault, err),
			Hint: "check --profile, AWS_PROFILE and ~/.aws/config",
		}
	}
	if awsCfg.Region == "" {
		return nil, &store.ConfigError{
			Err:  fmt.Errorf("glacier vault %s: no AWS region given", cfg.Vault),
			Hint: "give --region, or set AWS_REGION or the profile's region",
		}
	}
	s := &Store{
		cfg:    cfg,
		region: awsCfg.Region,
		Base:   store.NewBase("glacier:" + awsCfg.Region + ":" + cfg.Vault),
		log:    cfg.Logger,
		bufs:   newBufPools(),

		maxParts: MaxParts,
	}
	s.client = glacier.NewFromConfig(awsCfg, func(o *glacier.Options) {
		if cfg.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.EndpointURL)
		}
	})
	if err := s.check(ctx, awsCfg.Credentials); err != nil {
		return nil, s.Fail("open", err)
	}
	return s, nil
}

// Connection returns the AWS region and the endpoint URL ("" for AWS's
// own) in effect, whichever way they were given (Config, AWS_REGION,
// AWS_ENDPOINT_URL*, the profile), so that a caller can remember them.
func (s *Store) Connection() (region, endpoint string) {
	return s.region, aws.ToString(s.client.Options().BaseEndpoint)
}

// check makes sure credentials exist and the vault can be described.
func (s *Store) check(ctx context.Context, creds aws.CredentialsProvider) error {
	if creds == nil {
		return &store.ConfigError{Err: errors.New("no AWS credentials found"), Hint: hintCredentials}
	}
	if _, err := creds.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &store.ConfigError{Err: fmt.Errorf("no AWS credentials found: %w", err), Hint: hintCredentials}
	}
	_, err := s.client.DescribeVault(ctx, &glacier.DescribeVaultInput{
		AccountId: s.account(), VaultName: s.vault(),
	}, func(o *glacier.Options) {
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, min(openAttempts, s.cfg.MaxAttempts))
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	switch {
	case isNotFound(err):
		return &store.ConfigError{
			Err: fmt.Errorf("vault %q does not exist in region %s: %w", s.cfg.Vault, s.region, err),
			Hint: fmt.Sprintf("create it with: aws glacier create-vault --vault-name %s --account-id %s --region %s",
				s.cfg.Vault, s.cfg.AccountID, s.region),
		}
	case apiCode(err) != "":
		return classify(err)
	}
	// No answer from the service: the endpoint could not be resolved,
	// looked up or connected to.
	hint := fmt.Sprintf("check --region (%q is what was used)", s.region)
	if s.cfg.EndpointURL != "" {
		hint += " and --endpoint-url " + s.cfg.EndpointURL
	} else {
		hint += ", and AWS_ENDPOINT_URL or the profile's endpoint_url if set"
	}
	return &store.ConfigError{
		Err:  fmt.Errorf("cannot reach Amazon S3 Glacier in region %s: %w", s.region, err),
		Hint: hint,
	}
}

func (s *Store) vault() *string   { return aws.String(s.cfg.Vault) }
func (s *Store) account() *string { return aws.String(s.cfg.AccountID) }
