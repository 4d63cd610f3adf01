// Package store defines the one interface every grsync storage target
// implements: a local directory, an Amazon S3 Glacier vault, or an S3 bucket.
//
// Cold storage is modelled explicitly. Reading an archive is three separate
// steps on every store: Request a retrieval, Poll until it is Ready, then
// ReadRange the bytes. Stores that serve data directly (the local directory,
// S3 objects in non-archive classes) return a retrieval that is Ready at once.
//
// # Error rules
//
//   - A missing archive, upload or retrieval job yields an error that wraps
//     ErrNotFound.
//   - ReadRange or Inventory on a retrieval that is not ready yet yields an
//     error that wraps ErrNotReady.
//   - A retrieval whose output is no longer available (Glacier keeps job output
//     24 hours; an S3 restored copy expires) yields an error wrapping ErrExpired.
//   - Errors that retrying cannot fix (bad credentials, a missing vault or
//     bucket, a rejected request, any of the three sentinels above,
//     ErrRefsUnsupported, context cancellation) are permanent: IsPermanent
//     reports true for them. Every other error is transient and may be
//     retried by the caller; the retry wrapper (package store/retry) does
//     exactly that.
//   - Every error names the store (its Location) and the operation, for the
//     user to read; an error of Put wraps the body's own read error.
//   - ReadRange of a zero-length range succeeds with an empty reader; a
//     range outside the archive is a permanent error, not ErrNotFound.
//   - On a store whose retrievals take time, a retrieval without a JobID is
//     unknown: Poll and ReadRange report ErrNotFound.
//   - Delete and AbortUpload of an unknown id report ErrNotFound, also when
//     retried after a reply was lost; callers treat that as done.
//   - Delete of an archive under an Object Lock reports ErrLocked; a
//     delete the credentials are not allowed reports ErrAccessDenied. Both
//     are permanent (see lock.go and Locker).
//   - Refs (see below): DeleteRef of an unknown ref reports ErrNotFound; an
//     invalid name or value, and a new ref beyond MaxRefs, are permanent
//     errors that change nothing; a store that cannot keep refs at all (a
//     Glacier vault on a service without vault tags) reports
//     ErrRefsUnsupported, which is permanent, from all three methods.
//
// # Ranged retrievals
//
// A KindArchive retrieval may ask for a byte range only: Length > 0 asks
// for bytes [Offset, Offset+Length) of the archive; Length 0 (and Offset
// 0) for all of it. A store whose retrievals can fetch a range (a Glacier
// vault, whose jobs are priced by the bytes they fetch) honours it: only
// that range becomes readable, and the retrieval it returns (from Request
// and Poll) carries the range the service reports. Every other store, and
// a service that ignores the range (moto), makes the whole archive
// readable and returns Offset and Length 0. So the caller learns from the
// returned retrieval what it can read; Covers says whether that includes
// the bytes it needs.
//
// Rules for a ranged retrieval: Offset must be a multiple of RangeAlign
// (1 MiB) and Offset+Length a multiple of it or the archive's end, as
// Glacier requires; a store that honours ranges refuses others with a
// permanent error (from Request, or from the service). ReadRange offsets
// stay archive-relative and the bytes read must lie inside the range, else
// a permanent error. Size stays the archive's size; TreeHash is the tree
// hash of the range when the service reports one (Glacier does only for
// tree-hash aligned ranges, see treehash.RangeAligned), not the archive's.
//
// # Refs
//
// Every store keeps, beside its archives, a few small named values that are
// read at once and at no retrieval cost ("hot"): the store marker (who owns
// the store, docs/FORMAT.md section 10), and later other pointers and
// settings. A ref name is 1 to MaxRefName characters of [a-z0-9-]; a value
// is at most MaxRefValue characters of the set every store can carry,
// which is what AWS accepts in a vault tag: letters, digits, space and
// _ . / = + - @ (ValidRefValue). A store holds at most MaxRefs refs. Refs
// are not archives: Inventory, ListUploads and retrievals never show them.
// Writes are not transactions: of two writers of one ref, the last wins.
//
// Implementations must be safe for concurrent use by multiple goroutines.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxDescription is the longest archive description every store accepts.
// Descriptions are printable ASCII (0x20..0x7e) only, as Glacier requires,
// and neither start nor end with a space: Glacier carries them in an HTTP
// header, which loses spaces at the ends.
const MaxDescription = 1024

