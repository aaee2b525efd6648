package main

import (
	"crypto/x509"
	"encoding/pem"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

// isPathField says whether a field's JSON name says it holds a path.
func isPathField(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasSuffix(lower, "file") || strings.Contains(lower, "kubeconfig") ||
		strings.HasSuffix(lower, "path") || strings.HasSuffix(lower, "dir")
}

var durationType = reflect.TypeFor[metav1.Duration]()

// jsonFields are the JSON names and types of the fields of struct type t,
// inline structs (TypeMeta) flattened.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case sf.Anonymous && name == "":
			maps.Copy(fields, jsonFields(sf.Type))
		case sf.IsExported() && name != "-":
			fields[name] = sf.Type
		}
	}
	return fields
}

// pathFields lists every string field under t that holds a path, as a
// field path with [*] for list elements.
func pathFields(t reflect.Type, p string) []string {
	var out []string
	for name, ft := range jsonFields(t) {
		fp := name
		if p != "" {
			fp = p + "." + name
		}
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			if ft.Kind() == reflect.Slice {
				fp += "[*]"
			}
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType:
			out = append(out, pathFields(ft, fp)...)
		case ft.Kind() == reflect.String && isPathField(name):
			out = append(out, fp)
		}
	}
	return out
}

// fill sets every path field under v to path, allocating every optional
// block and one element of every list on the way.
func fill(v reflect.Value, path string) {
	t := v.Type()
	for i := range t.NumField() {
		f, sf := v.Field(i), t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
			f.Set(reflect.New(f.Type().Elem()))
			fill(f.Elem(), path)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			fill(f.Index(0), path)
		case f.Kind() == reflect.Struct && f.Type() != durationType:
			fill(f, path)
		case f.Kind() == reflect.String && isPathField(name):
			f.SetString(path)
		}
	}
}

var listIndex = regexp.MustCompile(`\[\d+\]`)

// TestConfigFilesCoverEveryPathField: every field of the configuration
// that names a file is checked by --check-files. A new one fails here
// until configFiles lists it.
func TestConfigFilesCoverEveryPathField(t *testing.T) {
	want := pathFields(reflect.TypeFor[v1alpha1.Configuration](), "")
	slices.Sort(want)
	if len(want) < 10 || !slices.Contains(want, "issuers[*].fetch.bearerTokenFile") || !slices.Contains(want, "callers.authorization.delegated.kubeconfig") {
		t.Fatalf("found path fields %q, want at least the 10 known ones", want)
	}

	missing := filepath.Join(t.TempDir(), "missing")
	cfg := &v1alpha1.Configuration{}
	fill(reflect.ValueOf(cfg).Elem(), missing)
	var listed []string
	for _, f := range configFiles(cfg) {
		listed = append(listed, listIndex.ReplaceAllString(f.path.String(), "[*]"))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("configFiles lists %q, want every path field: %q", listed, want)
	}

	var reported []string
	for _, e := range checkConfigFiles(cfg) {
		reported = append(reported, listIndex.ReplaceAllString(e.Field, "[*]"))
		if wantErr := `Invalid value: "` + missing + `": cannot read it: no such file or directory`; !strings.HasSuffix(e.Error(), wantErr) {
			t.Errorf("got %q, want it to end in %q", e, wantErr)
		}
	}
	slices.Sort(reported)
	if !slices.Equal(reported, want) {
		t.Errorf("a missing file is reported at %q, want at every path field: %q", reported, want)
	}
}

// checkFilesSetup writes files a configuration can name, good ones.
type checkFilesSetup struct {
	dir   string
	certs devcerts.Files
	ca    *devcerts.CA
	// token is a bearer token file, staticKeys a PEM public key and
	// kubeconfig a working kubeconfig.
	token, staticKeys, kubeconfig string
}

