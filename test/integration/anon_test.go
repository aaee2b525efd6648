package integration

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"

	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// anonClient trusts tokenfed's CA but presents no client certificate.
func anonClient(p *tokenfedproc.Process) *http.Client {
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(p.Certs.CACert)
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}
