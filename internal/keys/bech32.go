package keys

import (
	"errors"
	"strings"
)

// Bech32 (BIP 173) encoding, hand-written because age keeps its bech32
// package internal and has no constructor from a raw scalar. Only encoding is
// needed: age.ParseX25519Identity decodes and verifies the checksum, and the
// tests check the output against age and age-keygen.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Polymod is the BCH checksum of BIP 173 over 5-bit values.
func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

// bech32Encode encodes data under the lower-case human-readable part hrp.
func bech32Encode(hrp string, data []byte) (string, error) {
	if hrp == "" || strings.ToLower(hrp) != hrp {
		return "", errors.New("bech32: human-readable part must be non-empty lower case")
	}
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", errors.New("bech32: invalid character in human-readable part")
		}
	}

	// Regroup 8-bit bytes into 5-bit values, zero-padding the last one.
	values := make([]byte, 0, len(data)*8/5+1)
	var acc uint32
	bits := 0
	for _, b := range data {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			values = append(values, byte(acc>>bits)&31)
		}
	}
	if bits > 0 {
		values = append(values, byte(acc<<(5-bits))&31)
	}

	// The checksum covers the expanded hrp, the data and six zero values.
	check := make([]byte, 0, 2*len(hrp)+1+len(values)+6)
	for i := 0; i < len(hrp); i++ {
		check = append(check, hrp[i]>>5)
	}
	check = append(check, 0)
	for i := 0; i < len(hrp); i++ {
		check = append(check, hrp[i]&31)
	}
	check = append(check, values...)
	check = append(check, 0, 0, 0, 0, 0, 0)
	pm := bech32Polymod(check) ^ 1

	var sb strings.Builder
	sb.Grow(len(hrp) + 1 + len(values) + 6)
	sb.WriteString(hrp)
	sb.WriteByte('1')
	for _, v := range values {
		sb.WriteByte(bech32Charset[v])
	}
	for i := range 6 {
		sb.WriteByte(bech32Charset[(pm>>(5*(5-i)))&31])
	}
	return sb.String(), nil
}
