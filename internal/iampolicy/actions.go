package iampolicy

// Use says which grsync work needs an action.
type Use int

const (
	// UseOpen: opening the store (every command that touches it).
	UseOpen Use = 1 << iota
	// UseSync: uploading (and continuing or abandoning uploads).
	UseSync
	// UseRestore: retrievals and reads (restore, verify, inventory).
	UseRestore
	// UseList: listing the store (inventory, verify, uploads list).
	UseList
	// UseLock: only with Object Lock: checking the bucket, reading and
	// setting retention.
	UseLock
	// UseDelete: deleting archives (prune, forget, a sync that replaces
	// an archive). Never in an append-only policy.
	UseDelete
)

// Scope says what an action's Resource is.
type Scope int

const (
	ScopeBucket  Scope = iota // arn:aws:s3:::BUCKET
	ScopeObjects              // arn:aws:s3:::BUCKET/PREFIX*
	ScopeVault                // arn:aws:glacier:REGION:ACCOUNT:vaults/NAME
)

// Call is one API operation the store code makes, with the IAM actions
// that authorize it. The tables below are checked against the store
// packages' source: every operation they call is listed, and nothing
// else (TestTablesMatchStoreCode).
type Call struct {
	API     string   // the SDK operation, as the store code calls it
	Actions []string // the IAM actions it needs
	Scope   Scope
	Use     Use
	Why     string // for the reader of the policy
}

// S3Calls are the operations of internal/store/s3store.
var S3Calls = []Call{
	{"ListObjectsV2", []string{"s3:ListBucket"}, ScopeBucket, UseOpen | UseList, "open the store (one key under PREFIX grsync/), inventory, refs"},
	{"ListMultipartUploads", []string{"s3:ListBucketMultipartUploads"}, ScopeBucket, UseSync | UseList, "find unfinished uploads to continue or abort"},
	{"GetObjectLockConfiguration", []string{"s3:GetBucketObjectLockConfiguration"}, ScopeBucket, UseLock, "check that the bucket has Object Lock before the first upload"},
	{"GetBucketVersioning", []string{"s3:GetBucketVersioning"}, ScopeBucket, UseLock, "check that versioning is on before the first upload"},
	{"PutObject", []string{"s3:PutObject"}, ScopeObjects, UseSync, "store an archive (and an upload's small record, and refs: the store's marker, the catalogue pointers)"},
	{"CreateMultipartUpload", []string{"s3:PutObject"}, ScopeObjects, UseSync, "start a multipart upload"},
	{"UploadPart", []string{"s3:PutObject"}, ScopeObjects, UseSync, "send a part"},
	{"CompleteMultipartUpload", []string{"s3:PutObject"}, ScopeObjects, UseSync, "complete a multipart upload"},
	{"ListParts", []string{"s3:ListMultipartUploadParts"}, ScopeObjects, UseSync, "continue an interrupted upload"},
	{"AbortMultipartUpload", []string{"s3:AbortMultipartUpload"}, ScopeObjects, UseSync, "abandon an unfinished upload (never touches a stored archive)"},
	{"HeadObject", []string{"s3:GetObject"}, ScopeObjects, UseSync | UseRestore | UseList, "verify an upload, read descriptions, restore status"},
	{"GetObject", []string{"s3:GetObject"}, ScopeObjects, UseRestore | UseSync, "read an archive, an upload record, a ref"},
	{"RestoreObject", []string{"s3:RestoreObject"}, ScopeObjects, UseRestore, "thaw a GLACIER or DEEP_ARCHIVE object"},
	{"PutObjectRetention", []string{"s3:PutObjectRetention"}, ScopeObjects, UseLock, "lock new objects and extend the lock of live ones (never shorten: that needs s3:BypassGovernanceRetention, which no grsync policy grants)"},
	{"DeleteObject", []string{"s3:DeleteObject", "s3:DeleteObjectVersion"}, ScopeObjects, UseDelete, "delete an archive (its version, in a versioned bucket), an upload's record, and a ref"},
}

// S3Fields are actions that no operation needs but that decide what a
// reply shows: HeadObject returns an object's lock only to credentials
// with s3:GetObjectRetention.
var S3Fields = []Call{
	{"HeadObject", []string{"s3:GetObjectRetention"}, ScopeObjects, UseLock, "see an object's lock in HeadObject"},
}

// VaultCalls are the operations of internal/store/vault.
var VaultCalls = []Call{
	{"DescribeVault", []string{"glacier:DescribeVault"}, ScopeVault, UseOpen, "open the store"},
	{"UploadArchive", []string{"glacier:UploadArchive"}, ScopeVault, UseSync, "store a small archive"},
	{"InitiateMultipartUpload", []string{"glacier:InitiateMultipartUpload"}, ScopeVault, UseSync, "start a multipart upload"},
	{"UploadMultipartPart", []string{"glacier:UploadMultipartPart"}, ScopeVault, UseSync, "send a part"},
	{"CompleteMultipartUpload", []string{"glacier:CompleteMultipartUpload"}, ScopeVault, UseSync, "complete a multipart upload"},
	{"ListMultipartUploads", []string{"glacier:ListMultipartUploads"}, ScopeVault, UseSync | UseList, "find unfinished uploads"},
	{"ListParts", []string{"glacier:ListParts"}, ScopeVault, UseSync, "continue an interrupted upload"},
	{"AbortMultipartUpload", []string{"glacier:AbortMultipartUpload"}, ScopeVault, UseSync, "abandon an unfinished upload (never touches a stored archive)"},
	{"InitiateJob", []string{"glacier:InitiateJob"}, ScopeVault, UseRestore | UseList, "request a retrieval or an inventory"},
	{"DescribeJob", []string{"glacier:DescribeJob"}, ScopeVault, UseRestore | UseList, "poll a job"},
	{"GetJobOutput", []string{"glacier:GetJobOutput"}, ScopeVault, UseRestore | UseList, "download a job's output"},
	{"DeleteArchive", []string{"glacier:DeleteArchive"}, ScopeVault, UseDelete, "delete an archive (and one whose upload failed its checks)"},
	{"ListTagsForVault", []string{"glacier:ListTagsForVault"}, ScopeVault, UseOpen, "read the store's refs (vault tags grsync-ref-*): its marker, the catalogue pointers"},
	{"AddTagsToVault", []string{"glacier:AddTagsToVault"}, ScopeVault, UseSync, "write a ref: the store's marker, before the first upload; the catalogue pointers"},
	{"RemoveTagsFromVault", []string{"glacier:RemoveTagsFromVault"}, ScopeVault, UseDelete, "remove a ref (no grsync command does yet)"},
}
