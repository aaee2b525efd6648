package upstream

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// A service-account token as kube-apiserver mints it: its claims name the
// user, pod and credential that an honest answer repeats.
var (
	saHeader  = b64url(`{"alg":"RS256","kid":"key-1"}`)
	saPayload = b64url(`{"aud":["https://issuer.test"],"exp":1900000000,"iat":1800000000,"iss":"https://issuer.test","jti":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",` +
		`"kubernetes.io":{"namespace":"payments","node":{"name":"node-a.example.internal","uid":"3b1c5a2e-7d4f-4e8a-9c6b-1f2e3d4c5b6a"},` +
		`"pod":{"name":"web-7c9d8f6b5-x2k4q","uid":"8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"},"serviceaccount":{"name":"payments-api","uid":"c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f"}},` +
		`"nbf":1800000000,"sub":"system:serviceaccount:payments:payments-api"}`)
	saSignature = rawSignature()
	saToken     = saHeader + "." + saPayload + "." + base64.RawURLEncoding.EncodeToString(saSignature)

	// opaqueSecret is the secret part of an OpenShift-style opaque token.
	opaqueSecret = sha256.Sum256([]byte("opaque"))
	opaqueToken  = "sha256~" + base64.RawURLEncoding.EncodeToString(opaqueSecret[:])
)

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// rawSignature is 256 bytes that stand for an RS256 signature, with bytes
// that base64url spells '-' and '_'.
func rawSignature() []byte {
	var sig []byte
	for i := byte(0); len(sig) < 256; i++ {
		h := sha256.Sum256([]byte{i})
		sig = append(sig, h[:]...)
	}
	return append(sig[:250], 0xfb, 0xff, 0xbe, 0xfb, 0xef, 0xff)
}

