package secretscan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jwt is a token shaped like kube-apiserver's: three long segments.
const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IlpwS3lfRXhhbXBsZUtpZCJ9" +
	".eyJhdWQiOlsiaHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3ZjIl0sInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpuczpzYSJ9" +
	".c2lnbmF0dXJlLWJ5dGVzLXRoYXQtbmV2ZXItYXBwZWFyLWluLWEtbG9nLWxpbmU"

// shortHeaderJWT has a 20-byte header: {"alg":"RS256"}.
const shortHeaderJWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm90aGVyLXRva2VuLWZvci10aGUtc2Nhbm5lciJ9.YW5vdGhlci1zaWduYXR1cmUtdGhhdC1pcy1sb25n"

func seg(tok string, i int) string { return strings.Split(tok, ".")[i] }

var scanCases = []struct {
	name string
	log  string
	// wantParts per hit, in line order; nil means no hit.
	wantParts []string
}{
	{name: "clean log", log: "I0101 review authenticated=true user=\"hub:system:serviceaccount:ns:sa\"\n"},
	{name: "whole token", log: "Request Body: {\"spec\":{\"token\":\"" + jwt + "\"}}\n", wantParts: []string{"whole token"}},
	{name: "signature segment alone", log: "sig=" + seg(jwt, 2) + "\n", wantParts: []string{"signature"}},
	{name: "header segment alone", log: "kid header " + seg(jwt, 0) + "\n", wantParts: []string{"header"}},
	{name: "24 bytes from the middle of the payload", log: "x" + seg(jwt, 1)[31:55] + "x\n", wantParts: []string{"payload"}},
	{name: "24 bytes across payload and signature", log: jwt[len(jwt)-len(seg(jwt, 2))-12:len(jwt)-len(seg(jwt, 2))+12] + "\n", wantParts: []string{"payload+signature"}},
	{name: "23 bytes are not a leak", log: "x" + seg(jwt, 1)[31:54] + "x\n"},
	{name: "a 20-byte header segment", log: "hdr " + seg(shortHeaderJWT, 0) + " end\n", wantParts: []string{"header"}},
	{name: "leaks on two lines", log: "a\n" + seg(jwt, 2) + "\nb\n" + shortHeaderJWT + "\n", wantParts: []string{"signature", "whole token"}},
}

func TestScan(t *testing.T) {
	for _, tc := range scanCases {
		t.Run(tc.name, func(t *testing.T) {
			r := registryOf(jwt, shortHeaderJWT)
			file := writeLog(t, tc.log)

			rep, err := r.Scan([]string{file})

			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range rep.Hits {
				got = append(got, strings.Join(h.Parts, "+"))
			}
			if strings.Join(got, ",") != strings.Join(tc.wantParts, ",") {
				t.Errorf("got hits %q, want %q", got, tc.wantParts)
			}
			wantLines := strings.Count(tc.log, "\n")
			if rep.Tokens != 2 || rep.Files != 1 || rep.Lines != wantLines || rep.Bytes != int64(len(tc.log)) {
				t.Errorf("got %+v, want 2 tokens, 1 file, %d lines, %d bytes", rep, wantLines, len(tc.log))
			}
		})
	}
}

// TestCheckFailsOnAPlantedLeak: the check the test mains run fails on a
// leak, and its report names file, line and segment but never the token.
func TestCheckFailsOnAPlantedLeak(t *testing.T) {
	r := registryOf(jwt)
	clean := writeLog(t, "I0101 review authenticated=false error=\"token issuer is not trusted\"\n")
	leaky := writeLog(t, "line one\nI0101 Response Body: {\"status\":{},\"spec\":{\"token\":\""+jwt+"\"}}\n")
	var out bytes.Buffer

	ok := r.Check(&out, []string{clean, leaky})

	if ok {
		t.Errorf("got a passing check, want it to fail")
	}
	if want := leaky + ":2: token #1 (test): whole token"; !strings.Contains(out.String(), want) {
		t.Errorf("got report\n%s\nwant it to contain %q", out.String(), want)
	}
	for _, part := range strings.Split(jwt, ".") {
		if strings.Contains(out.String(), part) {
			t.Errorf("got a report that prints part of the token:\n%s", out.String())
		}
	}
}

func TestCheckPassesCleanLogs(t *testing.T) {
	r := registryOf(jwt)
	var out bytes.Buffer
	if !r.Check(&out, []string{writeLog(t, "nothing to see\n")}) {
		t.Errorf("got a failing check, want it to pass:\n%s", out.String())
	}
}

// TestCheckIsNeverVacuous: no tokens, or no log bytes, fail.
func TestCheckIsNeverVacuous(t *testing.T) {
	cases := map[string]struct {
		r     *Registry
		files []string
	}{
		"no tokens":    {registryOf(), []string{writeLog(t, "a log\n")}},
		"no files":     {registryOf(jwt), nil},
		"empty file":   {registryOf(jwt), []string{writeLog(t, "")}},
		"missing file": {registryOf(jwt), []string{filepath.Join(t.TempDir(), "gone.log")}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if tc.r.Check(&out, tc.files) {
				t.Errorf("got a passing check, want it to fail:\n%s", out.String())
			}
		})
	}
}

func TestRegisterIgnoresRepeatsEmptyAndOversized(t *testing.T) {
	r := registryOf(jwt, jwt, "", strings.Repeat("a", maxTokenBytes+1), shortHeaderJWT)
	if got := r.Len(); got != 2 {
		t.Errorf("got %d tokens, want 2", got)
	}
}

func registryOf(tokens ...string) *Registry {
	r := &Registry{}
	for _, tok := range tokens {
		r.Register(tok, "test")
	}
	return r
}

func writeLog(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestScanAttributesALeakToItsToken: siblings share long runs (header,
// issuer, audience); a leak of one is not also a leak of each sibling.
func TestScanAttributesALeakToItsToken(t *testing.T) {
	sibling := seg(jwt, 0) + "." + seg(jwt, 1) + ".b3RoZXItc2lnbmF0dXJlLWJ5dGVzLW9mLWEtc2libGluZy10b2tlbg"
	r := registryOf(jwt, sibling)

	rep, err := r.Scan([]string{writeLog(t, "leak "+jwt+"\nshared "+seg(jwt, 1)+"\n")})

	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range rep.Hits {
		got = append(got, fmt.Sprintf("line %d token #%d %s", h.Line, h.Token, strings.Join(h.Parts, "+")))
	}
	want := []string{"line 1 token #1 whole token", "line 2 token #1 payload", "line 2 token #2 payload"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got hits %q, want %q", got, want)
	}
}
