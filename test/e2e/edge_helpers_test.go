package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/tokenfed/tokenfed/hack/edge/edgeapi"
	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
	"github.com/tokenfed/tokenfed/pkg/client"
	"github.com/tokenfed/tokenfed/pkg/testing/controlplane"
	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/federation"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// The device story's names, as in docs/edge.md and hack/edge.
const (
	edgeAudience  = "https://edge.example"
	otherAudience = "https://other.example"
	edgeNamespace = "edge"
	// edgeSA is the edge API's own identity, granted by tokenfed's
	// policy; intruderSA has a valid caller token but no grant.
	edgeSA     = "edge-api"
	intruderSA = "intruder"
	edgeCaller = "hub:system:serviceaccount:" + edgeNamespace + ":" + edgeSA
	deviceUser = "hub:system:serviceaccount:devices:device-1"
)

// edgeEnv is one hub, one tokenfed and the edge API, which runs in the
// test with a pkg/client.Client whose caller token is a file laid out as
// the kubelet projects it.
type edgeEnv struct {
	tf       *tokenfedproc.Process
	operator *http.Client // reads tokenfed's /metrics
	// tfClient is the edge API's tokenfed client; callerToken its token
	// file.
	tfClient    *client.Client
	callerToken *projectedToken
	// grantedToken and intruderToken are caller tokens, minted for
	// tokenfed; deviceToken and otherToken are device-1's, for the edge
	// API and for another service.
	grantedToken, intruderToken string
	deviceToken, otherToken     string
	// The edge API, and clients of it that trust its certificate.
	httpURL string
	http    *http.Client
	grpc    *grpc.ClientConn
}

func startEdge(t *testing.T, hub *controlplane.ControlPlane) *edgeEnv {
	t.Helper()
	e := &edgeEnv{}
	e.tf = startCallersTokenfed(t, "edge", edgeTokenfedConfig(hub))
	e.operator = certClient(t, e.tf, operatorCN)
	serviceAccounts(t, hub, edgeNamespace, edgeSA, intruderSA)
	serviceAccounts(t, hub, "devices", "device-1")
	e.grantedToken = edgeToken(t, hub, edgeNamespace, edgeSA, callerAudience)
	e.intruderToken = edgeToken(t, hub, edgeNamespace, intruderSA, callerAudience)
	e.deviceToken = edgeToken(t, hub, "devices", "device-1", edgeAudience)
	e.otherToken = edgeToken(t, hub, "devices", "device-1", otherAudience)

	e.callerToken = newProjectedToken(t, e.grantedToken)
	var err error
	e.tfClient, err = client.New(client.Config{Server: e.tf.URL, CAFile: e.tf.Certs.CACert, TokenFile: e.callerToken.path})
	if err != nil {
		t.Fatal(err)
	}
	api, err := edgeapi.New(edgeapi.Options{Authenticator: e.tfClient, Audiences: []string{edgeAudience}})
	if err != nil {
		t.Fatal(err)
	}
	e.serve(t, api)
	return e
}

// edgeTokenfedConfig trusts the hub; callers are the edge API by its own
// token (policy edge-api), the devcerts client certificate (policy
// cert-callers, for the curl snippet with a certificate), and the
// operator, who reads /metrics.
func edgeTokenfedConfig(hub *controlplane.ControlPlane) v1alpha1.Configuration {
	return v1alpha1.Configuration{
		Issuers: []v1alpha1.Issuer{federation.HubIssuer("hub", hub)},
		Callers: v1alpha1.Callers{
			Tokens: &v1alpha1.CallerTokens{Audiences: []string{callerAudience}, Issuers: []string{"hub"}},
			Authorization: v1alpha1.CallerAuthorization{Static: []v1alpha1.CallerPolicy{
				{Name: "edge-api", Users: []string{edgeCaller}, Issuers: []string{"hub"}, Audiences: []string{edgeAudience}},
				{Name: "cert-callers", Users: []string{memberCN}, Issuers: []string{"hub"}},
				{Name: "operators", Users: []string{operatorCN}, Endpoints: []string{"/metrics"}},
			}},
		},
	}
}

