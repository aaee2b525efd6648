package route

// Lenient decoders for ContainsJWT. They decode as much as they can and
// never fail: the search is for what a mangled token still holds, not for
// a canonical encoding (package jws reads tokens).

// decodeHex decodes pairs of hex digits (either case) until a pair is not
// hex; an odd last digit is dropped.
func decodeHex(s string) []byte {
	out := make([]byte, 0, len(s)/2)
	for i := 0; i+1 < len(s); i += 2 {
		hi, ok1 := hexValue(s[i])
		lo, ok2 := hexValue(s[i+1])
		if !ok1 || !ok2 {
			break
		}
		out = append(out, hi<<4|lo)
	}
	return out
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeBase32 decodes upper-case RFC 4648 base32 until a byte is outside
// its alphabet; leftover bits are dropped.
func decodeBase32(s string) []byte {
	out := make([]byte, 0, len(s)*5/8)
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		var v byte
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z':
			v = c - 'A'
		case '2' <= c && c <= '7':
			v = c - '2' + 26
		default:
			return out
		}
		acc, bits = acc<<5|uint32(v), bits+5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	return out
}
