// Package localstore helps tests of store wrappers stacked on a local
// directory store (package local) to pass the conformance suite's upload
// test: it leaves an unfinished upload the way a crash during Put does.
package localstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LeaveUpload writes an unfinished upload with the given description into
// the local store in dir, as a crash during Put leaves it (see the layout
// in package local), and returns its id.
func LeaveUpload(t *testing.T, dir, description string) string {
	t.Helper()
	id := "crashed-upload-" + strings.ReplaceAll(t.Name(), "/", "_")
	if err := os.WriteFile(filepath.Join(dir, "uploads", id+".part"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	meta := `{"description":"` + description + `","created":"2024-01-02T03:04:05Z"}`
	if err := os.WriteFile(filepath.Join(dir, "uploads", id+".json"), []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}
