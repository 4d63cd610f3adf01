package engine

import (
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/format"
	"github.com/grsync/grsync/internal/legacy"
	"github.com/grsync/grsync/internal/treehash"
)

// contentReader returns the file content that archive id holds for version
// v, read (each time anew) with read. Every read of the archive's bytes is
// checked against the tree hash the catalogue recorded, so corruption is
// an error rather than a clean end of file; grsync archives are decrypted
// and authenticated by internal/format, the Python tools' by
// internal/legacy (recognised from the bytes for rows rebuilt from an
// inventory). Nothing is returned before the archive is known to be
// readable with the key. closeAll closes the readers, innermost last.
func contentReader(cfg *Config, id string, v catalog.Version, read func() (io.ReadCloser, error)) (content io.Reader, closeAll func(), err error) {
	open := func() (io.ReadCloser, error) {
		rc, err := read()
		if err != nil {
			return nil, fmt.Errorf("reading archive %s: %w", id, err)
		}
		if v.Checksum == "" {
			return rc, nil
		}
		return &treeVerifier{rc: rc, th: treehash.New(), want: v.Checksum, id: id}, nil
	}
	var closers []io.Closer
	closeAll = func() {
		// Readers first, then what they read from: a decoder's goroutines
		// must stop reading the archive before it is closed under them
		// (as when writing fails half-way, on a full disk).
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
	}
	fail := func(err error) (io.Reader, func(), error) {
		closeAll()
		return nil, func() {}, err
	}
	if v.Compression == LegacyAuto {
		c, err := sniffLegacy(open)
		if err != nil {
			return fail(fmt.Errorf("archive %s: %w", id, err))
		}
		v.Compression = c
	}
	if legacy.IsLegacyCompression(v.Compression) {
		var fk *legacy.FernetKey
		if cfg.Key != nil {
			k, err := legacy.FernetKeyFromRaw(cfg.Key.Raw())
			if err != nil {
				return fail(err)
			}
			fk = &k
		}
		rc, err := legacy.Decode(v.Compression, open, fk)
		if err != nil {
			return fail(fmt.Errorf("archive %s: %w", id, err))
		}
		closers = append(closers, rc)
		return rc, closeAll, nil
	}
	raw, err := open()
	if err != nil {
		return fail(err)
	}
	closers = append(closers, raw)
	// The recorded encoding says whether the archive is encrypted; a key
	// is only offered to encrypted ones (format refuses a plaintext
	// archive when given a key, so nobody can slip one in).
	var ident age.Identity // stays a nil interface when not encrypted
	if cfg.Key != nil && strings.HasSuffix(v.Compression, "+age") {
		ident = cfg.Key.AgeIdentity()
	}
	fr, err := format.Open(raw, ident)
	if err != nil {
		return fail(fmt.Errorf("archive %s: %w", id, err))
	}
	closers = append(closers, fr)
	return fr, closeAll, nil
}
