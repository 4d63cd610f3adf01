// Package legacy reads everything the Python glacier-rsync tools (and their
// -encrypted fork) left behind, so that their users keep access to old
// archives after switching to grsync.
//
// Three things are covered:
//
//   - Archive bodies, chosen by the catalogue's compression column: plain,
//     zstd, plain+zstd, encrypted (one Fernet token) and encrypted+zstd (a zstd
//     frame holding a Fernet token). See [Decode].
//   - Fernet tokens, verified and decrypted as streams in bounded memory, with
//     no plaintext released before the token's HMAC has been checked. See
//     [OpenFernet].
//   - The archive description the tools stored in the vault,
//     "grsync|<abs path>|<size>|<mtime>|<user desc>". See [ParseDescription].
//
// docs/LEGACY.md describes the formats and the design in prose.
package legacy
