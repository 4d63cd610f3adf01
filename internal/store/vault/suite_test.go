package vault

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/storetest"
)

// leaveUpload initiates a multipart upload and leaves it, as a crash in the
// middle of a Put would.
func leaveUpload(t *testing.T, st store.Store, description string) string {
	t.Helper()
	s := st.(*Store)
	out, err := s.client.InitiateMultipartUpload(context.Background(), &glacier.InitiateMultipartUploadInput{
		AccountId: s.account(), VaultName: s.vault(),
		ArchiveDescription: aws.String(description), PartSize: aws.String("1048576"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.UploadId
}

func TestSuite(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{LeaveUpload: leaveUpload},
		func(t *testing.T) store.Store { return newStore(t, newEmu(t, glacieremu.Config{}), nil) })
}
