// Package vault implements store.Store on an Amazon S3 Glacier vault (the
// 2012-06-01 "vault" API), through the AWS SDK for Go v2. Its Location is
// "glacier:REGION:VAULT".
//
// # Configuration
//
// New finds credentials, region and endpoint as the AWS CLI does: the
// environment, the shared config and credentials files (Config.Profile or
// AWS_PROFILE), SSO, IMDS. AWS_ENDPOINT_URL_GLACIER, AWS_ENDPOINT_URL and a
// profile's endpoint_url are honoured by the SDK itself; Config.EndpointURL
// overrides them all. New calls DescribeVault once, so a missing vault,
// missing or rejected credentials, an unknown profile and a wrong region or
// endpoint are reported before any work as one *store.ConfigError with a
// hint.
//
// # Uploads
//
// Put reads the body part by part. The part size is Config.PartSize, doubled
// as often as the size hint (store.WithSizeHint, plus 1% and 64 KiB for
// format overhead) requires to stay within Glacier's 10,000 parts, up to
// 4 GiB. A body that ends within the first part — or is exactly one part —
// goes in one UploadArchive request; a longer one as a multipart upload
// with Config.Concurrency parts in flight, each sent with its tree hash, the
// archive's tree hash combined from the parts' (treehash.Combine) and
// compared with the one the service returns. A Put holds at most
// PartSize × (Concurrency + 1) bytes of the body: 5 MiB with the defaults,
// but 640 MiB for a 1 TiB file, whose parts must be 128 MiB. Buffers are
// pooled across Puts. A Put that fails or is
// cancelled aborts its multipart upload, on a fresh context if need be; if
// even that fails, the error says so and names the upload.
//
// # Resumable uploads
//
// The store is a store.Resumer. PutResumable starts an upload as Put does;
// a multipart one is handed to ResumeOptions.Started (its ref is the
// upload id ListUploads and AbortUpload use, and the part size) after
// InitiateMultipartUpload and before the first part. A body error, a
// transient failure (the SDK's retries used up) or cancellation leaves
// the upload in the vault; on a body error the parts in flight are
// finished first. Permanent failures abort it, as Put does.
//
// Continuing an upload lists its parts (ListParts, every page) and checks
// that the vault made it with the ref's part size and for the same
// description. The body is read part by part as before; a part the vault
// holds is tree-hashed and compared with the vault's SHA256TreeHash and
// range, and not sent; the others are sent as usual, except that parts
// below a held part not compared yet wait in memory (at most Concurrency of
// them, else store.ErrCannotResume at once), so nothing is sent when a held
// part turns out to differ. Then CompleteMultipartUpload gets the tree hash
// of the whole. An upload the vault does not know (aborted, or expired
// after 24 hours without a part) is store.ErrCannotResume wrapping
// store.ErrNotFound; every store.ErrCannotResume leaves the upload as it
// was.
//
// Descriptions travel in an HTTP header, which cannot carry leading or
// trailing spaces: Put rejects such descriptions (store.ValidDescription
// accepts them).
//
// # Retries
//
// Every request goes through the SDK's standard retryer, bounded by
// Config.MaxAttempts and Config.MaxBackoff: throttling (Glacier's
// ThrottlingException comes with HTTP 400), HTTP 429 and 5xx,
// RequestTimeout, and refused, reset or dropped connections are retried
// after a randomised, exponentially growing pause; request bodies are
// in-memory and seekable, so each attempt sends the same bytes. The SDK's
// client-wide retry quota is off. A request that used up its attempts
// fails with an error that says so; it stays transient (not
// store.Permanent), so a caller may try again later.
//
// # Retrievals
//
// Request initiates an archive-retrieval job (Tier "" is Standard) or an
// inventory-retrieval job in JSON; Poll asks DescribeJob. A retrieval is
// Ready when its job has Succeeded, and Expires 24 hours after completion.
// A job that failed is a permanent error; a job the service no longer knows
// is store.ErrExpired if its 24 hours are (within an hour) over, else
// store.ErrNotFound.
//
// Glacier has no inventory for a vault that never held an archive and
// refuses inventory jobs for it with ResourceNotFoundException. Request
// then checks that the vault exists (DescribeVault) and returns a retrieval
// that is Ready at once, lists no archives and expires after 24 hours like
// any other; its JobID is "grsync:empty-vault", which no real job id can be.
// (The same happens, as on AWS, for a vault whose first archive arrived
// less than a day ago: Glacier has not made its first inventory yet.)
//
// A retrieval with a byte range (store.Retrieval Offset and Length) is an
// archive-retrieval job with RetrievalByteRange "FIRST-LAST": Glacier
// retrieves and bills only that range. Request refuses a range whose start
// is not a multiple of 1 MiB; the service refuses one whose end is neither
// a multiple of 1 MiB minus one nor the archive's last byte, or that lies
// beyond the archive (InvalidParameterValueException, a permanent error).
// Poll reads the job's RetrievalByteRange back (AWS reports
// "0-(size-1)" for a whole-archive job: Offset and Length 0); a job that
// reports none (moto ignores ranges) is taken as retrieving the whole
// archive, which is what moto's output is. A job whose range does not
// hold the range asked for is a permanent error. Glacier sends tree hashes
// for a ranged job's output only when its range is tree-hash aligned (a
// node of the archive's tree, treehash.RangeAligned; DescribeJob's
// SHA256TreeHash is then the range's, else null) and the part downloaded
// is aligned too; the 8 MiB chunks below stay nodes of the archive's tree
// inside such a range and are verified; inside an unaligned range they
// arrive without tree hashes and pass unchecked (the caller verifies what
// it reads: grsync's pack members are authenticated and hashed).
//
// ReadRange checks the job, then downloads the range in chunks of up to
// 8 MiB, each chosen to be a node of the archive's tree hash so that the
// service sends that node's hash (x-amz-sha256-tree-hash); each chunk is
// checked against it before any of its bytes are passed on. A connection
// that fails mid-chunk is resumed where it stopped; a chunk that fails its
// check is fetched again whole, and so is a request that stalls (no
// answer within a minute plus 1 s per 32 KiB); all up to MaxAttempts times
// in a row. A reader holds one 8 MiB chunk. Callers still verify the whole archive's
// tree hash. Inventory streams and parses the inventory document as it
// arrives, resuming broken connections the same way.
//
// # Refs
//
// A ref (store.Store.Refs) is the vault tag "grsync-ref-NAME"; other tags
// are the user's, left alone, but they count towards the vault's limit of
// 50 tags (LimitExceededException, a permanent error). Refs reads
// ListTagsForVault; SetRef lists (for the limit of 40 refs) and calls
// AddTagsToVault; DeleteRef lists (RemoveTagsFromVault ignores absent keys)
// and calls RemoveTagsFromVault. Tag requests are free. A service that
// answers a tag request with HTTP 404 and no AWS error code does not
// implement vault tags (moto): all three then report
// store.ErrRefsUnsupported. AWS answers a missing vault with
// ResourceNotFoundException instead, which stays store.ErrNotFound.
//
// Empty asks DescribeVault whether the vault holds archives; Glacier
// updates that count with its daily inventory, so it may miss archives
// uploaded in the last day.
//
// # Other services
//
// moto (the Python AWS emulator) is served as well as it allows: its jobs
// report no archive size and its job output ignores Range and carries no
// tree hash, so ReadRange then streams the whole output once, skipping to
// the offset, unverified. moto returns a plain SHA-256 instead of the tree
// hash for single uploads over 1 MiB (Put then rejects and deletes the
// archive), implements no multipart uploads and no vault tags (so a vault
// on moto has no refs).
//
// # Known limits
//
// An UploadArchive whose reply is lost after the service stored the archive
// is retried by the SDK and stores it twice; the extra archive shows up in
// the next inventory. CompleteMultipartUpload is idempotent on AWS, so
// multipart uploads do not have this problem. Uploads have no stall
// timeout: a connection that hangs without being reset blocks its Put
// until the caller's context ends.
package vault
