// Package s3store implements store.Store on an Amazon S3 bucket, with the
// archive storage classes (GLACIER, DEEP_ARCHIVE, GLACIER_IR) that replace
// Glacier vaults for accounts created after 2025-12-15, and the ordinary
// ones. It talks to S3 through the AWS SDK for Go v2, with credentials,
// region and endpoint found the way the AWS CLI finds them.
//
// # Keys and metadata
//
// Everything grsync writes lives under the configured prefix:
//
//	PREFIX grsync/<id>          one archive; user metadata x-amz-meta-grsync-desc
//	PREFIX grsync-uploads/<id>  JSON sidecar of a multipart upload in progress
//	PREFIX grsync-meta/<id>     reserved (see below)
//	PREFIX grsync-refs/<name>   a ref (store.Store.Refs): a small STANDARD object holding its value
//
// An id is 43 characters of url-safe base64 from 32 random bytes. Keys are
// opaque on purpose: a bucket listing, S3 server access logs, inventory
// reports and CloudTrail all show keys in the clear, so a key must not carry
// a file name, a path, a size class or a date. The archive description
// (built by the caller, and encrypted by it when encryption is on) goes into
// the user metadata as "1:" followed by its standard base64, which keeps
// leading and trailing spaces that HTTP header values lose. No other
// metadata is written, so nothing else can leak a name.
//
// S3 limits user metadata to 2 KB; a description is at most
// store.MaxDescription (1024) bytes, 1,370 once encoded, so it always fits.
// Should longer descriptions ever be allowed, the fallback is a sidecar
// object PREFIX grsync-meta/<id> in the STANDARD class holding the
// description, and a metadata value "ref:" that points to it; this
// version neither writes nor reads such sidecars.
//
// While a multipart upload runs, S3 cannot return its metadata, so Put also
// writes a small STANDARD sidecar PREFIX grsync-uploads/<id> holding the
// description (encoded as in the metadata) and the part size, for
// ListUploads; it is removed when the upload
// completes or is aborted, and by ListUploads and AbortUpload when they
// find its upload gone (a process killed between completing an upload and
// removing its sidecar). Upload ids are "<id>:<S3 upload id>".
//
// # Upload
//
// A body of at most the part size goes up in one PutObject; a larger one in
// a multipart upload with Concurrency parts in flight. The part size is
// Config.PartSize, raised (in whole MiB) so that store.SizeHint plus 1% and
// 64 KiB fits in 10,000 parts. A Put holds at most PartSize × (Concurrency
// + 1) bytes of the body; for a 1 TiB hint that is 5 parts of 106 MiB.
// Without a hint a body may be at most 10,000 × PartSize (78 GiB at 8 MiB).
//
// Integrity is checked end to end with S3's CRC32 checksums: every part
// and every single-part object is sent with its x-amz-checksum-crc32,
// which S3 verifies on receipt; the checksum S3 reports back is compared
// with the one computed here; and a final HeadObject (checksum mode on)
// must report the object's size and its CRC32 (for a multipart object the
// composite "base64(CRC32 of the part CRC32s)-N"). CRC32 is what the AWS
// CLI and SDKs send by default and costs next to nothing; with SHA-256,
// which grsync used before, every byte uploaded over HTTPS was hashed once
// more only for S3. It guards the transfer against accidents; against
// tampering, an encrypted archive is authenticated by its encryption; the
// tree hash computed here and recorded in the catalogue is checked when a
// whole archive is read. A multipart upload started with SHA-256 is continued with it:
// its sidecar records the algorithm (no record: SHA-256). The Glacier-style
// SHA-256 tree hash of the bytes is computed while streaming and returned in
// Archive.TreeHash. Requests are retried by the SDK's standard retryer
// (Config.MaxAttempts, without its retry quota) from seekable in-memory
// bodies, so a retry sends the same bytes. A Put that fails or is cancelled
// aborts its multipart upload (or deletes its object) with a fresh
// 30-second context, so nothing billed is left behind.
//
// # Resumable uploads
//
// The store is a store.Resumer. PutResumable starts an upload as Put does;
// a multipart one is handed to ResumeOptions.Started (ref "<id>:<S3 upload
// id>" and the part size) once its sidecar is written, before the first
// part. A body error, a transient failure or cancellation leaves the
// upload and its sidecar; permanent failures abort it, as Put does.
//
// Continuing an upload lists its parts (ListParts, every page) and checks
// the part size and description its sidecar records; an upload S3 does
// not know is store.ErrCannotResume wrapping store.ErrNotFound, one
// without a valid sidecar plain store.ErrCannotResume. The body is read
// part by part; a part S3 holds is compared with the checksum of the
// upload's algorithm that ListParts reports for it, or where there is none (moto reports none) with its ETag when
// that is a plain hex MD5, and its size; it is then not sent, and its ETag
// and checksum go into CompleteMultipartUpload. A held part that can be
// compared neither way (an SSE-KMS ETag, say) is sent again, which
// replaces it. As with vaults, parts below a held part not compared yet
// wait in memory (at most Concurrency of them), so nothing is sent when a
// held part differs, and every store.ErrCannotResume leaves the upload as
// it was.
//
// # Object Lock, versions and deletes
//
// With Config.ObjectLock (governance or compliance) every archive is
// written with ObjectLockMode and ObjectLockRetainUntilDate (now +
// Config.LockDays, rounded up to the second) in the very request that
// stores it: the PutObject, or the CreateMultipartUpload of a multipart
// upload. S3 requires a Content-MD5 or a checksum algorithm header on such
// uploads; grsync sends CRC32 on every PutObject and UploadPart anyway. The
// HeadObject that verifies an upload also reads the lock back; if S3
// reports none or an earlier date (moto drops the lock of multipart
// uploads; credentials without s3:GetObjectRetention see none), the store
// sets it with PutObjectRetention and logs a warning. Upload sidecars are
// written without a lock (a bucket whose default retention locks them
// anyway is warned about: they then stay until it ends).
//
// New refuses, before any upload, a bucket without Object Lock enabled
// (GetObjectLockConfiguration) or without versioning on
// (GetBucketVersioning), with a store.ConfigError saying how to enable
// them. DefaultLockDays is the class's minimum storage duration (at least
// 30 days) plus LockMarginDays (30): DEEP_ARCHIVE 210, GLACIER 120.
//
// The store is a store.Locker: Retention reads an archive's lock
// (HeadObject), ExtendRetention sets a later date with PutObjectRetention
// on the current version, in the object's own mode, and never sends an
// earlier one (in governance mode that would need
// s3:BypassGovernanceRetention, which grsync never uses; in compliance
// mode it is impossible). Extending costs a HEAD and a PUT per archive.
//
// In a versioned bucket (every bucket with Object Lock) a DeleteObject
// without a version id deletes nothing: it adds a delete marker, the
// object disappears from listings, and its bytes stay billed (and, if
// locked, protected). Delete therefore reads the current version id with
// HeadObject and deletes that version (which needs s3:DeleteObjectVersion),
// so storage is really freed; in a bucket never versioned HeadObject
// reports no version id and a plain DeleteObject is sent, as before. An
// archive whose lock still holds (by HeadObject and this machine's clock)
// is store.ErrLocked and nothing is sent; S3 refusing the delete is
// store.ErrLocked when its message names the Object Lock (or the lock
// ended less than five minutes ago by this clock), else
// store.ErrAccessDenied (append-only credentials). Both are permanent. A
// failed upload whose object got locked cannot be removed: it stays,
// billed, until the lock ends, and a warning says so. Delete markers and
// old versions that an earlier grsync (or another tool) left are not
// looked for.
//
// Every archive is written with If-None-Match: * (PutObject and
// CompleteMultipartUpload), so no write of grsync's can replace an
// object, and a policy may require it (internal/iampolicy does, for an
// append-only run that must not be able to overwrite archives). A 412
// answer can then only come from the SDK retrying a request whose reply
// was lost: the store checks the object's size and SHA-256 and takes it
// as its own if they match, and never deletes it if they do not.
//
// New checks the bucket with ListObjectsV2 for at most one key under
// PREFIX grsync/ rather than HeadBucket, because a policy can allow
// s3:ListBucket for a prefix only (s3:prefix) but HeadBucket needs it for
// the whole bucket. A LIST costs $0.005 per 1,000 against a HEAD's
// $0.0004: a few thousandths of a dollar a year for a nightly sync.
//
// # Retrieval
//
// Objects in STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING (in its
// frequent or infrequent tiers) and GLACIER_IR are read directly: Request
// returns a retrieval that is Ready with JobID "". Objects in GLACIER and
// DEEP_ARCHIVE (and Intelligent-Tiering objects in an archive tier) must be
// restored first: Request sends RestoreObject with the tier and days, unless
// a restore is in progress or done, and returns JobID "restore:<key>", which
// needs no state in the store, so the catalogue can persist it. Poll reads
// the x-amz-restore header with HeadObject. DEEP_ARCHIVE offers no
// Expedited tier; New refuses that combination as Config.Tier, and Request
// refuses it for a DEEP_ARCHIVE object before sending a restore request.
// S3 restores whole objects: a byte range asked of Request (store.Retrieval
// Offset and Length) is checked and ignored, and ReadRange serves any range
// of the restored copy by ranged GETs.
// An inventory needs no job: ListObjectsV2 plus one HeadObject per object,
// 64 objects at a time, so a caller that stops early pays for few.
//
// # Refs
//
// A ref (store.Store.Refs) is the object PREFIX grsync-refs/<name>, its
// body the value, always in the STANDARD class whatever Config.StorageClass
// says, so it is read at once. Refs lists that folder and reads each object
// (one LIST and at most 40 GETs); SetRef lists it (for the limit of 40) and
// puts the object; DeleteRef asks HeadObject first, since DeleteObject of a
// missing key succeeds. Cost: a ref is a few dozen bytes of STANDARD
// storage, and reading the marker costs one LIST and one GET per run.
package s3store
