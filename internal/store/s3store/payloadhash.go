package s3store

import (
	"context"
	"encoding/hex"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// knownPayloadHash is an option of one request whose body has the SHA-256
// digest, computed already for its checksum: Signature Version 4 signs the
// payload with it instead of reading the body once more to hash it. Over
// plain HTTP (emulators, local S3 servers) the SDK signs the payload, and
// that second pass was a quarter of an upload's CPU (1 GiB to moto: 0.80 s
// of 3.0 s spent in SHA-256); over HTTPS the SDK would send
// UNSIGNED-PAYLOAD, and now signs the payload at no cost.
//
// A CRC32 upload has no SHA-256 to give: the option does nothing, and over
// plain HTTP the SDK hashes the body to sign it.
func knownPayloadHash(alg checksumAlg, digest []byte) func(*s3.Options) {
	sum := hex.EncodeToString(digest)
	return func(o *s3.Options) {
		if alg != algSHA256 {
			return
		}
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("grsyncKnownPayloadHash",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					return next.HandleFinalize(v4.SetPayloadHash(ctx, sum), in)
				}), middleware.Before)
		})
	}
}
