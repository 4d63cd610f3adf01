package vault

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
)

// awsInventory is the example output of an inventory job in the Glacier
// developer guide (api-job-output-get), with one archive added that has an
// empty description.
const awsInventory = `{
 "VaultARN": "arn:aws:glacier:us-west-2:012345678901:vaults/examplevault",
 "InventoryDate": "2011-12-12T14:19:01Z",
 "ArchiveList": [
   {
     "ArchiveId": "DMTmICA2n5Tdqq5BV2z7og-A20xnpAPKt3UXwWxdWsn_D6auTUrW6kwy5Qyj9xd1MCE1mBYvMQ63LWaT8yTMzMaCxB_9VBWrW4Jw4zsvg5kehAPDVKcppUD1X7b24JukOr4mMAq-oA",
     "ArchiveDescription": "my archive1",
     "CreationDate": "2012-05-15T17:19:46.700Z",
     "Size": 2140123,
     "SHA256TreeHash": "6b9d4cf8697bd3af6aa1b590a0b27b337da5b18988dbcc619a3e608a554a1e62"
   },
   {
     "ArchiveId": "2lHzwhKhgF2JHyvCS-ZRuF08IQLuyB4265Hs3AXj9MoAIhz7tbXAvcFeHusgU_hViO1WeCBe0N5lsYYHRyZ7rrmRkNRuYrXUs_sjl2K8ume_7mKO_0i7C-uHE1oHqaW9d37pabXrSA",
     "ArchiveDescription": "",
     "CreationDate": "2012-05-15T17:21:39.339Z",
     "Size": 0,
     "SHA256TreeHash": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
   }
 ]
}`

func collect(t *testing.T, doc string) ([]store.Archive, time.Time, error) {
	t.Helper()
	var got []store.Archive
	date, err := parseInventory(strings.NewReader(doc), func(a store.Archive) error {
		got = append(got, a)
		return nil
	})
	return got, date, err
}

