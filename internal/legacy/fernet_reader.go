package legacy

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// fernetReader is the second, decrypting pass over a verified token.
type fernetReader struct {
	src   io.ReadCloser
	dec   *tokenDecoder
	info  *tokenInfo
	block cipher.Block
	mac   hash.Hash
	cbc   cipher.BlockMode
	buf   []byte // one chunk of token bytes, decrypted in place
	sum   [32]byte
	out   []byte // plaintext not yet returned
	next  int64  // index of the next chunk to load
	err   error  // sticky; io.EOF once everything is verified and returned
	done  bool   // closed
}

func newFernetReader(src io.ReadCloser, k FernetKey, block cipher.Block, info *tokenInfo) *fernetReader {
	return &fernetReader{
		src:   src,
		dec:   newTokenDecoder(src),
		info:  info,
		block: block,
		mac:   hmac.New(sha256.New, k.Signing[:]),
		buf:   make([]byte, fernetHeaderLen+min(info.chunk, info.ctLen)),
	}
}

// Read implements io.Reader.
func (r *fernetReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == r.info.chunks() {
			r.err = io.EOF
			continue
		}
		if err := r.load(); err != nil {
			r.err = err
			r.out = nil
			clear(r.buf)
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// load reads the next chunk, checks it against the verifying pass's
// checkpoint, and only then decrypts it into r.out. The last chunk also
// checks the MAC and the end of the text before anything of it is released.
func (r *fernetReader) load() error {
	start := r.next * r.info.chunk
	end := min(start+r.info.chunk, r.info.ctLen)
	hdr := int64(0)
	if r.next == 0 {
		hdr = fernetHeaderLen
	}
	b := r.buf[:hdr+end-start]
	if _, err := io.ReadFull(r.dec, b); err != nil {
		return r.readErr(err)
	}
	r.mac.Write(b)
	if !hmac.Equal(r.mac.Sum(r.sum[:0]), r.info.checkpoints[r.next][:]) {
		return fmt.Errorf("%w: chunk %d differs", ErrTokenChanged, r.next)
	}
	if r.next == 0 {
		r.cbc = cipher.NewCBCDecrypter(r.block, b[1+fernetTSLen:fernetHeaderLen])
	}
	last := r.next == r.info.chunks()-1
	if last {
		if err := r.checkEnd(); err != nil {
			return err
		}
	}
	ct := b[hdr:]
	r.cbc.CryptBlocks(ct, ct)
	if last {
		var ok bool
		if ct, ok = unpad(ct); !ok {
			return fmt.Errorf("%w: invalid PKCS7 padding", ErrInvalidToken)
		}
	}
	r.out = ct
	r.next++
	return nil
}

// checkEnd reads the MAC after the last chunk and makes sure the text ends
// there, as it did in the verifying pass.
func (r *fernetReader) checkEnd() error {
	var tag [fernetMACLen]byte
	if _, err := io.ReadFull(r.dec, tag[:]); err != nil {
		return r.readErr(err)
	}
	if !hmac.Equal(tag[:], r.info.tag[:]) {
		return fmt.Errorf("%w: MAC differs", ErrTokenChanged)
	}
	var one [1]byte
	n, err := r.dec.Read(one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: token is longer than when verified", ErrTokenChanged)
	case err == io.EOF:
		return nil
	case err != nil:
		return fmt.Errorf("%w: %w", ErrTokenChanged, err)
	}
	return fmt.Errorf("%w: token text did not end after its MAC", ErrTokenChanged)
}

func (r *fernetReader) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF { // from io.ReadFull itself
		return fmt.Errorf("%w: token is shorter than when verified", ErrTokenChanged)
	}
	if errors.Is(err, ErrInvalidToken) {
		return fmt.Errorf("%w: %w", ErrTokenChanged, err)
	}
	return err
}

// Close closes the token's source. Reads after Close fail.
func (r *fernetReader) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	if r.err == nil || r.err == io.EOF {
		r.err = fmt.Errorf("fernet reader: %w", errReadAfterClose)
	}
	r.out = nil
	clear(r.buf)
	if err := r.src.Close(); err != nil {
		return fmt.Errorf("close fernet token: %w", err)
	}
	return nil
}
