package format

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// ErrStreamState: a StreamState, or a sealed one, cannot be used: it was
// sealed under another key, is damaged or truncated, is of an unknown
// version, or its header does not match its file key. The caller starts a
// new upload with fresh randomness.
var ErrStreamState = errors.New("unusable archive stream state")

// StreamState is what re-creates an archive's age layer byte for byte: with
// it, a Writer given the same content and FileInfo, in a program with the
// same WriterID, writes exactly the archive an earlier Writer wrote, so that
// an interrupted upload can be continued (docs/FORMAT.md section 2.6).
//
// Options.Continue MUST only be used to re-encode the same content with the
// same FileInfo and WriterID as the run that captured the state. Encrypting
// different plaintext with it reuses the age file key and payload nonce,
// hence ChaCha20-Poly1305 key and nonce pairs, for different data: that
// reveals the XOR of the plaintexts and lets anyone forge chunks. Checking
// this is the caller's job; the package cannot.
type StreamState struct {
	// Header is the age header and the 16-byte payload nonce, exactly as
	// written at the start of the archive.
	Header []byte
	// FileKey is the age file key. It is secret: it decrypts the archive.
	FileKey [16]byte
}

// Sizes from the age v1 specification (c2sp.org/age).
const (
	ageFileKeySize  = 16
	ageNonceSize    = 16
	ageChunkSize    = 64 << 10
	ageMACB64Len    = 43 // base64 (unpadded) of a 32-byte HMAC-SHA256
	ageFooterPrefix = "\n--- "
	// ageFooterLen is "\n--- " <MAC> "\n".
	ageFooterLen = len(ageFooterPrefix) + ageMACB64Len + 1
	// maxStreamHeader bounds StreamState.Header: an age header with one
	// recipient is about 200 bytes, a post-quantum one a few KiB.
	maxStreamHeader = 64 << 10
)

// clone returns a copy of st that shares no memory with it.
func (st StreamState) clone() StreamState {
	return StreamState{Header: bytes.Clone(st.Header), FileKey: st.FileKey}
}

// checkStreamState reports whether st.Header has the shape of an age v1
// header followed by a payload nonce, and whether its MAC verifies under
// st.FileKey. A state that passes re-creates a valid age file; a mismatched
// key or header is refused instead of producing an archive that no one can
// read.
func checkStreamState(st StreamState) error {
	h := st.Header
	switch {
	case len(h) > maxStreamHeader:
		return fmt.Errorf("%w: header of %d bytes is too long", ErrStreamState, len(h))
	case len(h) < len(ageMagic)+ageFooterLen-1+ageNonceSize || !bytes.HasPrefix(h, []byte(ageMagic)):
		return fmt.Errorf("%w: header is not an age v1 header", ErrStreamState)
	}
	hdr := h[:len(h)-ageNonceSize]
	footer := hdr[len(hdr)-ageFooterLen:]
	if !bytes.HasPrefix(footer, []byte(ageFooterPrefix)) || footer[len(footer)-1] != '\n' {
		return fmt.Errorf("%w: header does not end with an age MAC line and a nonce", ErrStreamState)
	}
	mac, err := base64.RawStdEncoding.Strict().DecodeString(string(footer[len(ageFooterPrefix) : len(footer)-1]))
	if err != nil || len(mac) != sha256.Size {
		return fmt.Errorf("%w: header MAC is not valid base64", ErrStreamState)
	}
	// The MAC covers the header up to and including "---" (age spec,
	// "Header MAC"), keyed with HKDF-SHA256(file key, salt "", "header").
	macKey := make([]byte, sha256.Size)
	if _, err := io.ReadFull(hkdf.New(sha256.New, st.FileKey[:], nil, []byte("header")), macKey); err != nil {
		return fmt.Errorf("%w: header MAC key: %w", ErrStreamState, err)
	}
	m := hmac.New(sha256.New, macKey)
	m.Write(hdr[:len(hdr)-ageFooterLen+len("\n---")])
	if !hmac.Equal(m.Sum(nil), mac) {
		return fmt.Errorf("%w: header MAC does not verify with the file key", ErrStreamState)
	}
	return nil
}

// captureRecipient wraps the caller's recipient to learn the file key age
// draws. age calls WrapWithLabels when a recipient has it, so this type has
// both methods and forwards to the same method of the wrapped recipient
// when it has one; labels of a recipient without them are nil, as age
// assumes.
type captureRecipient struct {
	r   age.Recipient
	key []byte // the file key of the last Wrap
}

func (c *captureRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, _, err := c.WrapWithLabels(fileKey)
	return s, err
}

