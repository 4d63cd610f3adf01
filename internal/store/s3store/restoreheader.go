package s3store

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// restoreStatus is what the x-amz-restore header of an archived object says.
type restoreStatus struct {
	Ongoing bool      // a restore is running
	Expiry  time.Time // when the restored copy goes away; zero if not given
}

var errBadRestoreHeader = errors.New("malformed x-amz-restore header")

// maxRestoreHeader bounds the header length parseRestore accepts.
const maxRestoreHeader = 1024

// parseRestore parses an x-amz-restore header value, a comma-separated list
// of key="value" pairs such as
//
//	ongoing-request="true"
//	ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"
//
// ongoing-request is required; expiry-date (an HTTP date) is optional and
// only allowed once the restore is done. Values may contain commas but not
// quotes. Unknown keys are ignored, repeated keys are an error.
func parseRestore(h string) (restoreStatus, error) {
	bad := func(why string) (restoreStatus, error) {
		return restoreStatus{}, fmt.Errorf("%w: %s", errBadRestoreHeader, why)
	}
	if len(h) > maxRestoreHeader {
		return bad("too long")
	}
	var (
		st                      restoreStatus
		seenOngoing, seenExpiry bool
		seen                    = map[string]bool{}
	)
	rest := h
	for {
		rest = strings.TrimLeft(rest, " \t")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return bad("expected key=\"value\"")
		}
		key := strings.ToLower(strings.TrimRight(rest[:eq], " \t"))
		if !validHeaderKey(key) {
			return bad("invalid key")
		}
		if seen[key] {
			return bad("repeated key " + key)
		}
		seen[key] = true
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		if !strings.HasPrefix(rest, `"`) {
			return bad("value of " + key + " is not quoted")
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return bad("unterminated value of " + key)
		}
		val := rest[1 : 1+end]
		rest = strings.TrimLeft(rest[end+2:], " \t")

		switch key {
		case "ongoing-request":
			switch strings.ToLower(val) {
			case "true":
				st.Ongoing = true
			case "false":
				st.Ongoing = false
			default:
				return bad("ongoing-request is neither true nor false")
			}
			seenOngoing = true
		case "expiry-date":
			t, err := parseHTTPDate(val)
			if err != nil {
				return bad("expiry-date is not a date")
			}
			st.Expiry, seenExpiry = t, true
		}

		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return bad("expected a comma")
		}
		rest = rest[1:]
	}
	if !seenOngoing {
		return bad("no ongoing-request")
	}
	if st.Ongoing && seenExpiry {
		return bad("expiry-date on an ongoing restore")
	}
	return st, nil
}

// validHeaderKey reports whether k is a non-empty run of [a-z0-9-].
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseHTTPDate accepts the date forms S3 and its look-alikes send.
func parseHTTPDate(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{http.TimeFormat, time.RFC1123, time.RFC1123Z, time.RFC3339} {
		var t time.Time
		if t, err = time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// formatRestore renders st as S3 does; tests and the fuzz target use it.
func formatRestore(st restoreStatus) string {
	if st.Ongoing {
		return `ongoing-request="true"`
	}
	if st.Expiry.IsZero() {
		return `ongoing-request="false"`
	}
	return `ongoing-request="false", expiry-date="` + st.Expiry.UTC().Format(http.TimeFormat) + `"`
}