// edgeToken mints a 10-minute token of ns/sa for audience on the hub
// (TokenRequest expirationSeconds: 600), registered with secretscan.
func edgeToken(t *testing.T, hub *controlplane.ControlPlane, ns, sa, audience string) string {
	t.Helper()
	token, err := hub.CreateToken(ctx(t), ns, sa, controlplane.TokenOptions{Audiences: []string{audience}, Expiration: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// serve runs the edge API over TLS with a development certificate for
// 127.0.0.1 until t ends, and connects the test's HTTP and gRPC clients.
func (e *edgeEnv) serve(t *testing.T, api *edgeapi.Server) {
	t.Helper()
	certs, err := devcerts.Write(filepath.Join(t.TempDir(), "edge-certs"))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certs.ServingCert, certs.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	httpLn, grpcLn := listenLoopback(t), listenLoopback(t)
	serveCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- api.Serve(serveCtx, httpLn, grpcLn, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge API: %v", err)
		}
	})
	tlsConfig := trusting(t, certs.CACert)
	e.httpURL = "https://" + httpLn.Addr().String() + edgeapi.WhoAmIPath
	e.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 30 * time.Second}
	e.grpc, err = grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.grpc.Close() })
}

// trusting is a client TLS configuration that trusts the CA in caFile.
func trusting(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// projectedToken is a token file laid out as the kubelet's AtomicWriter
// writes a projected volume: dir/token -> ..data/token, and ..data -> a
// timestamped directory. A rotation writes a new directory and renames a
// new ..data link over the old one, so a reader sees either token whole.
type projectedToken struct {
	dir, path string
	version   int
}

func newProjectedToken(t *testing.T, token string) *projectedToken {
	t.Helper()
	p := &projectedToken{dir: t.TempDir()}
	p.path = filepath.Join(p.dir, "token")
	p.swap(t, token)
	if err := os.Symlink(filepath.Join("..data", "token"), p.path); err != nil {
		t.Fatal(err)
	}
	return p
}

// swap replaces the token atomically: the rename of ..data is the one step
// a reader can observe.
func (p *projectedToken) swap(t *testing.T, token string) {
	t.Helper()
	p.version++
	version := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", p.version, p.version)
	if err := os.Mkdir(filepath.Join(p.dir, version), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, version, "token"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(p.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// edgeGet calls the edge API's whoami with token as a device does.
func (e *edgeEnv) edgeGet(t *testing.T, token string) edgeAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, e.httpURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", e.httpURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the answer: %v", e.httpURL, err)
	}
	return edgeAnswer{code: resp.StatusCode, header: resp.Header, body: string(body)}
}

// edgeAnswer is one HTTP answer of the edge API.
type edgeAnswer struct {
	code   int
	header http.Header
	body   string
}

// bearerChallenge parses a WWW-Authenticate field of one Bearer challenge
// (RFC 7235 §2.1, RFC 6750 §3) strictly: `Bearer` alone, or `Bearer`
// followed by comma-separated name="quoted-string" parameters. Anything
// else is an error, so a test that parses a header also proves it
// well-formed.
func bearerChallenge(h string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(h, "Bearer")
	if !ok {
		return nil, fmt.Errorf("challenge %q: want scheme Bearer", h)
	}
	params := map[string]string{}
	if rest == "" {
		return params, nil
	}
	if !authParams.MatchString(rest) {
		return nil, fmt.Errorf("challenge %q: malformed parameters", h)
	}
	for _, m := range authParam.FindAllStringSubmatch(rest, -1) {
		name := strings.ToLower(m[1])
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("challenge %q: %s twice", h, name)
		}
		params[name] = unquote.ReplaceAllString(m[2], "$1")
	}
	return params, nil
}

// quotedValue is an RFC 7230 quoted-string: no control characters but tab,
// and '"' or '\' only as a quoted-pair.
const quotedValue = `"((?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*)"`

var (
	// authParams is the whole parameter list after the scheme.
	authParams = regexp.MustCompile(`^ [A-Za-z0-9_-]+=` + quotedValue + `(?:, ?[A-Za-z0-9_-]+=` + quotedValue + `)*$`)
	// authParam is one parameter: its name and its quoted content.
	authParam = regexp.MustCompile(`([A-Za-z0-9_-]+)=` + quotedValue)
	unquote   = regexp.MustCompile(`\\(.)`)
)