func (c *captureRecipient) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	c.key = bytes.Clone(fileKey)
	if rl, ok := c.r.(age.RecipientWithLabels); ok {
		return rl.WrapWithLabels(fileKey)
	}
	s, err := c.r.Wrap(fileKey)
	return s, nil, err
}

// recorder passes writes through to w and keeps a copy while recording.
type recorder struct {
	w         io.Writer
	recording bool
	buf       []byte
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.w.Write(b)
	if r.recording {
		r.buf = append(r.buf, b[:n]...)
	}
	return n, err
}

// encryptCapture is age.Encrypt to recipient on dst that also returns the
// StreamState which re-creates the stream. The header and nonce are written
// to dst before it returns, as age.Encrypt does.
func encryptCapture(dst io.Writer, recipient age.Recipient) (io.WriteCloser, StreamState, error) {
	rec := &recorder{w: dst, recording: true}
	cr := &captureRecipient{r: recipient}
	aw, err := age.Encrypt(rec, cr)
	if err != nil {
		return nil, StreamState{}, err
	}
	// From here on, rec only passes the payload through; the pipeline's
	// goroutine that writes it starts after this.
	rec.recording = false
	st := StreamState{Header: rec.buf}
	if len(cr.key) != ageFileKeySize {
		return nil, StreamState{}, fmt.Errorf("capturing the stream state: age drew a file key of %d bytes", len(cr.key))
	}
	copy(st.FileKey[:], cr.key)
	if err := checkStreamState(st); err != nil {
		// age wrote something other than one header and a nonce before
		// returning: this age version cannot be continued.
		return nil, StreamState{}, fmt.Errorf("capturing the stream state: %w", err)
	}
	return aw, st, nil
}

// continueStream writes st.Header to dst and returns a writer that encrypts
// the payload as age v1 STREAM with st.FileKey and the nonce ending
// st.Header: the bytes age.Encrypt wrote in the run that captured st.
//
// This is the only part of the age format grsync implements itself, because
// age's API cannot take a file key and nonce from the caller; it follows
// the age specification and filippo.io/age/internal/stream exactly, and the
// tests compare its output with age's byte for byte.
func continueStream(dst io.Writer, st StreamState) (io.WriteCloser, error) {
	if err := checkStreamState(st); err != nil {
		return nil, err
	}
	w := newStreamWriter()
	if err := w.reset(dst, st.FileKey, st.Header[len(st.Header)-ageNonceSize:]); err != nil {
		return nil, err
	}
	if _, err := dst.Write(st.Header); err != nil {
		return nil, fmt.Errorf("write age header: %w", err)
	}
	return w, nil
}

// streamWriter encrypts age v1 STREAM: 64 KiB plaintext chunks sealed with
// ChaCha20-Poly1305 under the nonce (11-byte big-endian chunk counter ||
// last-chunk flag 0x00 or 0x01). A full chunk is sealed as not last only
// once more data follows; Close seals what is buffered as the last chunk,
// which is empty only when the whole payload is. reset starts another
// payload with the same buffer, so that a pack's members share it.
type streamWriter struct {
	aead    cipher.AEAD
	dst     io.Writer
	buf     []byte // plaintext of the current chunk; room for the tag
	counter uint64 // the chunk counter; 64 of age's 88 bits are plenty
	err     error  // sticky
}

func newStreamWriter() *streamWriter {
	return &streamWriter{buf: make([]byte, 0, ageChunkSize+chacha20poly1305.Overhead), err: errors.New("age stream is not started")}
}

// reset starts a new payload on dst, encrypted under the payload key
// HKDF-SHA256(ikm = fileKey, salt = nonce, info = "payload"), as age
// derives it. It writes nothing: the caller writes the header and nonce.
func (w *streamWriter) reset(dst io.Writer, fileKey [ageFileKeySize]byte, nonce []byte) error {
	aead, err := payloadCipher(fileKey[:], nonce)
	if err != nil {
		return err
	}
	w.aead, w.dst, w.buf, w.counter, w.err = aead, dst, w.buf[:0], 0, nil
	return nil
}

// payloadCipher is the cipher of an age payload: ChaCha20-Poly1305 under
// HKDF-SHA256(ikm = fileKey, salt = nonce, info = "payload").
func payloadCipher(fileKey, nonce []byte) (cipher.AEAD, error) {
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, fileKey, nonce, []byte("payload")), key); err != nil {
		return nil, fmt.Errorf("payload key: %w", err)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("payload cipher: %w", err)
	}
	return aead, nil
}

func (w *streamWriter) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := len(b)
	for len(b) > 0 {
		if len(w.buf) == ageChunkSize {
			// More data follows, so the full chunk is not the last.
			if err := w.flush(false); err != nil {
				return total - len(b), err
			}
		}
		n := copy(w.buf[len(w.buf):ageChunkSize], b)
		w.buf = w.buf[:len(w.buf)+n]
		b = b[n:]
	}
	return total, nil
}

