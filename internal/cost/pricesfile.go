package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/grsync/grsync/internal/store"
)

// FileVersion is the version of the prices file format this code reads
// and writes (docs/COSTS.md, "The prices file").
const FileVersion = 1

// MaxFileSize bounds a prices file.
const MaxFileSize = 1 << 20

// Limits on values a prices file may give: anything beyond is a typo.
const (
	maxPrice    = 1_000_000 * Dollar
	maxMinDays  = 3650
	maxSizeRule = 5 * GB
	maxWait     = 30 * 24 * time.Hour
)

// FileError is a problem in a prices file. Field is the JSON path of the
// value ("classes.DEEP_ARCHIVE.storage_per_gb_month"), or "" for the file
// as a whole.
type FileError struct {
	Field   string
	Problem string // what is wrong and how to fix it
}

func (e *FileError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

func fieldErr(field, format string, args ...any) error {
	return &FileError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// The prices file, as JSON. Every value is optional except version: what
// is absent (or null) keeps the built-in table's value.
type fileTop struct {
	Version           *int                       `json:"version"`
	Date              *string                    `json:"date,omitempty"`
	Region            *string                    `json:"region,omitempty"`
	Source            *string                    `json:"source,omitempty"`
	TransferOutPerGB  *decimal                   `json:"transfer_out_per_gb,omitempty"`
	TransferOutFreeGB *int64                     `json:"transfer_out_free_gb,omitempty"`
	Classes           map[string]json.RawMessage `json:"classes,omitempty"`
}

type fileClass struct {
	StoragePerGBMonth        *decimal                   `json:"storage_per_gb_month,omitempty"`
	PutPer1000               *decimal                   `json:"put_per_1000,omitempty"`
	GetPer1000               *decimal                   `json:"get_per_1000,omitempty"`
	TransitionPer1000        *decimal                   `json:"transition_per_1000,omitempty"`
	RetrievalPerGB           *decimal                   `json:"retrieval_per_gb,omitempty"`
	MinDays                  *int64                     `json:"min_days,omitempty"`
	MinBillableBytes         *int64                     `json:"min_billable_bytes,omitempty"`
	OverheadStandardBytes    *int64                     `json:"overhead_standard_bytes,omitempty"`
	OverheadClassBytes       *int64                     `json:"overhead_class_bytes,omitempty"`
	MonitoringPer1000Objects *decimal                   `json:"monitoring_per_1000_objects,omitempty"`
	MonitoringMinBytes       *int64                     `json:"monitoring_min_bytes,omitempty"`
	Tiers                    map[string]json.RawMessage `json:"tiers,omitempty"`
}

type fileTier struct {
	PerGB   *decimal `json:"per_gb,omitempty"`
	Per1000 *decimal `json:"per_1000_requests,omitempty"`
	WaitMin *string  `json:"wait_min,omitempty"`
	WaitMax *string  `json:"wait_max,omitempty"`
}

// decimal is a number of the prices file, kept as written so that it is
// read exactly (never through a float64). Only JSON numbers are accepted.
type decimal string

func (d *decimal) UnmarshalJSON(data []byte) error {
	if len(data) == 0 || (data[0] != '-' && (data[0] < '0' || data[0] > '9')) {
		kind := "string"
		switch {
		case len(data) == 0:
			kind = "nothing"
		case data[0] == '{':
			kind = "object"
		case data[0] == '[':
			kind = "array"
		case data[0] == 't' || data[0] == 'f':
			kind = "bool"
		}
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[decimal]()}
	}
	*d = decimal(data)
	return nil
}

func (d decimal) MarshalJSON() ([]byte, error) { return []byte(d), nil }

// ReadFile reads the prices file at path and applies it to the built-in
// table (see Parse). Errors name the file and the field.
func ReadFile(path string) (*Prices, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prices file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("prices file %s: %w", path, err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("prices file %s: %w", path, err)
	}
	p.File = path
	return p, nil
}

// Parse applies a prices file (JSON, read strictly: unknown fields,
// trailing data and values of the wrong type are errors) to the built-in
// table and returns the result. Values the file leaves out keep the
// built-in ones, so a file may change a single price. Errors are
// *FileError naming the field.
func Parse(data []byte) (*Prices, error) {
	if len(data) > MaxFileSize {
		return nil, &FileError{Problem: fmt.Sprintf("larger than %d bytes; a prices file is a few kilobytes of JSON", MaxFileSize)}
	}
	var top fileTop
	if err := decodeStrict(data, "", &top); err != nil {
		return nil, err
	}
	if top.Version == nil {
		return nil, fieldErr("version", "missing; start the file with \"version\": %d", FileVersion)
	}
	if *top.Version != FileVersion {
		return nil, fieldErr("version", "%d is not a version this grsync reads; write \"version\": %d", *top.Version, FileVersion)
	}
	p := Default()
	if top.Date != nil {
		if _, err := time.Parse("2006-01-02", *top.Date); err != nil {
			return nil, fieldErr("date", "%q is not a date; write the day the prices were read as YYYY-MM-DD", *top.Date)
		}
		p.Date = *top.Date
	}
	for _, s := range []struct {
		v     *string
		dst   *string
		field string
	}{{top.Region, &p.Region, "region"}, {top.Source, &p.Source, "source"}} {
		if s.v == nil {
			continue
		}
		if strings.TrimSpace(*s.v) == "" || len(*s.v) > 1000 || strings.ContainsFunc(*s.v, isControl) {
			return nil, fieldErr(s.field, "give one line of text of at most 1,000 bytes")
		}
		*s.dst = *s.v
	}
	if err := setPrice(&p.TransferOutPerGB, top.TransferOutPerGB, "transfer_out_per_gb"); err != nil {
		return nil, err
	}
	if err := setInt(&p.TransferOutFreeGB, top.TransferOutFreeGB, "transfer_out_free_gb", 1<<40); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(top.Classes) {
		if err := applyClass(p, name, top.Classes[name]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func applyClass(p *Prices, name string, raw json.RawMessage) error {
	path := "classes." + name
	cp, ok := p.Classes[Class(name)]
	if !ok {
		return fieldErr(path, "unknown storage class; use %s (spelled as here)", classList())
	}
	var fc fileClass
	if err := decodeStrict(raw, path, &fc); err != nil {
		return err
	}
	for _, f := range []struct {
		dst   *Money
		v     *decimal
		field string
	}{
		{&cp.StoragePerGBMonth, fc.StoragePerGBMonth, "storage_per_gb_month"},
		{&cp.PutPer1000, fc.PutPer1000, "put_per_1000"},
		{&cp.GetPer1000, fc.GetPer1000, "get_per_1000"},
		{&cp.TransitionPer1000, fc.TransitionPer1000, "transition_per_1000"},
		{&cp.RetrievalPerGB, fc.RetrievalPerGB, "retrieval_per_gb"},
		{&cp.MonitoringPer1000Objects, fc.MonitoringPer1000Objects, "monitoring_per_1000_objects"},
	} {
		if err := setPrice(f.dst, f.v, path+"."+f.field); err != nil {
			return err
		}
	}
	if fc.MinDays != nil {
		d := int64(cp.MinDays)
		if err := setInt(&d, fc.MinDays, path+".min_days", maxMinDays); err != nil {
			return err
		}
		cp.MinDays = int(d)
	}
	for _, f := range []struct {
		dst   *int64
		v     *int64
		field string
	}{
		{&cp.MinBillableBytes, fc.MinBillableBytes, "min_billable_bytes"},
		{&cp.OverheadStandardBytes, fc.OverheadStandardBytes, "overhead_standard_bytes"},
		{&cp.OverheadClassBytes, fc.OverheadClassBytes, "overhead_class_bytes"},
		{&cp.MonitoringMinBytes, fc.MonitoringMinBytes, "monitoring_min_bytes"},
	} {
		if err := setInt(f.dst, f.v, path+"."+f.field, maxSizeRule); err != nil {
			return err
		}
	}
	for _, tn := range sortedKeys(fc.Tiers) {
		tpath := path + ".tiers." + tn
		tier := store.Tier(tn)
		tp, ok := cp.Tiers[tier]
		switch {
		case ok:
		case cp.Tiers == nil:
			return fieldErr(tpath, "%s is read directly and has no retrieval tiers; give its per-GB read price as retrieval_per_gb", name)
		case Class(name) == DeepArchive && tier == store.TierExpedited:
			return fieldErr(tpath, "DEEP_ARCHIVE has no Expedited retrievals; give Standard or Bulk")
		default:
			return fieldErr(tpath, "unknown retrieval tier; use Expedited, Standard or Bulk")
		}
		var ft fileTier
		if err := decodeStrict(fc.Tiers[tn], tpath, &ft); err != nil {
			return err
		}
		if err := setPrice(&tp.PerGB, ft.PerGB, tpath+".per_gb"); err != nil {
			return err
		}
		if err := setPrice(&tp.Per1000, ft.Per1000, tpath+".per_1000_requests"); err != nil {
			return err
		}
		if err := setWait(&tp.Wait.Min, ft.WaitMin, tpath+".wait_min"); err != nil {
			return err
		}
		if err := setWait(&tp.Wait.Max, ft.WaitMax, tpath+".wait_max"); err != nil {
			return err
		}
		if tp.Wait.Min > tp.Wait.Max {
			return fieldErr(tpath, "wait_min %s is longer than wait_max %s", tp.Wait.Min, tp.Wait.Max)
		}
		cp.Tiers[tier] = tp
	}
	p.Classes[Class(name)] = cp
	return nil
}

func setPrice(dst *Money, v *decimal, field string) error {
	if v == nil {
		return nil
	}
	s := string(*v)
	if strings.HasPrefix(s, "-") {
		return fieldErr(field, "%s is negative; give a price in US dollars of 0 or more", s)
	}
	if strings.ContainsAny(s, "eE") {
		return fieldErr(field, "%s has an exponent; write the price as a plain decimal such as 0.00099", s)
	}
	whole, frac, dot := strings.Cut(s, ".")
	m, err := parseDecimal(whole, frac, dot)
	if err != nil {
		return fieldErr(field, "%s: %v; give a price in US dollars such as 0.00099", s, err)
	}
	if m > maxPrice {
		return fieldErr(field, "%s dollars is more than any storage price (at most %s); check the units: prices are in dollars per GB, per GB-month or per 1,000 requests", s, maxPrice)
	}
	*dst = m
	return nil
}

func setInt(dst *int64, v *int64, field string, limit int64) error {
	if v == nil {
		return nil
	}
	if *v < 0 || *v > limit {
		return fieldErr(field, "%d is out of range; give a whole number from 0 to %d", *v, limit)
	}
	*dst = *v
	return nil
}

func setWait(dst *time.Duration, v *string, field string) error {
	if v == nil {
		return nil
	}
	d, err := time.ParseDuration(*v)
	if err != nil || d < 0 || d > maxWait {
		return fieldErr(field, "%q is not a wait; write a duration of at most 30 days such as \"90s\", \"5m\" or \"12h\"", *v)
	}
	*dst = d
	return nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields,
// values of the wrong type and anything after the object, with errors
// naming the field under prefix.
func decodeStrict(data []byte, prefix string, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(data, prefix, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fieldErr(prefix, "unexpected data after the JSON object; a prices file is one object")
	}
	return nil
}

func jsonError(data []byte, prefix string, err error) error {
	join := func(f string) string {
		if prefix == "" {
			return f
		}
		if f == "" {
			return prefix
		}
		return prefix + "." + f
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fieldErr(prefix, "not valid JSON at line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		want := typ.Type.String()
		switch k := typ.Type.Kind(); {
		case typ.Type == reflect.TypeFor[decimal]():
			want = "a number"
		case k == reflect.Int || k == reflect.Int64:
			want = "a whole number"
		case k == reflect.String:
			want = "a string"
		case k == reflect.Map || k == reflect.Struct:
			want = "an object"
		}
		return fieldErr(join(typ.Field), "%s where %s is expected", article(typ.Value), want)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr(prefix, "the JSON object is missing or cut short")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(join(strings.Trim(name, `"`)), "unknown field; the fields a prices file may give are listed in docs/COSTS.md")
	}
	return fieldErr(prefix, "%v", err)
}

func article(jsonType string) string {
	switch jsonType {
	case "array", "object":
		return "an " + jsonType
	case "number", "string", "bool":
		return "a " + jsonType
	}
	return jsonType
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func classList() string {
	names := make([]string, 0, 8)
	for _, c := range Classes() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

// WriteJSON writes p as a complete prices file: every value, so a user can
// start from it and change what differs.
func (p *Prices) WriteJSON(w io.Writer) error {
	num := func(m Money) *decimal { n := decimal(m.Decimal()); return &n }
	i64 := func(v int64) *int64 { return &v }
	str := func(s string) *string { return &s }
	version := FileVersion
	top := fileTop{
		Version: &version, Date: str(p.Date), Region: str(p.Region), Source: str(p.Source),
		TransferOutPerGB: num(p.TransferOutPerGB), TransferOutFreeGB: i64(p.TransferOutFreeGB),
		Classes: map[string]json.RawMessage{},
	}
	for c, cp := range p.Classes {
		fc := fileClass{
			StoragePerGBMonth: num(cp.StoragePerGBMonth), PutPer1000: num(cp.PutPer1000),
			GetPer1000: num(cp.GetPer1000), TransitionPer1000: num(cp.TransitionPer1000),
			RetrievalPerGB: num(cp.RetrievalPerGB), MinDays: i64(int64(cp.MinDays)),
			MinBillableBytes: i64(cp.MinBillableBytes), OverheadStandardBytes: i64(cp.OverheadStandardBytes),
			OverheadClassBytes: i64(cp.OverheadClassBytes), MonitoringPer1000Objects: num(cp.MonitoringPer1000Objects),
			MonitoringMinBytes: i64(cp.MonitoringMinBytes),
		}
		if cp.Tiers != nil {
			fc.Tiers = map[string]json.RawMessage{}
			for t, tp := range cp.Tiers {
				raw, err := json.Marshal(fileTier{PerGB: num(tp.PerGB), Per1000: num(tp.Per1000),
					WaitMin: str(formatWait(tp.Wait.Min)), WaitMax: str(formatWait(tp.Wait.Max))})
				if err != nil {
					return err
				}
				fc.Tiers[string(t)] = raw
			}
		}
		raw, err := json.Marshal(fc)
		if err != nil {
			return err
		}
		top.Classes[string(c)] = raw
	}
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// formatWait prints a duration the way a person writes it in the file.
func formatWait(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