func newCheckFilesSetup(t *testing.T) *checkFilesSetup {
	t.Helper()
	dir := t.TempDir()
	certs, err := devcerts.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := devcerts.LoadCA(certs)
	if err != nil {
		t.Fatal(err)
	}
	s := &checkFilesSetup{dir: dir, certs: certs, ca: ca}
	s.token = s.write(t, "token", secretToken+"\n")
	pub, err := x509.MarshalPKIXPublicKey(ca.Cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	s.staticKeys = s.write(t, "keys.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))
	s.kubeconfig = s.writeKubeconfig(t, "kubeconfig", certs.CACert)
	return s
}

// secretToken is the content of the token file; it is never printed.
const secretToken = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLWNvbnRlbnQ.c2lnbmF0dXJl"

func (s *checkFilesSetup) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *checkFilesSetup) writeKubeconfig(t *testing.T, name, caFile string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthority: caFile}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{TokenFile: s.token}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(s.dir, name)
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// config names every kind of file: set is the files, by field, that
// replace the good ones.
func (s *checkFilesSetup) config(set map[string]string) string {
	files := map[string]string{
		"tlsCertFile": s.certs.ServingCert, "tlsPrivateKeyFile": s.certs.ServingKey, "clientCAFile": s.certs.CACert,
		"caFile": s.certs.CACert, "bearerTokenFile": s.token,
		"clientCertFile": s.certs.ClientCert, "clientKeyFile": s.certs.ClientKey,
		"staticKeys": s.staticKeys, "upstream": s.kubeconfig, "delegated": s.kubeconfig,
	}
	for k, v := range set {
		files[k] = v
	}
	return configHeader + `server:
  tlsCertFile: ` + files["tlsCertFile"] + `
  tlsPrivateKeyFile: ` + files["tlsPrivateKeyFile"] + `
  clientCAFile: ` + files["clientCAFile"] + `
issuers:
- name: hub
  url: https://hub.example.com
  fetch:
    caFile: ` + files["caFile"] + `
    bearerTokenFile: ` + files["bearerTokenFile"] + `
    clientCertFile: ` + files["clientCertFile"] + `
    clientKeyFile: ` + files["clientKeyFile"] + `
  upstream:
    kubeconfig: ` + files["upstream"] + `
- name: keys
  url: https://keys.example.com
  staticKeys:
    file: ` + files["staticKeys"] + `
callers:
  authorization:
    mode: Delegated
    delegated:
      kubeconfig: ` + files["delegated"] + `
`
}

// TestConfigValidateCheckFiles: --check-files opens every file and says
// what is wrong with each, at its field, never printing what it holds.
func TestConfigValidateCheckFiles(t *testing.T) {
	s := newCheckFilesSetup(t)
	expiredCert, expiredKey, err := s.ca.Issue("tokenfed", nil, []string{"localhost"}, -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expired := s.write(t, "expired.crt", string(expiredCert))
	expiredKeyFile := s.write(t, "expired.key", string(expiredKey))
	empty := s.write(t, "empty", " \n")
	junk := s.write(t, "junk", "not: [a kubeconfig")
	noContext := s.write(t, "no-context.kubeconfig", "apiVersion: v1\nkind: Config\n")
	missing := filepath.Join(s.dir, "missing")

	for _, tc := range []struct {
		name string
		set  map[string]string
		want []string // the errors, "" for a valid configuration
	}{
		{"good files", nil, nil},
		{"the key of another certificate", map[string]string{"tlsPrivateKeyFile": s.certs.ClientKey}, []string{
			`server.tlsPrivateKeyFile: Invalid value: "` + s.certs.ClientKey + `": is not the key of server.tlsCertFile: tls: private key does not match public key`,
		}},
		{"a key for a certificate", map[string]string{"tlsCertFile": s.certs.CAKey}, []string{
			`server.tlsCertFile: Invalid value: "` + s.certs.CAKey + `": holds a PRIVATE KEY PEM block; it must hold only certificates`,
		}},
		{"a certificate for a key", map[string]string{"clientKeyFile": s.certs.ClientCert}, []string{
			`issuers[0].fetch.clientKeyFile: Invalid value: "` + s.certs.ClientCert + `": holds no PEM private key (RSA, ECDSA or Ed25519)`,
		}},
		{"an expired certificate", map[string]string{"tlsCertFile": expired, "tlsPrivateKeyFile": expiredKeyFile}, []string{
			`server.tlsCertFile: Invalid value: "` + expired + `": certificate "tokenfed" expired at `,
		}},
		{"an expired CA", map[string]string{"clientCAFile": expired}, []string{
			`server.clientCAFile: Invalid value: "` + expired + `": CA certificate "tokenfed" expired at `,
		}},
		{"no certificate in a CA bundle", map[string]string{"caFile": empty}, []string{
			`issuers[0].fetch.caFile: Invalid value: "` + empty + `": holds no PEM certificate`,
		}},
		{"an empty token", map[string]string{"bearerTokenFile": empty}, []string{
			`issuers[0].fetch.bearerTokenFile: Invalid value: "` + empty + `": is empty`,
		}},
		{"a missing token", map[string]string{"bearerTokenFile": missing}, []string{
			`issuers[0].fetch.bearerTokenFile: Invalid value: "` + missing + `": cannot read it: no such file or directory`,
		}},
		{"a directory", map[string]string{"clientCAFile": s.dir}, []string{
			`server.clientCAFile: Invalid value: "` + s.dir + `": cannot read it: is a directory`,
		}},
		{"the token as a certificate and as a kubeconfig", map[string]string{"clientCertFile": s.token, "upstream": s.token}, []string{
			`issuers[0].fetch.clientCertFile: Invalid value: "` + s.token + `": holds no PEM certificate`,
			`issuers[0].upstream.kubeconfig: Invalid value: "` + s.token + `": couldn't get version/kind; json parse error: `,
		}},
		{"a kubeconfig that is not one", map[string]string{"delegated": junk}, []string{
			`callers.authorization.delegated.kubeconfig: Invalid value: "` + junk + `": yaml: line 1: did not find expected ',' or ']'`,
		}},
		{"a kubeconfig without a context", map[string]string{"upstream": noContext}, []string{
			`issuers[0].upstream.kubeconfig: Invalid value: "` + noContext + `": has no current context, or it names no cluster`,
		}},
		{"a kubeconfig naming a missing CA", map[string]string{"upstream": s.writeKubeconfig(t, "missing-ca.kubeconfig", missing)}, []string{
			`issuers[0].upstream.kubeconfig: Invalid value: "` + filepath.Join(s.dir, "missing-ca.kubeconfig") + `": invalid configuration: unable to read certificate-authority ` + missing,
		}},
		{"static keys that are not keys", map[string]string{"staticKeys": s.certs.CAKey}, []string{
			`issuers[1].staticKeys.file: Invalid value: "` + s.certs.CAKey + `": parse: PEM block type "PRIVATE KEY" is not accepted`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, s.config(tc.set))
			// Without --check-files, nothing is opened.
			if code, _, stderr := runCLI(t, "config", "validate", "--config", path); code != 0 {
				t.Fatalf("without --check-files: got exit code %d, %s, want 0", code, stderr)
			}
			code, stdout, stderr := runCLI(t, "config", "validate", "--config", path, "--check-files")
			if strings.Contains(stdout+stderr, secretToken) {
				t.Fatalf("got output with the token file's content:\n%s", stdout+stderr)
			}
			if tc.want == nil {
				if code != 0 || stdout != path+" is valid, and the files it names are usable\n" {
					t.Fatalf("got exit code %d, %q, %q, want 0 and valid", code, stdout, stderr)
				}
				return
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 1 || len(lines) != len(tc.want)+1 {
				t.Fatalf("got exit code %d and stderr:\n%s\nwant 1 and %d errors", code, stderr, len(tc.want))
			}
			for i, w := range tc.want {
				if got := strings.TrimPrefix(lines[i+1], "  "); !strings.HasPrefix(got, w) {
					t.Errorf("got error %q, want one starting %q", got, w)
				}
			}
		})
	}
}

// config validate reads the configuration and, with --check-files, the
// files it names, bounded and only when they are regular files: a path
// mistyped as /dev/zero or a FIFO is an error, not a hang or a memory
// bomb.
func TestConfigValidateRefusesSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, v1alpha1.MaxConfigFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"config /dev/zero", []string{"--config", "/dev/zero"}, "--config: cannot read it: is a device, not a regular file"},
		{"config FIFO", []string{"--config", fifo}, "--config: cannot read it: is a FIFO, not a regular file"},
		{"config too large", []string{"--config", big}, "--config: cannot read it: larger than"},
		{"token /dev/zero", []string{"--check-files", "--config", writeConfig(t, strings.Replace(validConfig, "  upstream:\n", "  fetch:\n    bearerTokenFile: /dev/zero\n  upstream:\n", 1))},
			`issuers[0].fetch.bearerTokenFile: Invalid value: "/dev/zero": cannot read it: is a device, not a regular file`},
		{"CA FIFO", []string{"--check-files", "--config", writeConfig(t, strings.Replace(validConfig, "  upstream:\n", "  fetch:\n    caFile: "+fifo+"\n  upstream:\n", 1))},
			`issuers[0].fetch.caFile: Invalid value: "` + fifo + `": cannot read it: is a FIFO, not a regular file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var out string
			go func() {
				defer close(done)
				_, _, out = runReview("", append([]string{"config", "validate"}, tc.args...)...)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("config validate did not return")
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("got\n%s\nwant %q in it", out, tc.want)
			}
		})
	}
}

// Validation refuses a credential pasted into any field that names a file,
// every one of them (pasted into all at once here), without repeating it.
func TestValidateRefusesCredentialsInEveryPathField(t *testing.T) {
	want := pathFields(reflect.TypeFor[v1alpha1.Configuration](), "")
	slices.Sort(want)
	const secret = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
	cfg := &v1alpha1.Configuration{}
	fill(reflect.ValueOf(cfg).Elem(), secret)
	var refused []string
	for _, e := range v1alpha1.Validate(cfg) {
		if strings.Contains(e.Error(), "bm90IGEga2V5") {
			t.Errorf("the error repeats the credential: %s", e)
		}
		if strings.Contains(e.Detail, "looks like a credential") {
			refused = append(refused, listIndex.ReplaceAllString(e.Field, "[*]"))
		}
	}
	slices.Sort(refused)
	if !slices.Equal(refused, want) {
		t.Errorf("a credential is refused at %q, want at every path field: %q", refused, want)
	}
}
