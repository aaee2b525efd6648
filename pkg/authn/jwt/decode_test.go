package jwt

import (
	"encoding/base64"
	"reflect"
	"testing"

	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/tokenfed/tokenfed/pkg/authn/jws"
)

// claimsPayloads are payloads for the differential test: real claims, and
// every kind of value the decoder reads in every type, spelling and null.
var claimsPayloads = []string{
	`{"iss":"https://kubernetes.default.svc","sub":"system:serviceaccount:ns:sa","aud":["https://kubernetes.default.svc"],"exp":1764480000,"iat":1764476400,"nbf":1764476400,"jti":"2d4f7c1e-8f7a-4b8e-9d3c-1a2b3c4d5e6f","kubernetes.io":{"namespace":"ns","node":{"name":"n1","uid":"nu"},"pod":{"name":"web-0","uid":"pu"},"serviceaccount":{"name":"sa","uid":"su"},"warnafter":1764480000}}`,
	`{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"ns","kubernetes.io/serviceaccount/secret.name":"s","kubernetes.io/serviceaccount/service-account.name":"sa","kubernetes.io/serviceaccount/service-account.uid":"u","sub":"system:serviceaccount:ns:sa"}`,
	`{}`,
	`{"iss":null,"sub":null,"jti":null,"kubernetes.io":null}`,
	`{"aud":null}`, `{"aud":"one"}`, `{"aud":[]}`, `{"aud":["a",null]}`, `{"aud":["a",1]}`, `{"aud":1}`, `{"aud":{"a":1}}`, `{"aud":true}`,
	`{"aud":["\u0061","é","\ud800"]}`,
	`{"exp":null}`, `{"exp":1.5e9}`, `{"exp":-1}`, `{"exp":1e300}`, `{"exp":4611686018427387904}`, `{"exp":-4611686018427387904}`, `{"exp":"1"}`, `{"exp":true}`, `{"exp":[1]}`, `{"exp":{"a":1}}`, `{"exp":0.9999}`, `{"exp":-0}`, `{"exp":1E2}`,
	`{"nbf":"x"}`, `{"iat":null}`, `{"iat":12345678901234567890}`,
	`{"sub":1}`, `{"sub":true}`, `{"sub":[]}`, `{"sub":{}}`, `{"sub":"a\"b"}`, `{"sub":"\u00e9\n"}`, `{"sub":"tab\there"}`, `{"sub":"` + "\xff\xfe" + `"}`, `{"sub":"\ud83d\ude00"}`, `{"sub":"\udc00x"}`,
	`{"\u0073ub":"escaped name"}`, `{"su\u0062":"x","jti":"y"}`,
	`{"kubernetes.io":1}`, `{"kubernetes.io":"x"}`, `{"kubernetes.io":[]}`, `{"kubernetes.io":{}}`, `{"kubernetes.io":true}`,
	`{"kubernetes.io":{"namespace":1}}`, `{"kubernetes.io":{"namespace":null}}`, `{"kubernetes.io":{"namespace":"a","namespace":"b"}}`,
	`{"kubernetes.io":{"namespace":"a","Namespace":"b"}}`, `{"kubernetes.io":{"n\u0061mespace":"a"}}`,
	`{"kubernetes.io":{"serviceaccount":null}}`, `{"kubernetes.io":{"serviceaccount":"x"}}`, `{"kubernetes.io":{"serviceaccount":[]}}`,
	`{"kubernetes.io":{"serviceaccount":{"name":"a","name":"b"}}}`, `{"kubernetes.io":{"serviceaccount":{"name":null,"uid":1}}}`,
	`{"kubernetes.io":{"serviceaccount":{"name":"a","NAME":"b","uid":"u"}}}`,
	`{"kubernetes.io":{"pod":null,"secret":null,"node":null}}`, `{"kubernetes.io":{"pod":{}}}`, `{"kubernetes.io":{"pod":"x"}}`, `{"kubernetes.io":{"pod":1}}`,
	`{"kubernetes.io":{"secret":{"name":"s","uid":"u"},"node":{"name":"n"}}}`,
	`{"kubernetes.io":{"validatingwebhookconfiguration":{"name":"v"}}}`, `{"kubernetes.io":{"mutatingwebhookconfiguration":null}}`,
	`{"kubernetes.io":{"attestations":{"a":["x"]}}}`, `{"kubernetes.io":{"attestations":null}}`, `{"kubernetes.io":{"attestations":{"a":["x"],"a":["y"]}}}`,
	`{"kubernetes.io":{"attestations":{"a":"x"}}}`, `{"kubernetes.io":{"attestations":[]}}`, `{"kubernetes.io":{"attestations":{"a":[null]}}}`,
	`{"kubernetes.io":{"warnafter":null}}`, `{"kubernetes.io":{"warnafter":"1"}}`, `{"kubernetes.io":{"warnafter":1.5}}`,
	`{"kubernetes.io":{"extra":{"a":1,"a":2}}}`, `{"unknown":{"a":1,"a":2}}`, `{"unknown":[{"a":1,"a":2}]}`,
	`{"kubernetes.io/serviceaccount/namespace":1}`, `{"kubernetes.io/serviceaccount/secret.name":null}`,
	` { "iss" : "a" , "sub" : "b" } `, "{\n\t\"iss\":\"a\"\r\n}",
}

// TestClaimsDecoderAgreesWithGoJose is the differential test of the
// low-allocation claims decoder: for every payload the strict parse
// accepts, it must refuse what go-jose's decoder (which tokenfed used
// before, and kube-apiserver uses) refuses, and decode the rest to equal
// claims.
func TestClaimsDecoderAgreesWithGoJose(t *testing.T) {
	for _, payload := range claimsPayloads {
		t.Run(payload, func(t *testing.T) {
			if !checkClaimsDecoder(t, payload) {
				t.Fatalf("payload %q: refused by the parse, so not compared", payload)
			}
		})
	}
}

func FuzzClaimsDecoder(f *testing.F) {
	for _, payload := range claimsPayloads {
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, payload string) { checkClaimsDecoder(t, payload) })
}

// checkClaimsDecoder compares the decoders on payload and reports whether
// it could: a payload the strict parse refuses reaches no decoder.
func checkClaimsDecoder(t *testing.T, payload string) bool {
	enc := base64.RawURLEncoding.EncodeToString
	tok, err := jws.Parse(enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".c2ln")
	if err != nil {
		return false
	}
	got, gotErr := decodeSAClaims(&tok.Claims)
	want := &saClaims{}
	wantErr := josejson.Unmarshal([]byte(payload), want)
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("payload %q: got error %v, go-jose error %v", payload, gotErr, wantErr)
	case gotErr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("payload %q:\ngot     %+v\ngo-jose %+v", payload, got, want)
	}
	return true
}
