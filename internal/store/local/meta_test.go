package local

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

func TestParseArchiveMeta(t *testing.T) {
	good := `{"description":"d","size":3,"created":"2024-01-02T03:04:05Z","tree_hash":"` + strings.Repeat("ab", 32) + `"}`
	if m, err := parseArchiveMeta([]byte(good)); err != nil || m.Size != 3 || m.Description != "d" {
		t.Fatalf("parseArchiveMeta(good) = %+v, %v", m, err)
	}
	for name, bad := range map[string]string{
		"negative size":   strings.Replace(good, `"size":3`, `"size":-1`, 1),
		"upper-case hash": strings.Replace(good, "abab", "ABab", 1),
		"short hash":      strings.Replace(good, "abab", "ab", 1),
		"unknown field":   strings.Replace(good, `"size"`, `"extra":1,"size"`, 1),
		"trailing data":   good + `{}`,
		"non-ASCII desc":  strings.Replace(good, `"d"`, `"\u00e9"`, 1),
		"not JSON":        "size=3",
	} {
		if _, err := parseArchiveMeta([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

func FuzzParseArchiveMeta(f *testing.F) {
	f.Add([]byte(`{"description":"d","size":3,"created":"2024-01-02T03:04:05Z","tree_hash":"` + strings.Repeat("0f", 32) + `"}`))
	f.Add([]byte(`{"size":-1}`))
	f.Add([]byte(`{"description":"\u0000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseArchiveMeta(data)
		if err != nil {
			return
		}
		if m.Size < 0 || !store.ValidDescription(m.Description) || !validTreeHash(m.TreeHash) {
			t.Fatalf("accepted invalid metadata %+v", m)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := parseArchiveMeta(again)
		if err != nil || m2.Size != m.Size || m2.Description != m.Description || m2.TreeHash != m.TreeHash || !m2.Created.Equal(m.Created) {
			t.Fatalf("round trip of %+v gave %+v, %v", m, m2, err)
		}
	})
}

func FuzzParseMarker(f *testing.F) {
	f.Add([]byte(`{"format":"grsync-local-store","version":1,"created":"2024-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"format":"grsync-local-store","version":2}`))
	f.Add([]byte(`{"format":"grsync-local-store","version":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMarker(data)
		if err == nil && (m.Format != markerFormat || m.Version != markerVersion) {
			t.Fatalf("accepted marker %+v", m)
		}
	})
}

func FuzzParseJobMeta(f *testing.F) {
	f.Add([]byte(`{"kind":"archive","archive_id":"abc","requested":"2024-01-02T03:04:05Z","ready_at":"2024-01-02T07:04:05Z"}`))
	f.Add([]byte(`{"kind":"inventory","requested":"2024-01-02T03:04:05Z","ready_at":"2024-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"kind":"archive","archive_id":"../x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := parseJobMeta(data)
		if err != nil {
			return
		}
		switch {
		case j.Kind == jobKindArchive && !validID(j.ArchiveID),
			j.Kind == jobKindInventory && j.ArchiveID != "",
			j.Kind != jobKindArchive && j.Kind != jobKindInventory,
			j.ReadyAt.Before(j.Requested):
			t.Fatalf("accepted invalid job %+v", j)
		}
	})
}

func FuzzValidID(f *testing.F) {
	f.Add("abc_-DEF")
	f.Add("../etc/passwd")
	f.Add("a.json")
	f.Fuzz(func(t *testing.T, id string) {
		if !validID(id) {
			return
		}
		if strings.ContainsAny(id, `/\.:`+"\x00") || len(id) > maxIDLen || id == "" {
			t.Fatalf("validID accepted %q", id)
		}
	})
}

func TestValidIDAcceptsNewIDs(t *testing.T) {
	for range 100 {
		if id := newID(); !validID(id) || len(id) != 43 {
			t.Fatalf("newID() = %q", id)
		}
	}
}
