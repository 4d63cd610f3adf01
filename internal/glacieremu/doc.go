// Package glacieremu emulates the subset of the Amazon S3 Glacier vault REST
// API (version 2012-06-01) that grsync uses, as strictly as AWS, so that the
// real AWS SDK for Go v2 client can be tested against it.
//
// Implemented: CreateVault, DescribeVault, ListVaults, DeleteVault;
// UploadArchive, DeleteArchive; InitiateMultipartUpload, UploadMultipartPart,
// ListParts, CompleteMultipartUpload, AbortMultipartUpload,
// ListMultipartUploads; InitiateJob (archive-retrieval and
// inventory-retrieval), DescribeJob, ListJobs, GetJobOutput;
// AddTagsToVault, ListTagsForVault, RemoveTagsFromVault (at most 50 tags
// per vault, keys of 1 to 128 and values of up to 256 letters, digits,
// spaces and _ . / = + - @, no "aws:" key prefix; LimitExceededException
// and InvalidParameterValueException as AWS answers them). Config.NoTags
// answers the tag operations as moto does, which lacks them: 404 with an
// HTML page.
//
// Rules enforced as AWS documents them, with AWS's error codes: tree hashes of
// uploads, parts and assembled archives (and the linear x-amz-content-sha256
// when it carries a hash); part sizes of 1 MiB × 2^n up to 4 GiB; part ranges
// aligned to the part size, no part larger than the part size, every part but
// the last exactly the part size, at most 10,000 parts; descriptions of at
// most 1,024 printable ASCII characters; vault names; megabyte-aligned
// retrieval ranges; job output only after the job completes and until it
// expires; tree hashes of a ranged job (DescribeJob's SHA256TreeHash, the
// output's x-amz-sha256-tree-hash) only when its retrieval range is tree-hash
// aligned, and on output only for download ranges that are aligned as well;
// no SHA256TreeHash for a job retrieving the whole archive (with or without
// a range spanning it) while it is in progress.
// Requests need a SigV4 Authorization header (the signature is not checked),
// the x-amz-glacier-version header, and the account "-" or Config.AccountID.
//
// Known differences from AWS: DescribeVault counts are current rather than
// as of the last daily inventory; an inventory job reflects the archives as
// of its initiation (AWS serves the last daily inventory), though, as on
// AWS, a vault that has never held an archive has no inventory; inventory
// date filters, limits and markers, select jobs, SNS notifications, vault
// access policies, locks and data retrieval policies are not implemented.
//
// Tests control the emulator through Config: an injectable clock and job
// delays per tier, MaxPartCount and MinPartSize to reach the part limit with
// little data, and faults per operation (5xx errors, throttling, dropped
// connections, latency) drawn from a seeded generator. Stats reports requests
// and bytes per operation; Jobs lists a vault's jobs with the byte range each
// retrieves. SeedArchive and SetInventory load fixtures.
package glacieremu
