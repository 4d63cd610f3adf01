package engine

import (
	"encoding/json"
	"testing"
)

func TestDecodeResume(t *testing.T) {
	good := resumeRecord{V: resumeVersion, UploadID: "u", PartSize: 1 << 20, Description: "grsync1:e:00:0/1:x",
		Size: 5, ContentHash: "ab", Writer: "w", Encoding: "grsync1+zstd+age", State: []byte{1, 2}}
	b, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeResume(b)
	if err != nil || got.UploadID != good.UploadID || got.PartSize != good.PartSize || string(got.State) != string(good.State) {
		t.Fatalf("decodeResume(%s) = %+v, %v", b, got, err)
	}
	for name, mutate := range map[string]func(*resumeRecord){
		"other version":  func(r *resumeRecord) { r.V = 2 },
		"no upload id":   func(r *resumeRecord) { r.UploadID = "" },
		"no part size":   func(r *resumeRecord) { r.PartSize = 0 },
		"negative size":  func(r *resumeRecord) { r.Size = -1 },
		"no description": func(r *resumeRecord) { r.Description = "" },
		"no hash":        func(r *resumeRecord) { r.ContentHash = "" },
	} {
		r := good
		mutate(&r)
		b, _ := json.Marshal(r)
		if _, err := decodeResume(b); err == nil {
			t.Errorf("%s: decodeResume accepted %s", name, b)
		}
	}
	for _, bad := range []string{"", "{", "null", "[]", `{"v":"1"}`} {
		if _, err := decodeResume([]byte(bad)); err == nil {
			t.Errorf("decodeResume accepted %q", bad)
		}
	}
}

// FuzzDecodeResume: any bytes in the catalogue's resume column give a
// record that passes the checks or an error, never a panic.
func FuzzDecodeResume(f *testing.F) {
	f.Add([]byte(`{"v":1,"upload":"u","part_size":1048576,"desc":"d","size":5,"hash":"ab","state":"AQI="}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResume(b)
		if err == nil && (r.V != resumeVersion || r.UploadID == "" || r.PartSize <= 0 || r.Size < 0) {
			t.Fatalf("accepted an invalid record %+v", r)
		}
	})
}
