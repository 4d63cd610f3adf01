package legacy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Token layout: version ‖ timestamp ‖ IV ‖ ciphertext ‖ HMAC-SHA256.
const (
	fernetVersion   = 0x80
	fernetTSLen     = 8
	fernetIVLen     = aes.BlockSize
	fernetHeaderLen = 1 + fernetTSLen + fernetIVLen // 25
	fernetMACLen    = sha256.Size                   // 32
	// fernetMinLen: header, one ciphertext block (PKCS7 always adds one), MAC.
	fernetMinLen = fernetHeaderLen + aes.BlockSize + fernetMACLen
)

// fernetChunk is how many ciphertext bytes the decrypting pass holds and
// checks at a time. The verifying pass keeps one 32-byte checkpoint per
// chunk: 128 bytes per MiB of token, 128 KiB per GiB.
const fernetChunk = 256 << 10

// verifyReadBuf is how many token bytes the verifying pass reads at a time.
const verifyReadBuf = 64 << 10

// OpenFernet verifies a Fernet token and returns a reader of its plaintext.
//
// open must yield the token's bytes afresh on every call (base64url text, as
// Python's Fernet wrote it, optionally followed by whitespace); it is called
// twice. The first pass streams the whole token through base64 decoding and
// HMAC-SHA256 and checks the version byte, the length, the MAC (in constant
// time) and the PKCS7 padding of the last block. Only if all of that holds
// is the token opened a second time and decrypted as a stream (AES-128-CBC).
// OpenFernet returns an error wrapping ErrInvalidToken if the first pass
// fails, so no plaintext of a forged or damaged token is ever returned.
//
// While verifying, the first pass records a checkpoint, the HMAC of the
// token up to the end of each 256 KiB of ciphertext. The second pass recomputes them and releases a chunk of
// plaintext only once its checkpoint matches, so if the bytes change between
// the passes, the reader fails with an error wrapping ErrTokenChanged before
// returning anything derived from changed bytes. Plaintext released before
// such an error is authentic, but the caller must still discard the output
// of a reader that did not end in io.EOF.
//
// Memory stays bounded whatever the token's size: about 400 KiB of buffers
// plus 32 bytes per 256 KiB of token.
//
// The token's timestamp is not checked: backups are old by nature, so a TTL
// would only make old archives unreadable, and the clock of the machine that
// made them is irrelevant to their authenticity.
//
// The reader returns io.EOF only after the whole token has been read again
// and found identical to the verified one. Close closes the second pass's
// source. OpenFernet itself reads the whole token before it returns; to
// cancel it, make the readers open returns fail (tie them to a context).
func OpenFernet(open func() (io.ReadCloser, error), k FernetKey) (io.ReadCloser, error) {
	return openFernet(open, k, fernetChunk)
}

// openFernet is OpenFernet with a chosen chunk size (a positive multiple of
// the AES block size), so tests can cross many chunk boundaries cheaply.
func openFernet(open func() (io.ReadCloser, error), k FernetKey, chunk int64) (io.ReadCloser, error) {
	if open == nil {
		return nil, errors.New("open fernet token: no source")
	}
	if chunk <= 0 || chunk%aes.BlockSize != 0 {
		return nil, fmt.Errorf("open fernet token: chunk size %d is not a positive multiple of %d", chunk, aes.BlockSize)
	}
	block, err := aes.NewCipher(k.Encryption[:])
	if err != nil {
		return nil, fmt.Errorf("open fernet token: %w", err)
	}
	r, err := open()
	if err != nil {
		return nil, fmt.Errorf("open fernet token for verification: %w", err)
	}
	info, err := verifyToken(r, k, block, chunk)
	cerr := r.Close()
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("close fernet token after verification: %w", cerr)
	}
	r, err = open()
	if err != nil {
		return nil, fmt.Errorf("open fernet token for decryption: %w", err)
	}
	return newFernetReader(r, k, block, info), nil
}

// tokenInfo is what the verifying pass learned about a token.
type tokenInfo struct {
	ctLen       int64      // ciphertext length, a positive multiple of 16
	chunk       int64      // ciphertext bytes per checkpoint
	checkpoints [][32]byte // HMAC of the token up to the end of each chunk
	tag         [32]byte   // the token's MAC
}

// chunks is how many chunks the ciphertext spans.
func (t *tokenInfo) chunks() int64 { return (t.ctLen + t.chunk - 1) / t.chunk }

