package legacy

import "errors"

var (
	// ErrInvalidToken: a Fernet token is malformed, truncated, was made with
	// another key, or was altered. Every error about the token's own bytes
	// wraps it.
	ErrInvalidToken = errors.New("invalid fernet token")

	// ErrTokenChanged: the archive's bytes differed between the verifying
	// pass and the decrypting pass of OpenFernet (the source is not stable,
	// or something rewrote it in between).
	ErrTokenChanged = errors.New("fernet token changed between verification and decryption")

	// ErrKeyRequired: an encrypted legacy archive was given no key.
	ErrKeyRequired = errors.New("legacy archive is encrypted: its fernet key is required")

	// ErrUnknownCompression: the compression column holds a value the Python
	// tools never wrote.
	ErrUnknownCompression = errors.New("unknown legacy compression")

	// ErrBadDescription: an archive description is not in the Python tools'
	// format.
	ErrBadDescription = errors.New("not a legacy archive description")

	// errReadAfterClose is returned by Read on a closed reader.
	errReadAfterClose = errors.New("read after close")
)
