package legacy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestTokenDecoder(t *testing.T) {
	data := plaintextOf(200000) // several text buffers' worth
	text := base64.URLEncoding.EncodeToString(data)
	for name, src := range map[string]io.Reader{
		"whole":    bytes.NewReader([]byte(text)),
		"one byte": iotest.OneByteReader(bytes.NewReader([]byte(text + "\n"))),
		"half":     iotest.HalfReader(bytes.NewReader([]byte(text + " \r\n"))),
	} {
		got, err := io.ReadAll(newTokenDecoder(src))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
	}
}

func TestTokenDecoderRejects(t *testing.T) {
	for name, text := range map[string]string{
		"truncated quantum":     "QUFB" + "QU",
		"padding mid-text":      "QQ==QUFB",
		"padding then quantum":  "QQ==" + "\n" + "QUFB",
		"standard alphabet":     "QUF+",
		"non-zero padding bits": "QR==", // "QQ==" with a low bit set
		"inner newline":         "QUFB\nQUFB",
		"inner space":           "QU FB",
		"tab then data":         "QUFB\tx",
		"NUL":                   "QUFB\x00",
	} {
		_, err := io.ReadAll(newTokenDecoder(bytes.NewReader([]byte(text))))
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s (%q): %v, want ErrInvalidToken", name, text, err)
		}
	}
}

// stuckReader returns (0, nil) forever.
type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestTokenDecoderNoProgress(t *testing.T) {
	_, err := io.ReadAll(newTokenDecoder(stuckReader{}))
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("source that never returns data: %v, want io.ErrNoProgress", err)
	}
}
