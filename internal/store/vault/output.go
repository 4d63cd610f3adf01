package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/store"
)

// getOutput requests bytes [start, end) of a job's output (end < 0: to its
// end) and returns a body positioned at start, with the tree hash the
// service sent for exactly that range ("" if none). A service that ignores
// the Range header (moto) sends the whole output; the body then skips to
// start itself and no tree hash is returned.
func (s *Store) getOutput(ctx context.Context, jobID string, start, end int64) (io.ReadCloser, string, error) {
	in := &glacier.GetJobOutputInput{AccountId: s.account(), VaultName: s.vault(), JobId: aws.String(jobID)}
	if start > 0 || end >= 0 {
		rng := fmt.Sprintf("bytes=%d-", start)
		if end >= 0 {
			rng += strconv.FormatInt(end-1, 10)
		}
		in.Range = &rng
	}
	out, err := s.client.GetJobOutput(ctx, in)
	if err != nil {
		return nil, "", withCtx(ctx, classify(err))
	}
	body, sum := out.Body, strings.ToLower(deref(out.Checksum))
	switch {
	case in.Range == nil:
	case deref(out.ContentRange) != "":
		first, last, _, err := parseContentRange(*out.ContentRange)
		if err != nil || first != start || (end >= 0 && last != end-1) {
			body.Close()
			return nil, "", fmt.Errorf("asked for %s, the service sent Content-Range %q", *in.Range, *out.ContentRange)
		}
	case out.Status == 206:
		body.Close()
		return nil, "", fmt.Errorf("asked for %s, the service sent part of the output without a Content-Range", *in.Range)
	default:
		// 200 without Content-Range: the whole output.
		if _, err := io.CopyN(io.Discard, body, start); err != nil {
			body.Close()
			if errors.Is(err, io.EOF) {
				return nil, "", store.Permanent(fmt.Errorf("offset %d is beyond the end of the job's output", start))
			}
			return nil, "", fmt.Errorf("skipping to offset %d: %w", start, err)
		}
		if end >= 0 {
			body = &limitedBody{Reader: io.LimitReader(body, end-start), Closer: body}
		}
		sum = ""
	}
	return body, sum, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// parseContentRange parses an HTTP Content-Range value "bytes FIRST-LAST/TOTAL"
// (TOTAL may be "*", returned as -1).
func parseContentRange(v string) (first, last, total int64, err error) {
	bad := fmt.Errorf("malformed Content-Range %q", v)
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	span, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if first, err = parseDecimal(a); err != nil {
		return 0, 0, 0, bad
	}
	if last, err = parseDecimal(b); err != nil || last < first {
		return 0, 0, 0, bad
	}
	total = -1
	if size != "*" {
		if total, err = parseDecimal(size); err != nil || last >= total {
			return 0, 0, 0, bad
		}
	}
	return first, last, total, nil
}

// parseDecimal parses a non-negative decimal int64: digits only.
func parseDecimal(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, errors.New("not a decimal number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// giveUp reports whether retrying a failed output request is pointless:
// the error is permanent, or the SDK already spent its attempts on it.
func giveUp(err error) bool {
	var me *retry.MaxAttemptsError
	return store.IsPermanent(err) || errors.As(err, &me)
}

// streamReader streams a job's output from pos to end (end < 0: to the
// output's end) and, when the connection fails, asks again from where it
// stopped, up to MaxAttempts times in a row without progress.
type streamReader struct {
	s     *Store
	ctx   context.Context
	jobID string
	pos   int64
	end   int64
	what  string // names the store, operation and job in errors

	body     io.ReadCloser
	failures int
	lastErr  error
	err      error // sticky
}

func (r *streamReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.end >= 0 {
		if r.pos >= r.end {
			return 0, io.EOF
		}
		if rest := r.end - r.pos; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	for {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("%s: %w", r.what, err)
			return 0, r.err
		}
		if r.body == nil {
			if r.failures > 0 {
				if r.failures >= r.s.cfg.MaxAttempts {
					r.err = fmt.Errorf("%s: at byte %d: gave up after %d attempts: %w", r.what, r.pos, r.failures, r.lastErr)
					return 0, r.err
				}
				if err := sleep(r.ctx, backoff(baseBackoff, r.s.cfg.MaxBackoff, r.failures)); err != nil {
					continue
				}
			}
			body, _, err := r.s.getOutput(r.ctx, r.jobID, r.pos, r.end)
			if err != nil {
				if giveUp(err) {
					r.err = fmt.Errorf("%s: at byte %d: %w", r.what, r.pos, err)
					return 0, r.err
				}
				r.failures++
				r.lastErr = err
				continue
			}
			r.body = body
		}
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if n > 0 {
			r.failures = 0
		}
		switch {
		case err == io.EOF:
			r.body.Close()
			r.body = nil
			if r.end >= 0 && r.pos < r.end {
				r.err = store.Permanent(fmt.Errorf("%s: the output ends at byte %d, before %d", r.what, r.pos, r.end))
			} else {
				r.err = io.EOF
			}
			if n > 0 {
				return n, nil
			}
			return 0, r.err
		case err != nil:
			r.body.Close()
			r.body = nil
			r.failures++
			r.lastErr = err
			r.s.log.Debug("job output interrupted; resuming", "store", r.s.Location(), "job", r.jobID, "at", r.pos, "err", err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Close releases the connection.
func (r *streamReader) Close() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	if r.err == nil {
		r.err = fmt.Errorf("%s: read after close", r.what)
	}
	return nil
}
