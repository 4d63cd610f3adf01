package catalog

import (
	"fmt"
	"time"
)

// httpTimeFormat is the HTTP Date header format the Python tools stored in
// sync_history.timestamp (Glacier's response Date header).
const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// parseHTTPTime parses the three date formats HTTP allows.
func parseHTTPTime(s string) (time.Time, error) {
	for _, layout := range []string{httpTimeFormat, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad HTTP date %q", s)
}