var (
	// ErrNotFound: the archive, upload or job does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotReady: the retrieval has not completed yet; poll again later.
	ErrNotReady = errors.New("retrieval not ready yet")
	// ErrExpired: the retrieval's output is gone; request it again.
	ErrExpired = errors.New("retrieval expired")
)

// Archive is one stored archive as the store knows it.
type Archive struct {
	ID          string    // store-assigned id
	Description string    // printable ASCII, at most MaxDescription bytes
	Size        int64     // stored size in bytes
	Created     time.Time // when the store accepted it
	TreeHash    string    // hex SHA-256 tree hash when the store reports one, else ""
	Lock        Lock      // its Object Lock retention (Locker stores), else the zero Lock
}

// Tier is the retrieval speed and price class.
type Tier string

const (
	TierExpedited Tier = "Expedited"
	TierStandard  Tier = "Standard"
	TierBulk      Tier = "Bulk"
)

// Kind says what a retrieval fetches.
type Kind int

const (
	KindArchive   Kind = iota // one archive's bytes
	KindInventory             // the list of archives in the store
)

// Retrieval is a request to make data readable, and its state. Callers keep
// it (the catalogue persists JobID) so a later run can reuse a pending or
// completed job instead of paying for a new one.
type Retrieval struct {
	Kind      Kind
	ArchiveID string // KindArchive only
	Tier      Tier   // "" means the store's default (Standard)
	Days      int    // S3 restores: how long the thawed copy stays; 0 = store default
	// Offset and Length: the byte range of the archive to retrieve, where
	// the store can retrieve ranges; Length 0 is the whole archive. See
	// "Ranged retrievals" in the package documentation.
	Offset, Length int64

	JobID     string    // store handle; "" when the store serves data directly
	Ready     bool      // data can be read now
	Size      int64     // bytes readable when ready (archive size), -1 if unknown
	TreeHash  string    // hex SHA-256 tree hash of the output when known
	Requested time.Time // when the job was initiated
	Expires   time.Time // when the output stops being available; zero if never
}

// RangeAlign is the alignment of a ranged retrieval's start, and of its
// end unless it ends with the archive: Glacier's megabyte (1 MiB).
const RangeAlign = 1 << 20

// Ranged reports whether r makes only a byte range of its archive
// readable.
func (r Retrieval) Ranged() bool { return r.Length > 0 }

// Covers reports whether bytes [off, off+length) of the archive can be
// read from r: always for a retrieval of the whole archive; for a ranged
// one when they lie inside its range.
func (r Retrieval) Covers(off, length int64) bool {
	if !r.Ranged() {
		return true
	}
	return off >= r.Offset && length >= 0 && off+length <= r.Offset+r.Length
}

// Whole returns r as a retrieval of the whole archive (Offset and Length
// 0): what a store that cannot retrieve ranges returns.
func (r Retrieval) Whole() Retrieval {
	r.Offset, r.Length = 0, 0
	return r
}

// CheckRange returns a permanent error when r asks for a range that no
// store can honour: a negative offset or length, a length without an
// archive retrieval, a start that is not a multiple of RangeAlign. (An
// end that is not a multiple of it is right only at the archive's end,
// which the service checks.)
func CheckRange(r Retrieval) error {
	switch {
	case r.Offset == 0 && r.Length == 0:
		return nil
	case r.Offset < 0 || r.Length < 0:
		return Permanent(fmt.Errorf("retrieval range offset %d length %d is negative", r.Offset, r.Length))
	case r.Length == 0:
		return Permanent(fmt.Errorf("retrieval range at offset %d has no length", r.Offset))
	case r.Kind != KindArchive:
		return Permanent(errors.New("only an archive retrieval can have a byte range"))
	case r.Offset%RangeAlign != 0:
		return Permanent(fmt.Errorf("retrieval range offset %d is not a multiple of 1 MiB", r.Offset))
	}
	return nil
}

// Upload is an unfinished multipart upload the store still holds (and may bill for).
type Upload struct {
	ID          string
	Description string
	Created     time.Time
	PartSize    int64
}

