package format

import (
	"archive/tar"
	"path"
	"strconv"
	"strings"
	"time"
)

// A member's tar header, built by hand for the common case: the bytes
// archive/tar writes for a PAX header with the member's comment record,
// its mtime record when the time has nanoseconds, and the ustar header
// after them. archive/tar spent ~4 µs a member on it (a map, sorting, a
// strings.Builder, formatters; BenchmarkMemberEncode without compression
// or encryption: 6.2-7.3 µs before, 2.1-2.6 µs after), 6% of the CPU of a
// first backup of 50,000 small files. Anything outside the case below (a name that is long,
// not ASCII or holds a NUL, a size or time that does not fit the ustar
// fields) goes to archive/tar, and FuzzPAXMemberHeader checks that both
// give the same bytes wherever the fast path answers.

// Offsets and lengths of the ustar header's fields.
const (
	tarNameLen  = 100
	tarModeOff  = 100
	tarUIDOff   = 108
	tarGIDOff   = 116
	tarSizeOff  = 124
	tarMTimeOff = 136
	tarSumOff   = 148
	tarTypeOff  = 156
	tarMagicOff = 257
	tarMajorOff = 329
	tarMinorOff = 337
	tarBlock    = 512
)

// appendPAXMemberHeader appends to dst the headers archive/tar's
// WriteHeader writes for a regular file named name (relative, clean) of
// size bytes, mode and mtime, in FormatPAX with the one PAX record
// comment; ok is false, and dst unchanged, when the fast path does not
// apply.
func appendPAXMemberHeader(dst []byte, name string, size, mode int64, mtime time.Time, comment string) (out []byte, ok bool) {
	secs, nsecs := mtime.Unix(), mtime.Nanosecond()
	if len(name) == 0 || len(name) > tarNameLen || !plainASCII(name) || strings.HasSuffix(name, "/") ||
		!octalFits(12, size) || !octalFits(8, mode) || !octalFits(12, secs) || mtime.IsZero() ||
		strings.IndexByte(comment, 0) >= 0 {
		return dst, false
	}
	// The records, sorted by key: "comment", then "mtime".
	var recs [160]byte
	data := appendPAXRecord(recs[:0], "comment", comment)
	if nsecs != 0 {
		var tb [32]byte
		t := strconv.AppendInt(tb[:0], secs, 10)
		dot := len(t)
		t = strconv.AppendInt(t, int64(nsecs)+1e9, 10) // "1" and nine digits
		t[dot] = '.'
		for t[len(t)-1] == '0' {
			t = t[:len(t)-1]
		}
		data = appendPAXRecord(data, "mtime", string(t))
	}
	// The PAX header entry, named as archive/tar names it.
	dir, file := path.Split(name)
	xname := path.Join(dir, "PaxHeaders.0", file)
	if len(xname) > tarNameLen {
		xname = xname[:tarNameLen]
	}
	xname = strings.TrimRight(xname, "/")

	start := len(dst)
	dst = append(dst, make([]byte, 2*tarBlock+len(data)+blockPad(len(data)))...)
	x := dst[start : start+tarBlock]
	copy(x, xname)
	putOctal(x[tarModeOff:tarModeOff+8], 0)
	putOctal(x[tarUIDOff:tarUIDOff+8], 0)
	putOctal(x[tarGIDOff:tarGIDOff+8], 0)
	putOctal(x[tarSizeOff:tarSizeOff+12], int64(len(data)))
	putOctal(x[tarMTimeOff:tarMTimeOff+12], 0)
	x[tarTypeOff] = tar.TypeXHeader
	putUSTAR(x)
	copy(dst[start+tarBlock:], data)

	h := dst[len(dst)-tarBlock:]
	copy(h, name)
	putOctal(h[tarModeOff:tarModeOff+8], mode)
	putOctal(h[tarUIDOff:tarUIDOff+8], 0)
	putOctal(h[tarGIDOff:tarGIDOff+8], 0)
	putOctal(h[tarSizeOff:tarSizeOff+12], size)
	putOctal(h[tarMTimeOff:tarMTimeOff+12], secs)
	h[tarTypeOff] = tar.TypeReg
	putOctal(h[tarMajorOff:tarMajorOff+8], 0)
	putOctal(h[tarMinorOff:tarMinorOff+8], 0)
	putUSTAR(h)
	return dst, true
}

// blockPad is the zeros that pad n bytes to a whole block.
func blockPad(n int) int { return (tarBlock - n%tarBlock) % tarBlock }

// appendPAXRecord appends the record "<len> k=v\n", its length counting
// its own digits (as archive/tar's formatPAXRecord counts them).
func appendPAXRecord(dst []byte, k, v string) []byte {
	base := len(k) + len(v) + 3 // ' ', '=' and '\n'
	n := base + decimalDigits(base)
	n = base + decimalDigits(n)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ' ')
	dst = append(dst, k...)
	dst = append(dst, '=')
	dst = append(dst, v...)
	return append(dst, '\n')
}

// decimalDigits is the number of decimal digits of n >= 0.
func decimalDigits(n int) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// octalFits says whether x fits a numeric field of n bytes: n-1 octal
// digits and a NUL.
func octalFits(n int, x int64) bool { return x >= 0 && x < 1<<(3*(n-1)) }

// putOctal writes x as zero-padded octal digits and a NUL into b.
func putOctal(b []byte, x int64) {
	for i := len(b) - 2; i >= 0; i-- {
		b[i] = byte('0' + x&7)
		x >>= 3
	}
	b[len(b)-1] = 0
}

// putUSTAR writes the ustar magic and version and then the checksum: the
// sum of the block's bytes with the checksum field counted as spaces,
// six octal digits, a NUL and a space.
func putUSTAR(b []byte) {
	copy(b[tarMagicOff:], "ustar\x0000")
	sum := int64(8 * ' ')
	for i, c := range b {
		if i < tarSumOff || i >= tarSumOff+8 {
			sum += int64(c)
		}
	}
	putOctal(b[tarSumOff:tarSumOff+7], sum)
	b[tarSumOff+7] = ' '
}

// plainASCII says whether s is ASCII without NUL.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] >= 0x80 {
			return false
		}
	}
	return true
}
