package format

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"errors"
	"io"
	"sync"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// The members of a pack all begin with the pack's age header; only their
// nonces and payloads differ. A restore of many small members ran
// age.Decrypt for each, which parses and checks that header again and
// allocates two 64 KiB buffers: 75% of what a restore of 5,000 small
// files allocated, and collections of ~12% of its CPU. So a pack's
// identity (NewPackIdentity) remembers the header bytes age has verified
// (their MAC, with the file key the identity unwrapped), and a member that
// starts with those very bytes is decrypted by a pooled streamReader: age's
// STREAM, with its checks (every chunk's tag, the last chunk's flag,
// nothing after it). FuzzMemberDecrypt holds it to age.Decrypt's results.

// keyCapture passes Unwrap to id and keeps the file key it gives.
type keyCapture struct {
	id  age.Identity
	key []byte
}

func (k *keyCapture) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := k.id.Unwrap(stanzas)
	if err == nil {
		k.key = bytes.Clone(key)
	}
	return key, err
}

// peekAgeHeader returns a copy of the age header at the start of br (up to
// and including its footer line), or nil when br does not start with one
// that fits in its buffer.
func peekAgeHeader(br *bufio.Reader) []byte {
	b, _ := br.Peek(min(br.Size(), maxStreamHeader))
	i := bytes.Index(b, []byte(ageFooterPrefix))
	if i < 0 || i+ageFooterLen > len(b) || b[i+ageFooterLen-1] != '\n' {
		return nil
	}
	return bytes.Clone(b[:i+ageFooterLen])
}

// learn remembers header, which age verified with fileKey.
func (p *packIdentity) learn(header, fileKey []byte) {
	if len(fileKey) != ageFileKeySize {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.header, p.fileKey = header, fileKey
}

// openKnown starts decrypting the member at br when it starts with the
// header remembered, and its nonce; ok is false (and br untouched)
// otherwise.
func (p *packIdentity) openKnown(br *bufio.Reader) (*streamReader, bool) {
	p.mu.Lock()
	header, key := p.header, p.fileKey
	p.mu.Unlock()
	if header == nil {
		return nil, false
	}
	b, _ := br.Peek(len(header) + ageNonceSize)
	if len(b) < len(header)+ageNonceSize || !bytes.Equal(b[:len(header)], header) {
		return nil, false
	}
	sr := streamReaders.Get().(*streamReader)
	if err := sr.reset(br, key, b[len(header):]); err != nil {
		streamReaders.Put(sr)
		return nil, false
	}
	if _, err := br.Discard(len(header) + ageNonceSize); err != nil {
		streamReaders.Put(sr)
		return nil, false
	}
	return sr, true
}

// streamReaders recycles stream readers (128 KiB of buffers each).
var streamReaders = sync.Pool{New: func() any {
	return &streamReader{in: make([]byte, ageChunkSize+chacha20poly1305.Overhead), out: make([]byte, 0, ageChunkSize)}
}}

// streamReader decrypts an age payload (c2sp.org/age, "Payload"): chunks
// of 64 KiB and a tag, the nonce an 11-byte big-endian counter and a byte
// that is 1 for the last chunk. Only the first chunk may be empty; a full
// last chunk is told by its tag; nothing may follow the last chunk.
type streamReader struct {
	aead   cipher.AEAD
	src    io.Reader
	in     []byte // a chunk's ciphertext
	out    []byte // its plaintext
	unread []byte // what Read has not given yet, in out
	nonce  [chacha20poly1305.NonceSize]byte
	err    error
}

// reset starts reading the payload in src, under the payload key age
// derives from fileKey and the 16-byte nonce.
func (r *streamReader) reset(src io.Reader, fileKey, nonce []byte) error {
	aead, err := payloadCipher(fileKey, nonce)
	if err != nil {
		return err
	}
	r.aead, r.src, r.unread, r.nonce, r.err = aead, src, nil, [chacha20poly1305.NonceSize]byte{}, nil
	return nil
}

var (
	errStreamTruncated = errors.New("the encrypted payload is truncated")
	errStreamEmptyLast = errors.New("the encrypted payload ends with an empty chunk")
	errStreamAuth      = errors.New("failed to decrypt and authenticate a payload chunk: damaged or tampered with")
	errStreamTrailing  = errors.New("data after the end of the encrypted payload")
)

func (r *streamReader) Read(p []byte) (int, error) {
	if len(r.unread) > 0 {
		n := copy(p, r.unread)
		r.unread = r.unread[n:]
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	last, err := r.chunk()
	if err != nil {
		r.err = err
		return 0, err
	}
	n := copy(p, r.unread)
	r.unread = r.unread[n:]
	if last {
		var one [1]byte
		switch _, err := io.ReadFull(r.src, one[:]); {
		case err == nil:
			r.err = errStreamTrailing
		case err == io.EOF:
			r.err = io.EOF
		default:
			r.err = err
		}
	}
	return n, nil
}

// chunk decrypts the next chunk into r.unread and says whether it is the
// last.
func (r *streamReader) chunk() (last bool, err error) {
	n, err := io.ReadFull(r.src, r.in)
	in := r.in[:n]
	switch {
	case err == io.EOF:
		return false, errStreamTruncated
	case err == io.ErrUnexpectedEOF:
		if r.nonce != ([chacha20poly1305.NonceSize]byte{}) && n == chacha20poly1305.Overhead {
			return false, errStreamEmptyLast
		}
		last = true
		r.nonce[len(r.nonce)-1] = 1
	case err != nil:
		return false, err
	}
	out, err := r.aead.Open(r.out[:0], r.nonce[:], in, nil)
	if err != nil && !last {
		// A full chunk can be the last one too.
		last = true
		r.nonce[len(r.nonce)-1] = 1
		out, err = r.aead.Open(r.out[:0], r.nonce[:], in, nil)
	}
	if err != nil {
		return false, errStreamAuth
	}
	for i := len(r.nonce) - 2; i >= 0; i-- {
		r.nonce[i]++
		if r.nonce[i] != 0 {
			break
		}
	}
	r.unread = out
	return last, nil
}
