package s3store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/grsync/grsync/internal/store"
)

// credentialsHint says how to provide credentials.
const credentialsHint = "configure credentials as for the AWS CLI: --profile, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"

// apiError returns the S3 error code ("" if none) and HTTP status (0 if no
// reply came) behind err.
func apiError(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// isNotFound reports whether S3 said the key, upload or object is missing.
func isNotFound(err error) bool {
	code, status := apiError(err)
	switch code {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	case "NoSuchBucket":
		return false
	}
	return status == 404
}

// configError returns the ConfigError that err amounts to, or nil: a
// missing bucket, credentials that are missing, wrong or not allowed, or a
// bucket in another region.
func configError(err error, bucket, region string) *store.ConfigError {
	if errors.As(err, new(*v4.SigningError)) {
		return &store.ConfigError{
			Err:  fmt.Errorf("no usable AWS credentials: %w", err),
			Hint: credentialsHint,
		}
	}
	code, status := apiError(err)
	var bucketRegion string
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		bucketRegion = re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	switch {
	case code == "NoSuchBucket" || (status == 404 && code != "NoSuchKey" && code != "NoSuchUpload"):
		return &store.ConfigError{
			Err:  fmt.Errorf("bucket %q does not exist", bucket),
			Hint: fmt.Sprintf("create it first (aws s3 mb s3://%s) or check --bucket", bucket),
		}
	case status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
		code == "IllegalLocationConstraintException" || (bucketRegion != "" && bucketRegion != region && status == 400):
		hint := "give the bucket's region with --region"
		if bucketRegion != "" {
			hint = "the bucket is in " + bucketRegion + ": use --region " + bucketRegion
		}
		return &store.ConfigError{Err: fmt.Errorf("bucket %q is not in region %s: %w", bucket, region, err), Hint: hint}
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" ||
		code == "InvalidToken" || code == "TokenRefreshRequired":
		return &store.ConfigError{
			Err:  fmt.Errorf("AWS rejected the credentials: %w", err),
			Hint: "check the access key and secret (--profile, AWS_PROFILE, AWS_ACCESS_KEY_ID); renew expired session credentials",
		}
	case status == 403 || code == "AccessDenied" || code == "AllAccessDisabled":
		return &store.ConfigError{
			Err:  fmt.Errorf("access to bucket %q denied: %w", bucket, err),
			Hint: "check the credentials (--profile, AWS_PROFILE, AWS_ACCESS_KEY_ID) and that their policy allows what grsync needs on the bucket and prefix: grsync iam-policy prints that policy",
		}
	}
	return nil
}

// classify makes an SDK error follow the store's error rules: a
// cancellation wraps ctx.Err(), configuration problems become ConfigErrors,
// and other rejections that retrying cannot fix become permanent. Errors
// the SDK gave up retrying (5xx, throttling, network) stay transient.
// Callers map "not found" themselves, since its meaning depends on the call.
func (s *Store) classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	if ce := configError(err, s.cfg.Bucket, s.region); ce != nil {
		if code, status := apiError(err); status == 404 && code != "NoSuchBucket" {
			return err // a missing key: the caller knows what that means
		}
		return ce
	}
	code, status := apiError(err)
	switch code {
	case "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "Throttling", "ThrottlingException",
		"InternalError", "ServiceUnavailable", "OperationAborted":
		return err
	}
	if status >= 400 && status < 500 && status != 408 && status != 429 {
		return store.Permanent(err)
	}
	return err
}

// sdkLogger routes the SDK's log lines to l: warnings as warnings, the rest
// (retries) as debug messages.
func sdkLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		msg := fmt.Sprintf(format, v...)
		if c == logging.Warn {
			l.Warn("aws sdk: " + msg)
			return
		}
		l.Debug("aws sdk: " + msg)
	})
}
