package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/grsync/grsync/internal/store"
)

// Error codes of the Glacier API that the store maps to the store's error
// rules. Any other 4xx error is permanent; 5xx, throttling and timeouts
// (left after the SDK's retries) are transient.
const (
	codeNotFound         = "ResourceNotFoundException"
	codeMotoVaultMissing = "VaultNotFound" // moto's code for a missing vault
	codeAccessDenied     = "AccessDeniedException"
	codeThrottling       = "ThrottlingException"
	codeRequestTimeout   = "RequestTimeoutException"
	codeNoCapacity       = "InsufficientCapacityException"
)

// isCredentialCode reports whether code says AWS rejected the request's
// credentials.
func isCredentialCode(code string) bool {
	switch code {
	case "UnrecognizedClientException", "InvalidSignatureException",
		"MissingAuthenticationTokenException", "IncompleteSignatureException",
		"InvalidClientTokenId", "SignatureDoesNotMatch",
		"ExpiredTokenException", "ExpiredToken":
		return true
	}
	return false
}

// Hints shown with configuration errors.
const (
	hintCredentials = "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile and ~/.aws/credentials"
	hintAccess      = "the credentials may not use this vault: check the IAM policy (grsync iam-policy prints the one grsync needs) and --profile"
)

// apiCode returns the AWS error code carried by err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of the response behind err, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isNotFound reports whether err says the named resource does not exist.
func isNotFound(err error) bool {
	c := apiCode(err)
	return c == codeNotFound || c == codeMotoVaultMissing
}

// classify makes an SDK error follow the store's error rules: missing
// things wrap store.ErrNotFound, rejected credentials become a
// store.ConfigError, requests that can never succeed are permanent, and
// the rest stays transient. A request that used up its attempts says so.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code := apiCode(err)
	switch {
	case isNotFound(err):
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	case isCredentialCode(code):
		return &store.ConfigError{Err: fmt.Errorf("AWS rejected the credentials: %w", err), Hint: hintCredentials}
	case code == codeAccessDenied:
		return &store.ConfigError{Err: fmt.Errorf("access denied: %w", err), Hint: hintAccess}
	case code == codeThrottling || code == codeRequestTimeout || code == codeNoCapacity:
		return gaveUp(err)
	}
	if s := httpStatus(err); s >= 400 && s < 500 && s != 408 && s != 429 {
		return store.Permanent(err)
	}
	return gaveUp(err)
}

// gaveUp adds how many attempts were made, if the SDK stopped retrying
// because of its bound.
func gaveUp(err error) error {
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		return fmt.Errorf("gave up after %d attempts: %w", me.Attempt, err)
	}
	return err
}
