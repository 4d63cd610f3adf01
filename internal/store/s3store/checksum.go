package s3store

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// checksumAlg is the S3 checksum an upload sends with every part (or its
// one PutObject), which S3 verifies on receipt and reports back (see
// doc.go, "Upload").
type checksumAlg string

const (
	// algCRC32 is what uploads use: the AWS CLI's and SDKs' default, in
	// hardware on amd64 and arm64. Over HTTPS the SDK then signs the
	// request with UNSIGNED-PAYLOAD, so no byte of a part is hashed with
	// SHA-256 for S3 (each was, for its SHA-256 checksum, until
	// docs/DESIGN.md's fourth performance pass).
	algCRC32 checksumAlg = "CRC32"
	// algSHA256 is what uploads used before; a multipart upload started
	// with it is continued with it (S3 requires every part of an upload
	// to carry the checksum it was created with).
	algSHA256 checksumAlg = "SHA256"
)

// uploadAlg is the algorithm of new uploads.
const uploadAlg = algCRC32

// algOf reads a sidecar's record of the algorithm: sidecars written before
// it was recorded belong to SHA-256 uploads.
func algOf(recorded string) (checksumAlg, bool) {
	switch checksumAlg(recorded) {
	case "", algSHA256:
		return algSHA256, true
	case algCRC32:
		return algCRC32, true
	}
	return "", false
}

// sdk is the algorithm as the SDK names it.
func (a checksumAlg) sdk() types.ChecksumAlgorithm {
	if a == algSHA256 {
		return types.ChecksumAlgorithmSha256
	}
	return types.ChecksumAlgorithmCrc32
}

// String is the name used in messages.
func (a checksumAlg) String() string {
	if a == algSHA256 {
		return "SHA-256"
	}
	return "CRC32"
}

// digest is data's checksum, raw: the 32 bytes of its SHA-256, or the 4
// big-endian bytes of its CRC32 (IEEE), as S3 encodes them.
func (a checksumAlg) digest(data []byte) []byte {
	if a == algSHA256 {
		s := sha256.Sum256(data)
		return s[:]
	}
	return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
}

// encode is a raw digest as S3 sends it: base64.
func encode(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// composite is S3's checksum of a multipart object made of parts with
// these raw digests: the algorithm applied to their concatenation, then
// "-" and the number of parts.
func (a checksumAlg) composite(digests [][]byte) string {
	var all []byte
	for _, d := range digests {
		all = append(all, d...)
	}
	return encode(a.digest(all)) + "-" + strconv.Itoa(len(digests))
}

// pick returns the one of S3's reported checksums that is a's.
func (a checksumAlg) pick(crc, sha *string) string {
	if a == algSHA256 {
		return aws.ToString(sha)
	}
	return aws.ToString(crc)
}

// completed is the CompletedPart of part num, with its checksum sum.
func (a checksumAlg) completed(num int32, etag *string, sum string) types.CompletedPart {
	p := types.CompletedPart{ETag: etag, PartNumber: aws.Int32(num)}
	if a == algSHA256 {
		p.ChecksumSHA256 = aws.String(sum)
	} else {
		p.ChecksumCRC32 = aws.String(sum)
	}
	return p
}

// set returns the two checksum fields of a request that sends sum: the
// CRC32 one and the SHA-256 one, one of them nil.
func (a checksumAlg) set(sum string) (crc, sha *string) {
	if a == algSHA256 {
		return nil, aws.String(sum)
	}
	return aws.String(sum), nil
}