func TestParseInventory(t *testing.T) {
	got, date, err := collect(t, awsInventory)
	if err != nil {
		t.Fatal(err)
	}
	if !date.Equal(time.Date(2011, 12, 12, 14, 19, 1, 0, time.UTC)) {
		t.Errorf("date %v", date)
	}
	want := []store.Archive{
		{ID: "DMTmICA2n5Tdqq5BV2z7og-A20xnpAPKt3UXwWxdWsn_D6auTUrW6kwy5Qyj9xd1MCE1mBYvMQ63LWaT8yTMzMaCxB_9VBWrW4Jw4zsvg5kehAPDVKcppUD1X7b24JukOr4mMAq-oA",
			Description: "my archive1", Size: 2140123, Created: time.Date(2012, 5, 15, 17, 19, 46, 700e6, time.UTC),
			TreeHash: "6b9d4cf8697bd3af6aa1b590a0b27b337da5b18988dbcc619a3e608a554a1e62"},
		{ID: "2lHzwhKhgF2JHyvCS-ZRuF08IQLuyB4265Hs3AXj9MoAIhz7tbXAvcFeHusgU_hViO1WeCBe0N5lsYYHRyZ7rrmRkNRuYrXUs_sjl2K8ume_7mKO_0i7C-uHE1oHqaW9d37pabXrSA",
			Size: 0, Created: time.Date(2012, 5, 15, 17, 21, 39, 339e6, time.UTC),
			TreeHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d archives, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("archive %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestParseInventoryVariants(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		n    int
	}{
		{"date after the list, unknown fields, nulls",
			`{"ArchiveList":[{"ArchiveId":"a","Size":1,"CreationDate":"2020-01-01T00:00:00Z","ArchiveDescription":null,"SHA256TreeHash":null,"Extra":[1,{"x":2}]}],"Future":{"a":[]},"InventoryDate":"2020-01-02T00:00:00Z"}`, 1},
		{"empty list", `{"VaultARN":"x","InventoryDate":"2020-01-02T00:00:00Z","ArchiveList":[]}`, 0},
		{"moto's dates and plain hash", `{"VaultARN":"x","InventoryDate":"2024-01-01T10:00:00.000Z","ArchiveList":[{"ArchiveId":"0cc175b9c0f1b6a831c399e269772661","ArchiveDescription":"d","CreationDate":"2024-01-01T09:00:00.000Z","Size":1,"SHA256TreeHash":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}]}`, 1},
		{"whitespace around", " \n" + `{"InventoryDate":"2020-01-02T00:00:00Z","ArchiveList":[]}` + "\n\n", 0},
	}
	for _, tt := range tests {
		got, _, err := collect(t, tt.doc)
		if err != nil || len(got) != tt.n {
			t.Errorf("%s: %d archives, error %v; want %d", tt.name, len(got), err, tt.n)
		}
	}
}

func TestParseInventoryErrors(t *testing.T) {
	const date = `"InventoryDate":"2020-01-02T00:00:00Z"`
	entry := func(fields string) string { return `{` + date + `,"ArchiveList":[{` + fields + `}]}` }
	for name, doc := range map[string]string{
		"empty":            ``,
		"not an object":    `[]`,
		"truncated":        awsInventory[:len(awsInventory)/2],
		"no date":          `{"ArchiveList":[]}`,
		"no list":          `{` + date + `}`,
		"two lists":        `{` + date + `,"ArchiveList":[],"ArchiveList":[]}`,
		"bad date":         `{"InventoryDate":"yesterday","ArchiveList":[]}`,
		"list not a list":  `{` + date + `,"ArchiveList":{}}`,
		"trailing data":    `{` + date + `,"ArchiveList":[]} {}`,
		"no id":            entry(`"Size":1,"CreationDate":"2020-01-01T00:00:00Z"`),
		"no size":          entry(`"ArchiveId":"a","CreationDate":"2020-01-01T00:00:00Z"`),
		"negative size":    entry(`"ArchiveId":"a","Size":-1,"CreationDate":"2020-01-01T00:00:00Z"`),
		"fractional size":  entry(`"ArchiveId":"a","Size":1.5,"CreationDate":"2020-01-01T00:00:00Z"`),
		"bad created":      entry(`"ArchiveId":"a","Size":1,"CreationDate":"2020-13-01"`),
		"bad tree hash":    entry(`"ArchiveId":"a","Size":1,"CreationDate":"2020-01-01T00:00:00Z","SHA256TreeHash":"abc"`),
		"size as string":   entry(`"ArchiveId":"a","Size":"1","CreationDate":"2020-01-01T00:00:00Z"`),
		"description type": entry(`"ArchiveId":"a","Size":1,"CreationDate":"2020-01-01T00:00:00Z","ArchiveDescription":5`),
	} {
		if _, _, err := collect(t, doc); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "inventory: ") {
			t.Errorf("%s: error %q does not say it is about the inventory", name, err)
		}
	}
}

func TestParseInventoryCallbackAndReaderErrors(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	_, err := parseInventory(strings.NewReader(awsInventory), func(store.Archive) error { calls++; return stop })
	var cb *callbackError
	if !errors.As(err, &cb) || !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: %d calls, %v", calls, err)
	}
	broken := errors.New("connection gone")
	r := io.MultiReader(strings.NewReader(awsInventory[:300]), iotest.ErrReader(broken))
	if _, err := parseInventory(r, func(store.Archive) error { return nil }); !errors.Is(err, broken) {
		t.Errorf("reader error: %v, want it passed through", err)
	}
}

// TestInventoryStreams lists a large inventory served by the emulator
// through a connection cut off 70% of the time, one archive at a time.
func TestInventoryStreams(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	const n = 20000
	type entry struct {
		ArchiveID          string `json:"ArchiveId"`
		ArchiveDescription string `json:"ArchiveDescription"`
		CreationDate       string `json:"CreationDate"`
		Size               int64  `json:"Size"`
		SHA256TreeHash     string `json:"SHA256TreeHash"`
	}
	doc := struct {
		VaultARN      string
		InventoryDate string
		ArchiveList   []entry
	}{VaultARN: "arn", InventoryDate: "2024-05-06T07:08:09Z"}
	for i := range n {
		doc.ArchiveList = append(doc.ArchiveList, entry{ArchiveID: strings.Repeat("x", 130) + strconv.Itoa(i),
			ArchiveDescription: "grsync1:p:" + strconv.Itoa(i), CreationDate: "2024-01-01T00:00:00Z", Size: int64(i),
			SHA256TreeHash: strings.Repeat("0", 64)})
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetInventory(testVault, raw); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, e, func(c *Config) { c.MaxAttempts = 20 })
	if err := e.srv.SetFault(glacieremu.OpGetJobOutput, glacieremu.Fault{DropRate: 0.7}); err != nil {
		t.Fatal(err)
	}
	got := inventory(t, s)
	if len(got) != n {
		t.Fatalf("%d archives listed, want %d", len(got), n)
	}
	for i := range n {
		if a := got[strings.Repeat("x", 130)+strconv.Itoa(i)]; a.Size != int64(i) || a.Description != "grsync1:p:"+strconv.Itoa(i) {
			t.Fatalf("archive %d listed as %+v", i, a)
		}
	}
	if e.srv.Stats()[glacieremu.OpGetJobOutput].Faults == 0 {
		t.Error("no download was cut off; the test proves less than it claims")
	}
}
