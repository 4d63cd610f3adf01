package local

import (
	"os"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/storetest"
)

func newTestStore(t testing.TB, opt Options) *Store {
	t.Helper()
	s, err := New(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// leaveUpload writes an unfinished upload as a crash during Put leaves it.
func leaveUpload(t *testing.T, s *Store, description string) string {
	t.Helper()
	id := newID()
	if err := os.WriteFile(s.uploadPath(id, ".part"), []byte("half an archive"), 0o600); err != nil {
		t.Fatal(err)
	}
	meta := `{"description":"` + description + `","created":"2024-01-02T03:04:05Z"}`
	if err := os.WriteFile(s.uploadPath(id, ".json"), []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

// testPartSize is the part size of resumable uploads in the suite: small,
// so that six parts are quick.
const testPartSize = 64 << 10

func TestSuite(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{
		LeaveUpload: func(t *testing.T, s store.Store, d string) string { return leaveUpload(t, s.(*Store), d) },
		PartSize:    testPartSize,
	}, func(t *testing.T) store.Store { return newTestStore(t, Options{PartSize: testPartSize}) })
}

// TestSuiteColdStore runs the suite against a store whose retrievals take
// a while, as a cold store's do.
func TestSuiteColdStore(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{
		LeaveUpload: func(t *testing.T, s store.Store, d string) string { return leaveUpload(t, s.(*Store), d) },
		PartSize:    testPartSize,
	}, func(t *testing.T) store.Store {
		return newTestStore(t, Options{RetrievalDelay: 20 * time.Millisecond, PartSize: testPartSize})
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(b *testing.B) store.Store { return newTestStore(b, Options{}) })
}
