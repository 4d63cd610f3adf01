package glacieremu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/treehash"
)

func FuzzRangeParsers(f *testing.F) {
	for _, s := range []string{"bytes 0-1048575/*", "bytes=0-", "bytes=5-4", "0-1048575", "bytes 00-9/*", "2097152-3145732", "bytes=-5", "", "-"} {
		f.Add(s, int64(3*MiB+5))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if first, last, ok := parseContentRange(v); ok && (first < 0 || last < first) {
			t.Fatalf("parseContentRange(%q) = %d, %d", v, first, last)
		}
		if size <= 0 {
			return
		}
		if start, n, ok := parseRangeHeader(v, size); ok && (start < 0 || n < 1 || start+n > size) {
			t.Fatalf("parseRangeHeader(%q, %d) = %d+%d", v, size, start, n)
		}
		if start, n, ok := parseRetrievalRange(v, size); ok {
			end := start + n
			if start < 0 || n < 1 || end > size || start%treehash.LeafSize != 0 || (end%treehash.LeafSize != 0 && end != size) {
				t.Fatalf("parseRetrievalRange(%q, %d) = %d+%d", v, size, start, n)
			}
		}
	})
}

func FuzzJobParams(f *testing.F) {
	f.Add([]byte(`{"Type":"archive-retrieval","ArchiveId":"x","Tier":"Bulk","RetrievalByteRange":"0-1048575"}`))
	f.Add([]byte(`{"Type":"inventory-retrieval","Format":"CSV","InventoryRetrievalParameters":{}}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, aerr := parseJobParams(body)
		if aerr != nil {
			if aerr.status != 400 || aerr.code == "" {
				t.Fatalf("bad error %+v", aerr)
			}
			return
		}
		if p.Type != "archive-retrieval" && p.Type != "inventory-retrieval" {
			t.Fatalf("accepted type %q", p.Type)
		}
		if p.Type == "archive-retrieval" && (p.ArchiveID == nil || *p.ArchiveID == "") {
			t.Fatal("accepted archive retrieval without an archive id")
		}
		if !validDescription(p.Description) {
			t.Fatalf("accepted description %q", p.Description)
		}
	})
}

// FuzzHandler sends arbitrary requests to an emulator holding a vault, an
// archive, an upload and a job, and checks every answer is well formed.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), "/-/vaults/v", "", "", []byte{})
	f.Add(uint8(1), "/-/vaults/v/archives", "x-amz-sha256-tree-hash", treehash.Sum([]byte("abc")).String(), []byte("abc"))
	f.Add(uint8(2), "/-/vaults/v/multipart-uploads/UPLOAD", "Content-Range", "bytes 0-2/*", []byte("abc"))
	f.Add(uint8(1), "/-/vaults/v/jobs", "", "", []byte(`{"Type":"inventory-retrieval"}`))
	f.Add(uint8(0), "/-/vaults/v/jobs/JOB/output", "Range", "bytes=1-", []byte{})
	f.Add(uint8(3), "/-/vaults/v/archives/ARCHIVE", "", "", []byte{})
	f.Add(uint8(1), "/-/vaults/v/multipart-uploads/UPLOAD", "x-amz-archive-size", "3", []byte{})
	f.Add(uint8(1), "/-/vaults/v/tags?operation=add", "", "", []byte(`{"Tags":{"k":"v"}}`))
	f.Add(uint8(1), "/-/vaults/v/tags?operation=remove", "", "", []byte(`{"TagKeys":["k"]}`))
	f.Add(uint8(0), "/-/vaults/v/tags", "", "", []byte{})
	methods := []string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"}
	f.Fuzz(func(t *testing.T, m uint8, path, hk, hv string, body []byte) {
		now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		srv, err := New(Config{Now: func() time.Time { return now }, MinPartSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if err := srv.SeedArchive("v", "ARCHIVE", "d", now, []byte("archive data")); err != nil {
			t.Fatal(err)
		}
		srv.mu.Lock()
		v := srv.vaults["v"]
		v.uploads["UPLOAD"] = &upload{id: "UPLOAD", partSize: 4, parts: map[int64]*part{}}
		v.jobs["JOB"] = &job{id: "JOB", action: actionArchive, archive: v.archives["ARCHIVE"], rangeLen: 12, tier: TierStandard}
		srv.mu.Unlock()

		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(methods[int(m)%len(methods)], "http://emu"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
		req.Header.Set("x-amz-glacier-version", APIVersion)
		if hk != "" && hv != "" && !strings.ContainsAny(hk+hv, "\r\n\x00") {
			req.Header.Set(hk, hv)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		res := rec.Result()
		if res.StatusCode < 200 || res.StatusCode > 599 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if res.StatusCode >= 300 {
			var e struct{ Code, Message, Type string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || (e.Type != "Client" && e.Type != "Server") {
				t.Fatalf("status %d with error body %q", res.StatusCode, rec.Body.Bytes())
			}
		}
	})
}
