package s3store

import (
	"testing"
	"time"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/storetest"
)

// leaveUpload starts a multipart upload as a Put that crashed would leave it.
func leaveUpload(t *testing.T, st store.Store, description string) string {
	t.Helper()
	s := st.(*Store)
	id := newID()
	uploadID, err := s.startMultipart(t.Context(), id, description, s.cfg.PartSize, uploadAlg, s.newLockUntil())
	if err != nil {
		t.Fatal(err)
	}
	return uploadHandle(id, uploadID)
}

func runSuite(t *testing.T, class string, opt storetest.Options) {
	endpoint := startMoto(t)
	opt.LeaveUpload = leaveUpload
	opt.PartSize = MinPartSize // testConfig's
	storetest.RunWithOptions(t, opt, func(t *testing.T) store.Store {
		s, err := New(t.Context(), testConfig(t, endpoint, class))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}

func TestSuiteStandard(t *testing.T) {
	t.Parallel()
	runSuite(t, "STANDARD", storetest.Options{})
}

// TestSuiteDeepArchive runs the suite on DEEP_ARCHIVE objects, which must be
// restored (moto completes restores at once) before they can be read.
func TestSuiteDeepArchive(t *testing.T) {
	t.Parallel()
	runSuite(t, "DEEP_ARCHIVE", storetest.Options{PollTimeout: 30 * time.Second, PollInterval: 20 * time.Millisecond})
}

// BenchmarkStore measures Put and read throughput against moto, which is
// far slower than S3; it shows the store's overhead, not S3's speed.
func BenchmarkStore(b *testing.B) {
	endpoint := startMoto(b)
	storetest.RunBenchmarks(b, func(b *testing.B) store.Store {
		s, err := New(b.Context(), testConfig(b, endpoint, "STANDARD"))
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
