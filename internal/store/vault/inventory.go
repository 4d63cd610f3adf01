package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// Inventory streams the output of a ready inventory job, calls fn for each
// archive it lists, and returns the InventoryDate. The output is parsed as
// it arrives, so memory does not grow with the number of archives; a
// connection that fails is resumed from the byte it stopped at. An error
// returned by fn stops the listing and is returned unchanged.
func (s *Store) Inventory(ctx context.Context, r store.Retrieval, fn func(store.Archive) error) (time.Time, error) {
	const op = "inventory"
	if err := s.Begin(ctx); err != nil {
		return time.Time{}, s.Fail(op, err)
	}
	if r.Kind != store.KindInventory {
		return time.Time{}, s.Fail(op, store.Permanent(errors.New("not an inventory retrieval")))
	}
	st, err := s.state(ctx, r)
	if err != nil {
		return time.Time{}, s.Fail(op, err)
	}
	if !st.Ready {
		return time.Time{}, s.Fail(op, fmt.Errorf("job %s: %w", st.JobID, store.ErrNotReady))
	}
	if st.JobID == emptyInventoryJob {
		return st.Requested, nil
	}
	what := fmt.Sprintf("%s: %s: job %s", s.Location(), op, st.JobID)
	body := &streamReader{s: s, ctx: ctx, jobID: st.JobID, end: -1, what: what}
	defer body.Close()
	date, err := parseInventory(body, fn)
	var cb *callbackError
	switch {
	case errors.As(err, &cb):
		return time.Time{}, cb.err
	case err != nil:
		return time.Time{}, fmt.Errorf("%s: %w", what, err)
	}
	return date, nil
}

// callbackError carries an error of Inventory's fn through the parser.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// inventoryEntry is one element of ArchiveList.
type inventoryEntry struct {
	ArchiveID          string  `json:"ArchiveId"`
	ArchiveDescription *string `json:"ArchiveDescription"`
	CreationDate       string  `json:"CreationDate"`
	Size               *int64  `json:"Size"`
	SHA256TreeHash     *string `json:"SHA256TreeHash"`
}

// parseInventory reads Glacier's JSON inventory document
//
//	{"VaultARN": "...", "InventoryDate": "...", "ArchiveList": [
//	    {"ArchiveId": "...", "ArchiveDescription": "...", "CreationDate": "...",
//	     "Size": N, "SHA256TreeHash": "..."}, ...]}
//
// one archive at a time, calling fn for each; fn's errors come back as a
// *callbackError. Unknown fields are ignored; an archive without an id, a
// size or a valid date, a tree hash that is not 64 hex digits, a missing
// InventoryDate or ArchiveList, and anything after the document are errors.
// Errors of r are returned as they are.
func parseInventory(r io.Reader, fn func(store.Archive) error) (time.Time, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return time.Time{}, err
	}
	var (
		date        time.Time
		haveDate    bool
		haveList    bool
		archiveSeen int
	)
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return time.Time{}, err
		}
		switch key {
		case "InventoryDate":
			var v string
			if err := dec.Decode(&v); err != nil {
				return time.Time{}, syntax("InventoryDate", err)
			}
			t, ok := parseDate(v)
			if !ok {
				return time.Time{}, fmt.Errorf("inventory: InventoryDate %q is not an ISO 8601 date", clip(v))
			}
			date, haveDate = t, true
		case "ArchiveList":
			if haveList {
				return time.Time{}, errors.New("inventory: two ArchiveLists")
			}
			haveList = true
			if err := expectDelim(dec, '['); err != nil {
				return time.Time{}, err
			}
			for dec.More() {
				var e inventoryEntry
				if err := dec.Decode(&e); err != nil {
					return time.Time{}, syntax(fmt.Sprintf("archive %d", archiveSeen), err)
				}
				a, err := e.archive()
				if err != nil {
					return time.Time{}, fmt.Errorf("inventory: archive %d: %w", archiveSeen, err)
				}
				archiveSeen++
				if err := fn(a); err != nil {
					return time.Time{}, &callbackError{err}
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return time.Time{}, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return time.Time{}, syntax(key, err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return time.Time{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil || isSyntax(err) || errors.Is(err, io.ErrUnexpectedEOF) {
			return time.Time{}, errors.New("inventory: unexpected data after the document")
		}
		return time.Time{}, err
	}
	switch {
	case !haveDate:
		return time.Time{}, errors.New("inventory: no InventoryDate")
	case !haveList:
		return time.Time{}, errors.New("inventory: no ArchiveList")
	}
	return date, nil
}

// archive checks an inventory entry and converts it.
func (e inventoryEntry) archive() (store.Archive, error) {
	if e.ArchiveID == "" {
		return store.Archive{}, errors.New("no ArchiveId")
	}
	if e.Size == nil || *e.Size < 0 {
		return store.Archive{}, fmt.Errorf("archive %s: no valid Size", clip(e.ArchiveID))
	}
	created, ok := parseDate(e.CreationDate)
	if !ok {
		return store.Archive{}, fmt.Errorf("archive %s: CreationDate %q is not an ISO 8601 date", clip(e.ArchiveID), clip(e.CreationDate))
	}
	a := store.Archive{
		ID:          e.ArchiveID,
		Description: deref(e.ArchiveDescription),
		Size:        *e.Size,
		Created:     created,
	}
	if h := deref(e.SHA256TreeHash); h != "" {
		d, err := treehash.ParseHex(h)
		if err != nil {
			return store.Archive{}, fmt.Errorf("archive %s: %w", clip(e.ArchiveID), err)
		}
		a.TreeHash = d.String()
	}
	return a, nil
}

// parseDate parses an ISO 8601 (RFC 3339) date of the years 1970 to 9999,
// and returns it in UTC.
func parseDate(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	if y := t.Year(); y < 1970 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// expectDelim reads one token and checks it is the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return syntax(string(d), err)
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("inventory: expected %q, found %s", string(d), describeToken(tok))
	}
	return nil
}

// stringToken reads an object key.
func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", syntax("key", err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("inventory: expected a key, found %s", describeToken(tok))
	}
	return s, nil
}

func describeToken(tok any) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("string %q", clip(v))
	default:
		return fmt.Sprintf("%v", v)
	}
}

// syntax wraps a decoding error: JSON syntax and type errors say where;
// errors of the underlying reader pass through.
func syntax(where string, err error) error {
	if isSyntax(err) {
		return fmt.Errorf("inventory: malformed JSON at %s: %w", where, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("inventory: the document ends early: %w", io.ErrUnexpectedEOF)
	}
	return err
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}

// clip shortens a value from the service before it goes into a message.
func clip(s string) string {
	const limit = 80
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
