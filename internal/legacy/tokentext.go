package legacy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// tokenTextBuf is how much base64 text the token decoder reads at a time.
const tokenTextBuf = 64 << 10

// tokenEncoding is the alphabet of Fernet tokens. Strict mode rejects
// non-zero padding bits, so no two texts decode to the same token: a
// flipped bit in the text can never go unnoticed.
var tokenEncoding = base64.URLEncoding.Strict()

// tokenDecoder streams the bytes of a Fernet token out of its base64url
// text. It accepts exactly what Python's Fernet writes (padded base64url)
// followed by optional whitespace: once a space, tab, CR or LF has been seen,
// only more of them may follow. It never returns io.EOF unless the text was
// complete and well formed.
type tokenDecoder struct {
	src      io.Reader
	text     []byte // text[:keep] holds up to 3 characters not yet decoded
	keep     int
	dec      []byte // decoded bytes of the current block
	out      []byte // not yet returned part of dec
	offset   int64  // characters decoded so far, for error messages
	trailing bool   // whitespace seen: the token text is over
	padded   bool   // a block ended in '=': the token text is over
	empty    int    // consecutive reads that returned nothing
	err      error  // sticky; io.EOF once the text is fully decoded
}

// maxEmptyReads is how many (0, nil) reads in a row the decoder tolerates
// from its source before giving up, as bufio does.
const maxEmptyReads = 100

func newTokenDecoder(src io.Reader) *tokenDecoder {
	return &tokenDecoder{
		src:  src,
		text: make([]byte, tokenTextBuf),
		dec:  make([]byte, tokenEncoding.DecodedLen(tokenTextBuf)),
	}
}

// Read implements io.Reader.
func (d *tokenDecoder) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.fill()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// fill reads one more piece of text and decodes all complete quanta in it.
func (d *tokenDecoder) fill() {
	n, rerr := d.src.Read(d.text[d.keep:])
	if n < 0 || n > len(d.text)-d.keep {
		d.err = fmt.Errorf("%w: source returned an invalid count", ErrInvalidToken)
		return
	}
	if n == 0 && rerr == nil {
		d.empty++
		if d.empty >= maxEmptyReads {
			d.err = fmt.Errorf("read token: %w", io.ErrNoProgress)
		}
		return
	}
	d.empty = 0
	n, err := d.cutWhitespace(d.text[d.keep : d.keep+n])
	if err != nil {
		d.err = err
		return
	}
	usable := d.keep + n
	whole := usable / 4 * 4
	if whole > 0 {
		if d.padded {
			d.err = fmt.Errorf("%w: base64 text continues after padding at offset %d", ErrInvalidToken, d.offset)
			return
		}
		m, err := tokenEncoding.Decode(d.dec, d.text[:whole])
		if err != nil {
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				d.err = fmt.Errorf("%w: invalid base64 at offset %d", ErrInvalidToken, d.offset+int64(ce))
			} else {
				d.err = fmt.Errorf("%w: invalid base64: %v", ErrInvalidToken, err)
			}
			return
		}
		if m < whole/4*3 {
			d.padded = true
		}
		d.out = d.dec[:m]
		d.offset += int64(whole)
	}
	d.keep = copy(d.text, d.text[whole:usable])

	switch {
	case rerr == io.EOF:
		if d.keep != 0 {
			d.err = fmt.Errorf("%w: base64 text truncated (length not a multiple of 4)", ErrInvalidToken)
		} else {
			d.err = io.EOF
		}
	case rerr != nil:
		d.err = fmt.Errorf("read token: %w", rerr)
	}
}

// cutWhitespace returns how much of b, freshly read, is token text. It
// enforces that whitespace only trails the token text: once some has been
// seen, only more whitespace may follow.
func (d *tokenDecoder) cutWhitespace(b []byte) (int, error) {
	i := 0
	if !d.trailing {
		i = firstSpace(b)
		if i == len(b) {
			return i, nil
		}
		d.trailing = true
	}
	for j, c := range b[i:] {
		if !isTokenSpace(c) {
			return 0, fmt.Errorf("%w: data after whitespace at offset %d", ErrInvalidToken, d.offset+int64(d.keep+i+j))
		}
	}
	return i, nil
}

// firstSpace returns the index of the first whitespace byte in b, or
// len(b). It leans on bytes.IndexByte, which is vectorised: the token text
// is large and whitespace, if any, comes only at its very end.
func firstSpace(b []byte) int {
	end := len(b)
	for _, c := range []byte{'\n', '\r', ' ', '\t'} {
		if i := bytes.IndexByte(b[:end], c); i >= 0 {
			end = i
		}
	}
	return end
}

func isTokenSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}
