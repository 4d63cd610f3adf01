package engine

import (
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// fernetPrefix is how every Fernet token starts: version byte 0x80 and the
// high bytes of a 64-bit timestamp, in url-safe base64.
var fernetPrefix = []byte("gAAAAA")

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// sniffLegacy recognises which of the Python tools' forms an archive has
// when the catalogue does not say (a catalogue rebuilt from an inventory):
// a zstd frame or not, around a Fernet token or not. A plain file that
// happens to start like a Fernet token is told apart later, when the token
// fails to verify (see docs/LEGACY.md).
func sniffLegacy(open func() (io.ReadCloser, error)) (string, error) {
	rc, err := open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(rc, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("reading archive: %w", err)
	}
	head = head[:n]
	if !bytes.Equal(head, zstdMagic) {
		rest := make([]byte, len(fernetPrefix)-n)
		m, _ := io.ReadFull(rc, rest)
		if bytes.HasPrefix(append(head, rest[:m]...), fernetPrefix) {
			return "encrypted", nil
		}
		return "plain", nil
	}
	zr, err := zstd.NewReader(io.MultiReader(bytes.NewReader(head), rc), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return "", fmt.Errorf("reading archive: %w", err)
	}
	defer zr.Close()
	inner := make([]byte, len(fernetPrefix))
	m, _ := io.ReadFull(zr, inner)
	if bytes.Equal(inner[:m], fernetPrefix) {
		return "encrypted+zstd", nil
	}
	return "zstd", nil
}
