package vault

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/logging"
)

// Base pauses before the first retry; each further retry doubles the
// ceiling up to Config.MaxBackoff, and the pause is drawn uniformly below
// it ("full jitter").
const (
	baseBackoff         = 50 * time.Millisecond
	baseThrottleBackoff = time.Second
)

// newRetryer returns the SDK's standard retryer set up for Glacier:
// bounded attempts; retries of throttling (Glacier's ThrottlingException
// comes with HTTP 400), HTTP 429 and 5xx, RequestTimeout, and connections
// refused, reset or dropped; exponential backoff with full jitter. The
// SDK's client-wide retry quota is off: one backup run is not a fleet
// that must back off together, and bounded attempts per request suffice.
// The SDK rewinds a request's body before each new attempt, so every
// attempt sends the same bytes.
func newRetryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	throttles := retry.IsErrorThrottles(retry.DefaultThrottles)
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.RateLimiter = ratelimit.None
		o.Retryables = append(o.Retryables, retry.RetryableHTTPStatusCode{
			Codes: map[int]struct{}{429: {}},
		})
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, err error) (time.Duration, error) {
			base := baseBackoff
			if throttles.IsErrorThrottle(err) == aws.TrueTernary {
				base = baseThrottleBackoff
			}
			return backoff(base, maxBackoff, attempt), nil
		})
	})
}

// backoff returns a random pause before retry number attempt (1 for the
// first retry): uniform in [0, min(base × 2^(attempt-1), max)].
func backoff(base, max time.Duration, attempt int) time.Duration {
	ceiling := max
	if shift := attempt - 1; shift < 30 {
		if d := base << max0(shift); d < max {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// sleep pauses for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sdkLogger passes the SDK's log lines (retries) to slog at debug level.
func sdkLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		l.Debug("aws sdk: "+fmt.Sprintf(format, v...), "class", string(c))
	})
}
