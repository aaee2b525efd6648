package route

import (
	"encoding/base64"

	"github.com/tokenfed/tokenfed/pkg/testing/jwstest"
)

var enc = base64.RawURLEncoding.EncodeToString

// tok, hdr, pl and sig are the parser tests' shared shapes (jwstest).
var tok = jwstest.Compact

const hdr, pl, sig = jwstest.Header, jwstest.Payload, jwstest.Signature
