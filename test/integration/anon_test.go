package integration

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"time"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
	"github.com/tokenfed/tokenfed/pkg/testing/tokenfedproc"
)

// anonClient trusts tokenfed's CA but presents no client certificate.
func anonClient(p *tokenfedproc.Process) *http.Client {
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(p.Certs.CACert)
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// foreignClient presents a client certificate from a CA tokenfed does not
// trust.
func foreignClient(t interface{ Fatal(...any) }, p *tokenfedproc.Process) *http.Client {
	ca, err := devcerts.NewCA("someone-else", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("intruder", []string{"x"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := anonClient(p)
	c.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{pair}
	return c
}
