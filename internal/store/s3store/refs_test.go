package s3store

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestRefsAreHot checks that a ref of a DEEP_ARCHIVE store is a STANDARD
// object under PREFIX grsync-refs/, readable at once, and not an archive.
func TestRefsAreHot(t *testing.T) {
	t.Parallel()
	endpoint := startMoto(t)
	s := mustNew(t, testConfig(t, endpoint, "DEEP_ARCHIVE"))
	ctx := t.Context()
	if err := s.SetRef(ctx, "marker", "grsync-store 1 id=ab key=none"); err != nil {
		t.Fatal(err)
	}
	out, err := rawClient(endpoint).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String("backups/grsync-refs/marker")})
	if err != nil {
		t.Fatalf("the ref object backups/grsync-refs/marker: %v", err)
	}
	if out.StorageClass != "" && out.StorageClass != types.StorageClassStandard {
		t.Errorf("ref object storage class %s, want STANDARD", out.StorageClass)
	}
	// A fresh store on the same bucket and prefix reads it back.
	again := mustNew(t, s.cfg)
	refs, err := again.Refs(ctx)
	if err != nil || refs["marker"] != "grsync-store 1 id=ab key=none" || len(refs) != 1 {
		t.Errorf("Refs = %v, %v", refs, err)
	}
}