// Store is a cold-storage target. See the package documentation for error rules.
type Store interface {
	// Location is a stable, canonical name of the target, e.g.
	// "local:/abs/dir", "glacier:us-east-1:vault", "s3:bucket/prefix". The
	// catalogue keys its records by it.
	Location() string

	// Put stores everything read from body as one new archive with the given
	// description and returns it. The size is not known in advance. If Put
	// fails, nothing is left behind that is billed or listed as an archive.
	Put(ctx context.Context, body io.Reader, description string) (Archive, error)

	// Delete removes an archive.
	Delete(ctx context.Context, id string) error

	// Request starts a retrieval (r.Kind, r.ArchiveID, r.Tier, r.Days) and
	// returns it with JobID, Requested and possibly Ready filled in.
	Request(ctx context.Context, r Retrieval) (Retrieval, error)

	// Poll returns the retrieval's current state (Ready, Size, Expires).
	Poll(ctx context.Context, r Retrieval) (Retrieval, error)

	// ReadRange reads length bytes from offset off of a ready KindArchive
	// retrieval; length < 0 reads to the end.
	ReadRange(ctx context.Context, r Retrieval, off, length int64) (io.ReadCloser, error)

	// Inventory calls fn for every archive listed by a ready KindInventory
	// retrieval, and returns the date the listing was taken.
	Inventory(ctx context.Context, r Retrieval, fn func(Archive) error) (time.Time, error)

	// ListUploads lists unfinished multipart uploads.
	ListUploads(ctx context.Context) ([]Upload, error)

	// AbortUpload abandons an unfinished upload and frees what it holds.
	AbortUpload(ctx context.Context, id string) error

	// Refs returns every ref the store holds, by name; an empty map when
	// there are none.
	Refs(ctx context.Context) (map[string]string, error)

	// SetRef creates ref name with value, or replaces its value.
	SetRef(ctx context.Context, name, value string) error

	// DeleteRef removes ref name; ErrNotFound when there is none.
	DeleteRef(ctx context.Context, name string) error

	// Close releases resources.
	Close() error
}

type classKey struct{}

// WithClass asks Put to store the archive in another storage class than
// the store's own, where the store has classes (S3): grsync keeps its
// catalogue snapshots and version records in a hot class, so a lost
// catalogue is recovered without waiting for a restore. Other stores
// ignore it.
func WithClass(ctx context.Context, class string) context.Context {
	return context.WithValue(ctx, classKey{}, class)
}

// Class returns the class given with WithClass, or "".
func Class(ctx context.Context) string {
	c, _ := ctx.Value(classKey{}).(string)
	return c
}

// Limits of refs; see the package documentation.
const (
	MaxRefs     = 40
	MaxRefName  = 64
	MaxRefValue = 256
)

// ErrRefsUnsupported: the store cannot keep refs (a Glacier vault on a
// service that does not implement vault tags, such as some emulators).
var ErrRefsUnsupported = errors.New("this store cannot keep refs")

// ValidRefName reports whether name may name a ref: 1 to MaxRefName
// characters of [a-z0-9-].
func ValidRefName(name string) bool {
	if len(name) == 0 || len(name) > MaxRefName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidRefValue reports whether v may be a ref's value: at most
// MaxRefValue characters, each a letter, a digit, a space or one of
// _ . / = + - @ (the characters AWS allows in a vault tag).
func ValidRefValue(v string) bool {
	if len(v) > MaxRefValue {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(" _./=+-@", c) >= 0) {
			return false
		}
	}
	return true
}

// CheckRef returns a permanent error naming the problem when name or value
// (with a value, for SetRef) is not acceptable, else nil.
func CheckRef(name string, value *string) error {
	if !ValidRefName(name) {
		return Permanent(fmt.Errorf("invalid ref name %q: want 1 to %d of a-z, 0-9 and -", clipRef(name), MaxRefName))
	}
	if value != nil && !ValidRefValue(*value) {
		return Permanent(fmt.Errorf("invalid value for ref %s: want at most %d letters, digits, spaces and _ . / = + - @", name, MaxRefValue))
	}
	return nil
}