// verifier accumulates the verifying pass's HMAC and checkpoints.
type verifier struct {
	mac         hash.Hash
	chunk       int64
	fed         int64 // token bytes written to mac
	checkpoints [][32]byte
}

// feed hashes p, which continues the token at offset v.fed, recording a
// checkpoint whenever a chunk boundary is reached.
func (v *verifier) feed(p []byte) {
	for len(p) > 0 {
		next := fernetHeaderLen + int64(len(v.checkpoints)+1)*v.chunk
		n := min(int64(len(p)), next-v.fed)
		v.mac.Write(p[:n])
		v.fed += n
		p = p[n:]
		if v.fed == next {
			v.checkpoint()
		}
	}
}

func (v *verifier) checkpoint() {
	var c [32]byte
	v.mac.Sum(c[:0])
	v.checkpoints = append(v.checkpoints, c)
}

// verifyToken is the first pass: it reads the whole token and checks it.
func verifyToken(src io.Reader, k FernetKey, block cipher.Block, chunk int64) (*tokenInfo, error) {
	const keepBack = 2*aes.BlockSize + fernetMACLen // last two blocks and the MAC
	dec := newTokenDecoder(src)
	v := &verifier{mac: hmac.New(sha256.New, k.Signing[:]), chunk: chunk}
	buf := make([]byte, keepBack+verifyReadBuf)
	carry, total := 0, int64(0)
	for {
		n, err := dec.Read(buf[carry:])
		if n > 0 {
			data := buf[:carry+n]
			start := total - int64(carry) // token offset of data[0]
			if start == 0 && data[0] != fernetVersion {
				return nil, fmt.Errorf("%w: version byte is %#x, want %#x", ErrInvalidToken, data[0], fernetVersion)
			}
			total += int64(n)
			if end := total - fernetMACLen; end > v.fed {
				v.feed(data[v.fed-start : end-start])
			}
			carry = int(min(int64(keepBack), total))
			copy(buf, data[len(data)-carry:])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}

	switch {
	case total == 0:
		return nil, fmt.Errorf("%w: empty", ErrInvalidToken)
	case total < fernetHeaderLen+fernetMACLen:
		return nil, fmt.Errorf("%w: too short (%d bytes, want at least %d)", ErrInvalidToken, total, fernetMinLen)
	case (total-fernetHeaderLen-fernetMACLen)%aes.BlockSize != 0:
		return nil, fmt.Errorf("%w: ciphertext length %d is not a multiple of %d",
			ErrInvalidToken, total-fernetHeaderLen-fernetMACLen, aes.BlockSize)
	case total < fernetMinLen:
		return nil, fmt.Errorf("%w: too short (no ciphertext block)", ErrInvalidToken)
	}
	info := &tokenInfo{ctLen: total - fernetHeaderLen - fernetMACLen, chunk: chunk}
	if n := len(v.checkpoints); n == 0 || fernetHeaderLen+int64(n)*chunk != v.fed {
		v.checkpoint()
	}
	tail := buf[:keepBack] // carry == keepBack since total >= fernetMinLen
	copy(info.tag[:], tail[2*aes.BlockSize:])
	if !hmac.Equal(v.checkpoints[len(v.checkpoints)-1][:], info.tag[:]) {
		return nil, fmt.Errorf("%w: HMAC mismatch (wrong key, or the archive is damaged or was tampered with)", ErrInvalidToken)
	}
	if int64(len(v.checkpoints)) != info.chunks() {
		return nil, fmt.Errorf("verify fernet token: %d checkpoints for %d chunks", len(v.checkpoints), info.chunks())
	}
	info.checkpoints = v.checkpoints

	// The MAC holds, so decrypting the last block is safe; checking its
	// padding now means a badly padded token fails before any plaintext.
	var last [aes.BlockSize]byte
	block.Decrypt(last[:], tail[aes.BlockSize:2*aes.BlockSize])
	subtle.XORBytes(last[:], last[:], tail[:aes.BlockSize])
	_, ok := unpad(last[:])
	clear(last[:])
	if !ok {
		return nil, fmt.Errorf("%w: invalid PKCS7 padding", ErrInvalidToken)
	}
	return info, nil
}

// unpad strips PKCS7 padding from b, whose length is a positive multiple of
// the block size.
func unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	p := int(b[len(b)-1])
	if p == 0 || p > aes.BlockSize {
		return nil, false
	}
	for _, c := range b[len(b)-p:] {
		if int(c) != p {
			return nil, false
		}
	}
	return b[:len(b)-p], true
}
