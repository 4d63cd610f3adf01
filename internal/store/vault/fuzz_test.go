package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/treehash"
)

// FuzzParseInventory: the parser never panics; what it accepts, written
// back as Glacier would write it, parses to the same archives and date.
func FuzzParseInventory(f *testing.F) {
	f.Add(awsInventory)
	f.Add(`{"InventoryDate":"2020-01-02T00:00:00Z","ArchiveList":[]}`)
	f.Add(`{"ArchiveList":[{"ArchiveId":"a","Size":1,"CreationDate":"2020-01-01T00:00:00Z"}],"InventoryDate":"2020-01-02T00:00:00.5+02:00"}`)
	f.Add(`{"InventoryDate":"2020-01-02T00:00:00Z","ArchiveList":[{"ArchiveId":"a","Size":1e3}]}`)
	f.Add(`{"a":[{"b":null}],"InventoryDate":"x"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var got []store.Archive
		date, err := parseInventory(strings.NewReader(doc), func(a store.Archive) error {
			got = append(got, a)
			if len(got) == 3 {
				return errStopFuzz
			}
			return nil
		})
		if errors.Is(err, errStopFuzz) {
			return
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "inventory: ") {
				t.Fatalf("error %q does not say it is about the inventory", err)
			}
			return
		}
		for _, a := range got {
			if a.ID == "" || a.Size < 0 || (a.TreeHash != "" && len(a.TreeHash) != 64) {
				t.Fatalf("accepted a bad archive %+v", a)
			}
		}
		var back []store.Archive
		date2, err := parseInventory(strings.NewReader(render(t, date, got)), collectInto(&back))
		if err != nil || !date2.Equal(date) {
			t.Fatalf("re-rendered inventory: date %v, error %v; first parse gave %v", date2, err, date)
		}
		if len(back) != len(got) {
			t.Fatalf("%d archives, re-rendered %d", len(got), len(back))
		}
		for i := range got {
			if !back[i].Created.Equal(got[i].Created) || !sameBut(back[i], got[i]) {
				t.Fatalf("archive %d: %+v, re-rendered %+v", i, got[i], back[i])
			}
		}
	})
}

var errStopFuzz = errors.New("enough")

func collectInto(dst *[]store.Archive) func(store.Archive) error {
	return func(a store.Archive) error { *dst = append(*dst, a); return nil }
}

func sameBut(a, b store.Archive) bool {
	a.Created, b.Created = time.Time{}, time.Time{}
	return a == b
}

// render writes archives as an inventory document.
func render(t *testing.T, date time.Time, as []store.Archive) string {
	type entry struct {
		ArchiveID          string `json:"ArchiveId"`
		ArchiveDescription string `json:"ArchiveDescription"`
		CreationDate       string `json:"CreationDate"`
		Size               int64  `json:"Size"`
		SHA256TreeHash     string `json:"SHA256TreeHash"`
	}
	doc := struct {
		InventoryDate string
		ArchiveList   []entry
	}{InventoryDate: date.Format(time.RFC3339Nano), ArchiveList: []entry{}}
	for _, a := range as {
		doc.ArchiveList = append(doc.ArchiveList, entry{a.ID, a.Description, a.Created.Format(time.RFC3339Nano), a.Size, a.TreeHash})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzParseContentRange: accepted values are well-formed ranges, and
// their canonical form parses to the same numbers.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 5-5/*", "bytes 1048576-2097151/3145729",
		"bytes 0-0/0", "bytes -1-2/3", "bytes 9223372036854775806-9223372036854775806/9223372036854775807", "bytes=0-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		first, last, total, err := parseContentRange(v)
		if err != nil {
			return
		}
		if first < 0 || last < first || (total != -1 && last >= total) || !strings.HasPrefix(v, "bytes ") {
			t.Fatalf("%q parsed to %d-%d/%d", v, first, last, total)
		}
		size := "*"
		if total >= 0 {
			size = fmt.Sprint(total)
		}
		canon := fmt.Sprintf("bytes %d-%d/%s", first, last, size)
		f2, l2, t2, err := parseContentRange(canon)
		if err != nil || f2 != first || l2 != last || t2 != total {
			t.Fatalf("%q parsed to %d-%d/%d, but its canonical form %q to %d-%d/%d (%v)", v, first, last, total, canon, f2, l2, t2, err)
		}
	})
}

// FuzzChunkFor: every chunk holds its position, is at most 8 MiB, and is a
// node of the archive's tree (so the service sends its tree hash).
func FuzzChunkFor(f *testing.F) {
	f.Add(int64(0), int64(1), int64(1))
	f.Add(int64(5*MiB+3), int64(6*MiB), int64(20*MiB+3))
	f.Add(int64(3*MiB), int64(100*MiB), int64(100*MiB))
	f.Fuzz(func(t *testing.T, pos, want, size int64) {
		if size <= 0 || size > 1<<45 || pos < 0 {
			return
		}
		pos %= size
		if want <= pos || want > size {
			want = size
		}
		start, end := chunkFor(pos, want, size)
		if start > pos || pos >= end || end-start > chunkLeaves*MiB || !treehash.RangeAligned(start, end-start, size) {
			t.Fatalf("chunkFor(%d, %d, %d) = [%d, %d)", pos, want, size, start, end)
		}
	})
}

// FuzzJobRange: a RetrievalByteRange the service reports is read as a
// range inside the archive, or as the whole archive, or refused.
func FuzzJobRange(f *testing.F) {
	for _, s := range []string{"0-99", "50-99", "0-49", "", "9-3", "1048576-2097151", "-5", "0-9223372036854775807"} {
		f.Add(s, int64(100))
	}
	f.Add("0-99", int64(-1))
	f.Fuzz(func(t *testing.T, v string, size int64) {
		off, n, err := jobRange(&v, size)
		if err != nil {
			return
		}
		switch {
		case off < 0 || n < 0 || (n == 0 && off != 0):
			t.Fatalf("%q (archive of %d) read as offset %d length %d", v, size, off, n)
		case n > 0 && size >= 0 && off+n > size:
			t.Fatalf("%q read as bytes %d+%d of an archive of %d", v, off, n, size)
		}
		if a, b, _ := strings.Cut(v, "-"); n == 0 && v != "" {
			first, _ := strconv.ParseInt(a, 10, 64)
			last, _ := strconv.ParseInt(b, 10, 64)
			if first != 0 || last != size-1 {
				t.Fatalf("%q of an archive of %d read as the whole archive", v, size)
			}
		}
	})
}