// TooManyRefs is the permanent error of a SetRef that would make a store
// hold more than MaxRefs refs.
func TooManyRefs(name string) error {
	return Permanent(fmt.Errorf("ref %s: the store already holds %d refs, the most it may", name, MaxRefs))
}

func clipRef(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

type sizeHintKey struct{}

// WithSizeHint tells Put roughly how many bytes its body will yield (the
// source file's size), so stores that must fix a part size before the first
// byte (Glacier vaults; S3 multipart) can choose one large enough. The body
// may yield somewhat more or fewer bytes.
func WithSizeHint(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, sizeHintKey{}, n)
}

// SizeHint returns the size hint given with WithSizeHint, or -1.
func SizeHint(ctx context.Context) int64 {
	if n, ok := ctx.Value(sizeHintKey{}).(int64); ok {
		return n
	}
	return -1
}

// ConfigError is a problem with the target's configuration that the user
// must fix (a missing vault or bucket, bad credentials, a wrong region, a
// tier the storage class does not offer). Commands report it and exit 2
// before any file is read.
type ConfigError struct {
	Err  error
	Hint string // how to fix it
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether retrying err is pointless: it was marked with
// Permanent, wraps one of the package's sentinel errors, or is a context
// cancellation or deadline.
func IsPermanent(err error) bool {
	var p *permanentError
	switch {
	case err == nil:
		return false
	case errors.As(err, &p), errors.As(err, new(*ConfigError)),
		errors.Is(err, ErrNotFound), errors.Is(err, ErrNotReady), errors.Is(err, ErrExpired),
		errors.Is(err, ErrLocked), errors.Is(err, ErrAccessDenied),
		errors.Is(err, ErrRefsUnsupported),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}

// ValidDescription reports whether s is acceptable as an archive description.
func ValidDescription(s string) bool {
	if len(s) > MaxDescription || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ErrCannotResume: an upload cannot be continued (it is gone or expired,
// it was made with another part size or description, the body ends before
// a part the store holds, or such a part differs from the bytes given
// again). The caller should abort the upload and start a new one.
var ErrCannotResume = errors.New("upload cannot be resumed")

// UploadRef names a multipart upload that a later run may continue. Callers
// persist it (the catalogue does) as soon as ResumeOptions.Started hands it
// over.
type UploadRef struct {
	ID       string // as ListUploads reports it; AbortUpload takes it
	PartSize int64  // bytes per part, the last part excepted
}

// ResumeOptions steers PutResumable.
type ResumeOptions struct {
	// Resume, when set, names the upload to continue. Otherwise a new one
	// is started.
	Resume *UploadRef
	// Started is called once with a new multipart upload's ref, before its
	// first part is sent. If it fails, the upload is aborted and
	// PutResumable returns its error. A body small enough for a single
	// request never calls it.
	Started func(UploadRef) error
	// Skipped, if set, is called with the number of bytes of each part a
	// continued upload found already stored and did not send again.
	Skipped func(n int64)
}

// Resumer is implemented by stores whose multipart uploads outlive the
// process that started them and can be continued (Glacier vaults and S3:
// ListParts). Wrappers forward it when the store they wrap has it.
type Resumer interface {
	// PutResumable is Put for uploads a later run can continue.
	//
	// With opt.Resume set, body must yield the very same bytes as the run
	// that started the upload, from the first byte. Every part the store
	// already holds is read from body and compared with the store's
	// checksum of it, and not sent again; the other parts are sent; then
	// the upload is completed. No part at or below the highest part the
	// store holds is sent before every held part up to there has been
	// compared (the missing ones are kept in memory meanwhile; more than
	// the store's parts in flight is ErrCannotResume), so bytes that
	// differ from the first run's are never sent. If the upload cannot be
	// continued (see ErrCannotResume) the error wraps ErrCannotResume and
	// the upload is left as it was, for the caller to abort.
	//
	// When a multipart upload fails because the body failed, the network
	// or the service failed transiently, or ctx was cancelled, the upload
	// is left in the store, so that a later call can continue it; the
	// caller knows its ref from Started and must abort it if it does not
	// continue it. Permanent failures other than ErrCannotResume (a refused
	// part, a rejected completion) abort the upload as Put does.
	PutResumable(ctx context.Context, body io.Reader, description string, opt ResumeOptions) (Archive, error)
}