// honestSA is kube-apiserver's answer for saToken: every value is in its
// claims.
var honestSA = authenticationv1.UserInfo{
	Username: "system:serviceaccount:payments:payments-api",
	UID:      "c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f",
	Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:payments", "system:authenticated"},
	Extra: map[string]authenticationv1.ExtraValue{
		"authentication.kubernetes.io/credential-id": {"JTI=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		"authentication.kubernetes.io/node-name":     {"node-a.example.internal"},
		"authentication.kubernetes.io/node-uid":      {"3b1c5a2e-7d4f-4e8a-9c6b-1f2e3d4c5b6a"},
		"authentication.kubernetes.io/pod-name":      {"web-7c9d8f6b5-x2k4q"},
		"authentication.kubernetes.io/pod-uid":       {"8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"},
	},
}

func std(s string) string    { return base64.StdEncoding.EncodeToString([]byte(s)) }
func rawStd(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
func url(s string) string    { return base64.URLEncoding.EncodeToString([]byte(s)) }
func hexOf(s string) string  { return hex.EncodeToString([]byte(s)) }

var echoCases = []struct {
	name  string
	token string
	// value goes into each user field and the audiences in turn.
	value string
	want  bool
}{
	{name: "the token", token: saToken, value: saToken, want: true},
	{name: "16 bytes of its signature", token: saToken, value: "sig=" + saToken[len(saToken)-40:len(saToken)-24], want: true},
	{name: "15 bytes of its signature", token: saToken, value: "sig=" + saToken[len(saToken)-40:len(saToken)-25]},
	{name: "base64, padded", token: saToken, value: std(saToken), want: true},
	{name: "base64, unpadded", token: saToken, value: rawStd(saToken), want: true},
	{name: "base64url, padded", token: saToken, value: url(saToken), want: true},
	{name: "base64url, unpadded", token: saToken, value: b64url(saToken), want: true},
	{name: "base64 after a one-byte prefix", token: saToken, value: std("x" + saToken), want: true},
	{name: "base64 after a two-byte prefix", token: saToken, value: std("xy" + saToken), want: true},
	{name: "base64 of a bearer header", token: saToken, value: "Basic " + std("Bearer "+saToken), want: true},
	{name: "hex", token: saToken, value: hexOf(saToken), want: true},
	{name: "hex, upper case", token: saToken, value: strings.ToUpper(hexOf(saToken)), want: true},
	{name: "hex after a one-byte prefix", token: saToken, value: "0x" + hexOf("x"+saToken), want: true},
	{name: "its signature in the standard alphabet", token: saToken, value: base64.StdEncoding.EncodeToString(saSignature), want: true},
	{name: "its signature decoded, in hex", token: saToken, value: hex.EncodeToString(saSignature), want: true},
	{name: "its signature decoded, in base64 after a prefix", token: saToken, value: base64.StdEncoding.EncodeToString(append([]byte{7}, saSignature...)), want: true},
	{name: "an opaque token", token: opaqueToken, value: "token:" + opaqueToken, want: true},
	{name: "an opaque token, base64", token: opaqueToken, value: std(opaqueToken), want: true},
	{name: "an opaque token's secret, hex", token: opaqueToken, value: hex.EncodeToString(opaqueSecret[:]), want: true},
	{name: "an opaque token's secret, standard alphabet", token: opaqueToken, value: base64.StdEncoding.EncodeToString(opaqueSecret[:]), want: true},
	// What an honest answer holds: claims of the token, hashes of it.
	{name: "its subject", token: saToken, value: "system:serviceaccount:payments:payments-api"},
	{name: "its credential ID", token: saToken, value: "JTI=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
	{name: "its hash", token: saToken, value: "X509SHA256=" + hashHex(saToken)},
	{name: "another token", token: saToken, value: opaqueToken},
	{name: "another token's hex", token: opaqueToken, value: hexOf(saToken)},
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// placements put a value into a user field, beside an honest user.
var placements = map[string]func(u *authenticationv1.UserInfo, v string){
	"username":  func(u *authenticationv1.UserInfo, v string) { u.Username = v },
	"uid":       func(u *authenticationv1.UserInfo, v string) { u.UID = v },
	"group":     func(u *authenticationv1.UserInfo, v string) { u.Groups = append(u.Groups, v) },
	"extra key": func(u *authenticationv1.UserInfo, v string) { u.Extra[v] = authenticationv1.ExtraValue{"x"} },
	"extra value": func(u *authenticationv1.UserInfo, v string) {
		u.Extra["example.com/v"] = authenticationv1.ExtraValue{"a", v}
	},
}

// place puts v where says, in st's user or audiences.
func place(st *authenticationv1.TokenReviewStatus, where, v string) {
	if where == "audience" {
		st.Audiences = append(st.Audiences, v)
		return
	}
	placements[where](&st.User, v)
}

func TestQuotesToken(t *testing.T) {
	for _, tc := range echoCases {
		for _, where := range []string{"username", "uid", "group", "extra key", "extra value", "audience"} {
			t.Run(tc.name+"/"+where, func(t *testing.T) {
				st := &authenticationv1.TokenReviewStatus{Authenticated: true, User: honest(), Audiences: []string{"https://issuer.test"}}
				place(st, where, tc.value)

				if got := quotesToken(st, tc.token); got != tc.want {
					t.Errorf("got quotesToken %v for %s in the %s, want %v", got, tc.name, where, tc.want)
				}
			})
		}
	}
}

// TestHonestAnswersQuoteNothing: kube-apiserver's own answer repeats the
// token's claims, and must pass.
func TestHonestAnswersQuoteNothing(t *testing.T) {
	st := &authenticationv1.TokenReviewStatus{Authenticated: true, User: honest(), Audiences: []string{"https://issuer.test"}}
	if quotesToken(st, saToken) {
		t.Errorf("got an honest answer refused as quoting the token, want it accepted")
	}
}

// honest is a deep copy of honestSA, for a test to change.
func honest() authenticationv1.UserInfo {
	u := honestSA
	u.Groups = append([]string(nil), honestSA.Groups...)
	u.Extra = make(map[string]authenticationv1.ExtraValue, len(honestSA.Extra))
	for k, v := range honestSA.Extra {
		u.Extra[k] = v
	}
	return u
}

// BenchmarkQuotesToken: the largest answer checkBounds lets through, all
// base64 (each field decoded at every offset), against a token of 1 KiB
// (a service-account token) and of 1 MiB (all a review can hold).
func BenchmarkQuotesToken(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchmarkQuotesToken(b, n) })
	}
}

func benchmarkQuotesToken(b *testing.B, tokenBytes int) {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(n int) string {
		p := make([]byte, n*3/4)
		for i := range p {
			p[i] = byte(rnd.Uint32())
		}
		return base64.RawURLEncoding.EncodeToString(p)
	}
	token := random(tokenBytes)
	u := authenticationv1.UserInfo{}
	for range maxUserBytes / maxFieldBytes {
		u.Groups = append(u.Groups, random(maxFieldBytes))
	}
	st := &authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
	for b.Loop() {
		if quotesToken(st, token) {
			b.Fatal("got a quote, want none")
		}
	}
}

// BenchmarkQuotesTokenHonest: what every upstream answer costs.
func BenchmarkQuotesTokenHonest(b *testing.B) {
	st := &authenticationv1.TokenReviewStatus{Authenticated: true, User: honest()}
	for b.Loop() {
		if quotesToken(st, saToken) {
			b.Fatal("got a quote, want none")
		}
	}
}

// An EKS token (aws eks get-token) is "k8s-aws-v1." + base64url of a
// presigned STS URL. EKS's answer returns the URL's access key ID as the
// accessKeyId extra: an identifier, not a secret, so the answer is honest.
// The URL's signature and session token are the secret parts: an answer
// that quotes them, or the whole URL, quotes the token.
func TestQuotesTokenEKS(t *testing.T) {
	const (
		akid    = "ASIAQNZGKIQY3EXAMPLE"
		sig     = "3f2a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a"
		session = "IQoJb3JpZ2luX2VjEGQaCXVzLWVhc3QtMSJHMEUCIQD8uvh0sE2qp"
	)
	presigned := "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15" +
		"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + akid + "%2F20260101%2Fus-east-1%2Fsts%2Faws4_request" +
		"&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-Security-Token=" + session +
		"&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=" + sig
	token := "k8s-aws-v1." + b64url(presigned)
	eksUser := func(extra map[string]authenticationv1.ExtraValue) *authenticationv1.TokenReviewStatus {
		return &authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
			Username: "arn:aws:sts::123456789012:assumed-role/Admin/alice",
			UID:      "aws-iam-authenticator:123456789012:AROAQNZGKIQYEXAMPLE1",
			Groups:   []string{"eks:admins"}, Extra: extra,
		}}
	}
	for _, tc := range []struct {
		name  string
		extra map[string]authenticationv1.ExtraValue
		want  bool
	}{
		{"EKS's honest answer", map[string]authenticationv1.ExtraValue{
			"accessKeyId": {akid}, "arn": {"arn:aws:sts::123456789012:assumed-role/Admin/alice"},
			"canonicalArn": {"arn:aws:iam::123456789012:role/Admin"}, "principalId": {"AROAQNZGKIQYEXAMPLE1"}, "sessionName": {"alice"},
		}, false},
		{"the URL's signature", map[string]authenticationv1.ExtraValue{"sig": {sig}}, true},
		{"the session token", map[string]authenticationv1.ExtraValue{"s": {session}}, true},
		{"the whole URL", map[string]authenticationv1.ExtraValue{"u": {presigned}}, true},
		{"the token", map[string]authenticationv1.ExtraValue{"t": {token}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quotesToken(eksUser(tc.extra), token); got != tc.want {
				t.Errorf("got quotesToken %v, want %v", got, tc.want)
			}
		})
	}
}
