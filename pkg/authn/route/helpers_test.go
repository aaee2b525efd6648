package route

import "encoding/base64"

var enc = base64.RawURLEncoding.EncodeToString

// tok joins the encoded header and payload with sig, which is used verbatim.
func tok(header, payload, sig string) string {
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

const (
	hdr = `{"alg":"RS256","kid":"k1","typ":"JWT"}`
	pl  = `{"iss":"https://a.example","sub":"x"}`
)

// sig is a signature segment using both URL-alphabet characters.
var sig = enc([]byte{0xfb, 0xff, 0xfe, 0x01})
