package format

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// The parts of WriterID this package decides. Each MUST change whenever what
// it names changes the bytes a Writer produces for the same input.
const (
	// writerIDVersion is the version of the WriterID string itself.
	writerIDVersion = "grsync-writer/1"
	// tarLayout names the tar header NewWriter builds: its fields and pax
	// records (docs/FORMAT.md section 2.1).
	tarLayout = "pax-v1"
	// zstdEncoderOptions names the options of getEncoder other than the
	// window size; WriterID adds that and the size of the writes that feed
	// the encoder (whole pipeline chunks, then Close).
	zstdEncoderOptions = "fastest,crc,zero-frames,concurrency=1"
	// ageStream names the age layer: one header, then age v1 STREAM, as
	// both age.Encrypt and continueStream write it.
	ageStream = "age-v1-stream"
	// zstdModule is the module path of the zstd encoder.
	zstdModule = "github.com/klauspost/compress"
)

// WriterID returns a string that names everything that decides the encoded
// bytes of an archive for a given content, FileInfo and StreamState: the Go
// release (its archive/tar writes the tar headers), the tar header layout,
// the zstd library's version and encoder options, and the age stream. An
// interrupted upload may be continued with Options.Continue only when the
// WriterID recorded by the run that started it equals the current one.
//
// The zstd version comes from the binary's build information; when that is
// not available the ID says "unknown" in its place, and is still the same
// on every call.
func WriterID() string {
	return fmt.Sprintf("%s go=%s tar=%s zstd=%s(%s,window=%d,writes=%d) age=%s",
		writerIDVersion, runtime.Version(), tarLayout, moduleVersion(zstdModule),
		zstdEncoderOptions, zstdWindow, chunkSize, ageStream)
}

// packLayout names the layout of a pack as PackWriter writes it: the tar
// headers of its members (pax comment binding, chunk and index entries),
// zstd frames with their content size, the nonce derivation, the index
// document and the trailer (docs/FORMAT.md section 8).
const packLayout = "pack-v2"

// PackWriterID names everything that decides the bytes of a pack for given
// members and PackState, as WriterID does for archives: the Go release, the
// pack layout, the zstd library's version and encoder options, and the age
// stream, and the members whose literals are stored raw (rawLiterals). An interrupted pack upload may be continued with
// PackOptions.Continue only when the id recorded by the run that started it
// equals the current one. How the caller's reads are sized does not matter:
// the encoder cuts blocks by itself.
func PackWriterID() string {
	return fmt.Sprintf("grsync-pack-writer/1 go=%s layout=%s zstd=%s(%s,window=%d,content-size,raw-literals-if-uniform,no-crc-if-encrypted) age=%s",
		runtime.Version(), packLayout, moduleVersion(zstdModule), zstdEncoderOptions, memberWindow, ageStream)
}

// moduleVersion returns "path@version" of the module the binary uses for
// path, following a replace directive, or "unknown" when the build
// information does not say: test binaries, for one, list no dependencies.
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return moduleVersionIn(bi, path)
}

func moduleVersionIn(bi *debug.BuildInfo, path string) string {
	for _, m := range bi.Deps {
		if m.Path != path {
			continue
		}
		if r := m.Replace; r != nil {
			m = r
		}
		if m.Version == "" || m.Version == "(devel)" {
			// A local directory: its content has no version.
			return "unknown"
		}
		return m.Path + "@" + m.Version
	}
	return "unknown"
}