// Close seals the last chunk. It does not close dst.
func (w *streamWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.flush(true); err != nil {
		return err
	}
	w.err = errors.New("age stream is closed")
	return nil
}

func (w *streamWriter) flush(last bool) error {
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[3:11], w.counter)
	if last {
		nonce[11] = 1
	}
	ct := w.aead.Seal(w.buf[:0], nonce[:], w.buf, nil)
	w.counter++
	w.buf = w.buf[:0]
	if _, err := w.dst.Write(ct); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Sealed stream states: version || nonce || XChaCha20-Poly1305(fileKey ||
// header), with the version bound as associated data. Pack states
// (pack.go) use the same construction with their own context.
const (
	sealVersion = 1
	sealContext = "grsync1 stream state"
	// sealOverhead is what sealBlob adds to the plaintext.
	sealOverhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
	// sealMinLen is the length of a sealed stream state with an empty header.
	sealMinLen = sealOverhead + ageFileKeySize
)

// sealBlob returns version || nonce || XChaCha20-Poly1305(key, nonce, pt,
// associated data = context || version), with the nonce read from rnd.
func sealBlob(pt []byte, context string, key [32]byte, rnd io.Reader) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	blob := make([]byte, 1+aead.NonceSize(), sealOverhead+len(pt))
	blob[0] = sealVersion
	if _, err := io.ReadFull(rnd, blob[1:]); err != nil {
		return nil, fmt.Errorf("random nonce: %w", err)
	}
	return aead.Seal(blob, blob[1:], pt, append([]byte(context), sealVersion)), nil
}

// openBlob reverses sealBlob for a plaintext of minPT to maxPT bytes. Its
// errors wrap ErrStreamState (an unknown version also ErrUnsupportedVersion).
func openBlob(blob []byte, context string, key [32]byte, minPT, maxPT int) ([]byte, error) {
	if len(blob) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrStreamState)
	}
	if blob[0] != sealVersion {
		return nil, fmt.Errorf("%w: %w %d", ErrStreamState, ErrUnsupportedVersion, blob[0])
	}
	if len(blob) < sealOverhead+minPT {
		return nil, fmt.Errorf("%w: truncated (%d bytes)", ErrStreamState, len(blob))
	}
	if len(blob) > sealOverhead+maxPT {
		return nil, fmt.Errorf("%w: too long (%d bytes)", ErrStreamState, len(blob))
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	nonce := blob[1 : 1+aead.NonceSize()]
	pt, err := aead.Open(nil, nonce, blob[1+aead.NonceSize():], append([]byte(context), blob[0]))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed under another key, or damaged", ErrStreamState)
	}
	return pt, nil
}

// SealStreamState encrypts st for storage in the local catalogue under key
// (the caller derives it from the user's key; keys.Key.ResumeKey), with
// XChaCha20-Poly1305 and a 24-byte nonce read from rnd. The blob is
//
//	0x01 || nonce || XChaCha20-Poly1305(key, nonce, FileKey || Header,
//	                                    associated data "grsync1 stream state" || 0x01)
//
// A st whose header does not verify with its file key is refused
// (ErrStreamState).
func SealStreamState(st StreamState, key [32]byte, rnd io.Reader) ([]byte, error) {
	if err := checkStreamState(st); err != nil {
		return nil, fmt.Errorf("seal stream state: %w", err)
	}
	pt := make([]byte, 0, ageFileKeySize+len(st.Header))
	pt = append(append(pt, st.FileKey[:]...), st.Header...)
	blob, err := sealBlob(pt, sealContext, key, rnd)
	if err != nil {
		return nil, fmt.Errorf("seal stream state: %w", err)
	}
	return blob, nil
}

// OpenStreamState reverses SealStreamState. A wrong key, a damaged or
// truncated blob, an unknown version or a state whose header does not
// verify with its file key are errors wrapping ErrStreamState (an unknown
// version also wraps ErrUnsupportedVersion).
func OpenStreamState(blob []byte, key [32]byte) (StreamState, error) {
	pt, err := openBlob(blob, sealContext, key, ageFileKeySize, ageFileKeySize+maxStreamHeader)
	if err != nil {
		return StreamState{}, fmt.Errorf("open stream state: %w", err)
	}
	var st StreamState
	copy(st.FileKey[:], pt[:ageFileKeySize])
	st.Header = pt[ageFileKeySize:]
	if err := checkStreamState(st); err != nil {
		return StreamState{}, fmt.Errorf("open stream state: %w", err)
	}
	return st, nil
}
