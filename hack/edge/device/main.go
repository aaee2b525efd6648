// Command device is the device of the edge story (docs/edge.md): a program
// outside any cluster that proves who it is to the edge API with a hub
// service-account token, over HTTPS and gRPC. The token is read from its
// file on every call, so whatever replaces the file (a new TokenRequest
// before the old token expires) is used at once.
//
//	device --token-file device.token --ca-file edge-ca.crt \
//	  --http https://127.0.0.1:8444/whoami --grpc 127.0.0.1:8445
//
// Each call prints one line: who the edge API says the device is, or why it
// refused. The exit status is that of the last round of calls: 0 every call
// accepted, 1 a call refused (HTTP 401, gRPC Unauthenticated), 2 anything
// else (unreachable, HTTP 503, gRPC Unavailable, bad flags).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// Exit codes.
const (
	exitAccepted = 0
	exitRefused  = 1
	exitFailed   = 2
)

// errFlagSyntax marks an error the flag package has already printed.
var errFlagSyntax = errors.New("bad flags")

type options struct {
	tokenFile, caFile, serverName string
	httpURL, grpcAddr             string
	count                         int
	interval, timeout             time.Duration
	untilRefused                  bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitAccepted
	case errors.Is(err, errFlagSyntax): // the flag package has said why
		return exitFailed
	case err != nil:
		fmt.Fprintln(stderr, "device:", err)
		return exitFailed
	}
	d, err := newDevice(o)
	if err != nil {
		fmt.Fprintln(stderr, "device:", err)
		return exitFailed
	}
	defer d.close()
	code := exitFailed
	for i := range o.count {
		if i > 0 {
			time.Sleep(o.interval)
		}
		code = d.round(context.Background(), stdout)
		if o.untilRefused && code == exitRefused {
			break
		}
	}
	return code
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("edge-device", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the device's hub token, minted for the edge API's audience; read on every call (required)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM bundle the edge API's serving certificate must chain to (default: the system roots)")
	fs.StringVar(&o.serverName, "tls-server-name", "", "name the edge API's certificate must hold, if not the host of --http/--grpc")
	fs.StringVar(&o.httpURL, "http", "", "the edge API's whoami URL, https://HOST:PORT/whoami")
	fs.StringVar(&o.grpcAddr, "grpc", "", "the edge API's gRPC address, HOST:PORT")
	fs.IntVar(&o.count, "count", 1, "rounds of calls")
	fs.DurationVar(&o.interval, "interval", time.Second, "pause between rounds")
	fs.BoolVar(&o.untilRefused, "until-refused", false, "stop after the first round with a refusal")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound of one call")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", errFlagSyntax, err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.tokenFile == "":
		return o, errors.New("--token-file is required")
	case o.httpURL == "" && o.grpcAddr == "":
		return o, errors.New("give --http, --grpc or both")
	case o.count < 1:
		return o, errors.New("--count must be at least 1")
	}
	return o, nil
}
