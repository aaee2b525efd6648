package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tokenfed/tokenfed/hack/edge/edgeapi"
)

// device holds the connections; the token is read per call.
type device struct {
	o    options
	http *http.Client
	grpc *grpc.ClientConn
}

func newDevice(o options) (*device, error) {
	tlsConfig, err := clientTLS(o.caFile, o.serverName)
	if err != nil {
		return nil, err
	}
	d := &device{o: o, http: &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsConfig},
		Timeout:   o.timeout,
		// A redirect would carry the token to a server nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if o.grpcAddr != "" {
		d.grpc, err = grpc.NewClient(o.grpcAddr,
			grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)),
			grpc.WithPerRPCCredentials(tokenFile(o.tokenFile)))
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *device) close() {
	if d.grpc != nil {
		_ = d.grpc.Close()
	}
}

func clientTLS(caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	return cfg, nil
}

// round makes one call per configured protocol, prints a line for each,
// and returns the worst exit code.
func (d *device) round(ctx context.Context, w io.Writer) int {
	code := exitAccepted
	if d.o.httpURL != "" {
		line, c := d.callHTTP(ctx)
		fmt.Fprintln(w, "HTTP  "+line)
		code = max(code, c)
	}
	if d.grpc != nil {
		line, c := d.callGRPC(ctx)
		fmt.Fprintln(w, "gRPC  "+line)
		code = max(code, c)
	}
	return code
}

func (d *device) callHTTP(ctx context.Context) (string, int) {
	token, err := readToken(d.o.tokenFile)
	if err != nil {
		return err.Error(), exitFailed
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.o.httpURL, nil)
	if err != nil {
		return err.Error(), exitFailed
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := d.http.Do(req)
	if err != nil {
		// The error of the client names the URL and the cause, never a header.
		return err.Error(), exitFailed
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err.Error(), exitFailed
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var id edgeapi.Identity
		if err := json.Unmarshal(body, &id); err != nil {
			return fmt.Sprintf("%s: not an identity: %v", resp.Status, err), exitFailed
		}
		return resp.Status + ": " + describe(id), exitAccepted
	case http.StatusUnauthorized:
		return resp.Status + ": WWW-Authenticate: " + resp.Header.Get("WWW-Authenticate"), exitRefused
	default:
		return resp.Status + ": " + strings.TrimSpace(string(body)), exitFailed
	}
}

func (d *device) callGRPC(ctx context.Context) (string, int) {
	ctx, cancel := context.WithTimeout(ctx, d.o.timeout)
	defer cancel()
	answer := &structpb.Struct{}
	err := d.grpc.Invoke(ctx, edgeapi.WhoAmIMethod, &emptypb.Empty{}, answer)
	switch status.Code(err) {
	case codes.OK:
		id, err := edgeapi.IdentityFromStruct(answer)
		if err != nil {
			return err.Error(), exitFailed
		}
		return "OK: " + describe(id), exitAccepted
	case codes.Unauthenticated:
		return "Unauthenticated: " + status.Convert(err).Message(), exitRefused
	default:
		return status.Code(err).String() + ": " + status.Convert(err).Message(), exitFailed
	}
}

func describe(id edgeapi.Identity) string {
	return fmt.Sprintf("user=%s groups=%s issuer=%s audiences=%s",
		id.User, strings.Join(id.Groups, ","), id.Issuer, strings.Join(id.Audiences, ","))
}

// tokenFile is gRPC per-RPC credentials that read the token file on every
// call. Like gRPC's own oauth credentials, they refuse an insecure
// transport.
type tokenFile string

func (f tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	token, err := readToken(string(f))
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

func (tokenFile) RequireTransportSecurity() bool { return true }

// maxTokenBytes bounds a token file: a service-account token is about 1 KiB.
const maxTokenBytes = 64 << 10

var errEmptyToken = errors.New("empty")

// readToken reads the token file; errors name the file, never the token.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("token file %s: %w", path, err)
	case len(data) > maxTokenBytes:
		return "", fmt.Errorf("token file %s: larger than %d bytes", path, maxTokenBytes)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("token file %s: %w", path, errEmptyToken)
	}
	return token, nil
}
