// Package format writes and reads grsync v1 archives and their metadata,
// and v2 packs.
//
// An archive body is a one-entry tar stream, optionally compressed with zstd,
// optionally encrypted with age; each layer runs in its own goroutine so that
// compression and encryption use several cores. The metadata of an archive
// travels in its store description, encrypted when a key is in use, so that
// a lost catalogue can be rebuilt from a store listing.
//
// A pack (format version 2) holds many members, files and chunks, in one
// store object, each member a complete age file (or zstd frame, or tar
// stream) sharing the pack's age header, followed by an index and a
// trailer: PackWriter writes one, OpenMember reads a member, ReadPackIndex
// the index. Pack members are small and many, so they are encoded and
// decoded in the caller's goroutine.
//
// The normative specification is docs/FORMAT.md.
package format

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"filippo.io/age"
)

// Errors callers may test for with errors.Is.
var (
	// ErrSizeMismatch: the bytes written to a Writer differ from FileInfo.Size
	// (the file changed while it was read).
	ErrSizeMismatch = errors.New("file size changed while archiving")
	// ErrNotGrsync: the data is not a grsync v1 archive or description.
	ErrNotGrsync = errors.New("not a grsync archive")
	// ErrUnsupportedVersion: a grsync archive or description of a version
	// this program does not know.
	ErrUnsupportedVersion = errors.New("unsupported grsync format version")
	// ErrKeyRequired: the data is encrypted and no key was given.
	ErrKeyRequired = errors.New("data is encrypted; a key is required")
	// ErrNotEncrypted: a key was given but the data is not encrypted. Readers
	// holding a key refuse unencrypted data, which anyone could have written.
	ErrNotEncrypted = errors.New("data is not encrypted, but a key was given")
	// ErrWrongKey: the data was encrypted with another key.
	ErrWrongKey = errors.New("wrong key")
	// ErrCorrupt: the data is damaged, truncated or was tampered with.
	ErrCorrupt = errors.New("archive is corrupt or was tampered with")
	// ErrIncomplete: pieces of a metadata group are missing.
	ErrIncomplete = errors.New("metadata is incomplete")
)

// Options selects the layers of an archive.
type Options struct {
	// Compress adds the zstd layer.
	Compress bool
	// Recipient, when not nil, adds the age layer encrypted to it; grsync
	// passes keys.Key.AgeIdentity().Recipient().
	Recipient age.Recipient
	// Continue, when not nil, re-creates the age stream of an earlier run
	// (see StreamState, which says when this is allowed): the age layer
	// writes Continue.Header and encrypts with Continue.FileKey instead of
	// drawing new randomness. It turns the age layer on by itself;
	// Recipient is not used (the header already holds the file key wrapped
	// to the first run's recipient) and may be left set. NewWriter refuses a
	// state whose header does not verify with its file key (ErrStreamState).
	Continue *StreamState
}

// FileInfo describes the file an archive holds.
type FileInfo struct {
	// Path is the file's absolute, clean path, as raw bytes (it need not be
	// valid UTF-8).
	Path string
	// Size is the content length in bytes.
	Size int64
	// Mode holds the permission bits and the setuid, setgid and sticky
	// bits; other bits are dropped, and type bits are refused.
	Mode fs.FileMode
	// ModTime is the modification time, kept to the nanosecond; it must
	// not be the zero time.
	ModTime time.Time
}

// Encoding returns the encoding string recorded in the catalogue and the
// metadata for archives written with opt: "grsync1", "grsync1+zstd",
// "grsync1+age" or "grsync1+zstd+age". Recipient or Continue turns
// encryption on.
func Encoding(opt Options) string {
	return encodingOf(opt.Compress, opt.Recipient != nil || opt.Continue != nil)
}

func encodingOf(compressed, encrypted bool) string {
	return encodingIn("grsync1", compressed, encrypted)
}

// encodingIn is the encoding string of a format version ("grsync1" or
// "grsync2") with the given layers.
func encodingIn(version string, compressed, encrypted bool) string {
	s := version
	if compressed {
		s += "+zstd"
	}
	if encrypted {
		s += "+age"
	}
	return s
}

// checkPath reports whether p is an absolute, clean path that can name a
// file: no empty, "." or ".." element, no trailing slash, no NUL.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("path is empty")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute", p)
	case p == "/":
		return errors.New("path \"/\" does not name a file")
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("path %q contains a NUL byte", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (empty, \".\" or \"..\" element, or trailing slash)", p)
	}
	return nil
}

// modeMask is the part of a Unix mode a grsync archive keeps.
const modeMask = 0o7777

// UnixMode returns the bits of m an archive keeps (permissions, setuid,
// setgid, sticky) as a Unix mode, the form the catalogue records.
func UnixMode(m fs.FileMode) uint32 { return uint32(unixMode(m)) }

// ModeFromUnix converts a Unix mode as UnixMode returns it to an
// fs.FileMode; bits outside 07777 are ignored.
func ModeFromUnix(v uint32) fs.FileMode { return fileMode(int64(v & modeMask)) }

// KeptMode returns the bits of m an archive keeps.
func KeptMode(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// unixMode converts the storable bits of m to a Unix mode.
func unixMode(m fs.FileMode) int64 {
	v := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// fileMode converts a Unix mode (within modeMask) to an fs.FileMode.
func fileMode(v int64) fs.FileMode {
	m := fs.FileMode(v) & fs.ModePerm
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// checkMode refuses modes of things other than regular files.
func checkMode(m fs.FileMode) error {
	if m&fs.ModeType != 0 {
		return fmt.Errorf("mode %v is not that of a regular file", m)
	}
	return nil
}
