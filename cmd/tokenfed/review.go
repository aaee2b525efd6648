package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/client"
)

// Exit codes of tokenfed review.
const (
	exitAuthenticated    = 0
	exitNotAuthenticated = 1
	// exitFailed: the question could not be answered (tokenfed
	// unreachable, this caller refused, bad flags).
	exitFailed = 2
)

// maxTokenBytes bounds a token read from stdin or a file: tokenfed refuses
// reviews over 1 MiB.
const maxTokenBytes = 1 << 20

// reviewOptions are the review flags.
type reviewOptions struct {
	token, tokenFile string
	audiences        []string
	output           string
	// Connection.
	kubeconfig, server, caFile, serverName string
	clientCert, clientKey, callerTokenFile string
	timeout                                time.Duration
}

func newReviewCommand() *cobra.Command {
	o := &reviewOptions{}
	cmd := &cobra.Command{
		Use:   "review [-] [flags]",
		Short: "Ask tokenfed about a token: who it is, and for which audiences",
		Long: `Ask tokenfed about a token, as an application does with pkg/client.

The token comes from --token-file, from stdin ("-", or when neither
--token nor --token-file is given and stdin is not a terminal), or from
--token. One trailing newline is trimmed. Prefer stdin or a file: --token
shows in ps and in shell history.

tokenfed is reached through --kubeconfig (the webhook kubeconfig a
kube-apiserver is given), or --server and the files next to it. Without
either, the in-cluster defaults apply: TOKENFED_SERVER (default
https://tokenfed.tokenfed-system.svc/apis/authentication.k8s.io/v1/tokenreviews),
TOKENFED_CA_FILE (/var/run/secrets/tokenfed/ca.crt) and TOKENFED_TOKEN_FILE
(/var/run/secrets/tokenfed/token); see docs/client.md.

Exit status: 0 authenticated, 1 not authenticated, 2 anything else
(tokenfed unreachable, this caller refused, bad flags).`,
		Example: `  kubectl create token device-1 -n devices --audience https://api.shop.example |
    tokenfed review --kubeconfig webhook.kubeconfig --audience https://api.shop.example
  tokenfed review --server https://127.0.0.1:8443 --certificate-authority certs/ca.crt \
    --client-certificate certs/client.crt --client-key certs/client.key --token-file token -o yaml`,
		Args: func(_ *cobra.Command, args []string) error {
			// Never the arguments: the likeliest one is the token itself.
			if len(args) > 1 || len(args) == 1 && args[0] != "-" {
				return &exitError{code: exitFailed, err: errTokenArgument}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			err := o.run(cmd, len(args) == 1)
			// Exit status 1 says "not authenticated": any error that did
			// not choose its code is 2, "anything else".
			var ee *exitError
			if err != nil && !errors.As(err, &ee) {
				err = &exitError{code: exitFailed, err: err}
			}
			return err
		},
	}
	o.addFlags(cmd.Flags())
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitFailed, err: flagError(c, err)}
	})
	return cmd
}

// errTokenArgument: the token given as an argument, or something else
// that is not "-".
var errTokenArgument = errors.New(`tokenfed review takes no arguments but "-" (stdin); pass the token with --token-file, stdin or --token, and revoke it if it was typed on a command line others can see`)

func (o *reviewOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.token, "token", "", "the token to review. It shows in ps and in shell history: prefer --token-file or stdin")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the token to review")
	fs.StringArrayVar(&o.audiences, "audience", nil, "audience the token must be valid for (repeatable; any one suffices); none: its issuer's own audiences")
	fs.StringVarP(&o.output, "output", "o", "", "json or yaml: print the TokenReview status; default: a line per field")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "webhook kubeconfig (the format of --authentication-token-webhook-config-file): server URL, CA and caller credentials")
	fs.StringVar(&o.server, "server", "", "tokenfed's URL; with a path (https://host:8443/authenticate) exactly that, without one its TokenReview path")
	fs.StringVar(&o.caFile, "certificate-authority", "", "PEM bundle tokenfed's serving certificate must chain to (default: the system roots, with --server)")
	fs.StringVar(&o.serverName, "tls-server-name", "", "name tokenfed's serving certificate must hold, when --server names it otherwise")
	fs.StringVar(&o.clientCert, "client-certificate", "", "this caller's client certificate")
	fs.StringVar(&o.clientKey, "client-key", "", "this caller's client key")
	fs.StringVar(&o.callerTokenFile, "caller-token-file", "", "this caller's own token, minted for tokenfed (not the token to review)")
	fs.DurationVar(&o.timeout, "timeout", client.DefaultTimeout, "how long to wait for the answer, retries included")
}

func (o *reviewOptions) run(cmd *cobra.Command, stdinArg bool) error {
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		// Not repeated: it is a value typed where a token may have gone.
		return &exitError{code: exitFailed, err: errors.New("--output must be json or yaml")}
	}
	token, err := o.readToken(cmd.Flags(), cmd.InOrStdin(), stdinArg)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	// client.New's error would name the file, and a token typed where
	// its file belongs must not be printed as the file that is missing.
	if cmd.Flags().Changed("caller-token-file") {
		f, err := os.Open(o.callerTokenFile)
		if err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("--caller-token-file: cannot open it: %w", withoutPath(err))}
		}
		_ = f.Close()
	}
	c, err := client.New(o.clientConfig(cmd.Flags()))
	if err != nil {
		if o.kubeconfig == "" && o.server == "" {
			err = fmt.Errorf("%w (the in-cluster defaults; outside a cluster, pass --server or --kubeconfig)", err)
		}
		return &exitError{code: exitFailed, err: err}
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	res, err := c.Review(ctx, token, o.audiences...)
	var na *client.NotAuthenticatedError
	switch {
	case err == nil:
		// Authenticated, but a script that cannot read the answer must
		// not take it for "not authenticated" (1) either.
		if err := o.print(cmd.OutOrStdout(), res.Status()); err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		return nil
	case errors.As(err, &na):
		if err := o.print(cmd.OutOrStdout(), authenticationv1.TokenReviewStatus{Error: na.Reason}); err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		return &exitError{code: exitNotAuthenticated}
	default:
		// tokenfed's words are in it: one line, as every field printed.
		msg := oneLine(err.Error())
		if unknownAuthority(err) && !cmd.Flags().Changed("certificate-authority") {
			msg += " (pass --certificate-authority with the CA of tokenfed's serving certificate)"
		}
		return &exitError{code: exitFailed, err: errors.New(msg)}
	}
}

// readToken takes the token from the one source given.
func (o *reviewOptions) readToken(fs *pflag.FlagSet, stdin io.Reader, stdinArg bool) (string, error) {
	given := 0
	for _, b := range []bool{fs.Changed("token"), fs.Changed("token-file"), stdinArg} {
		if b {
			given++
		}
	}
	var (
		token string
		err   error
	)
	switch {
	case given > 1:
		return "", errors.New("give the token one way: --token, --token-file or stdin (-)")
	case fs.Changed("token"):
		token = o.token
	case fs.Changed("token-file"):
		token, err = readTokenFrom(o.tokenFile)
	case stdinArg || !isTerminal(stdin):
		token, err = readLimited(stdin, "stdin", nil)
	default:
		return "", errors.New("no token: pipe it on stdin, or give --token-file")
	}
	if err != nil {
		return "", err
	}
	token = strings.TrimSuffix(strings.TrimSuffix(token, "\n"), "\r")
	if token == "" {
		return "", errors.New("the token is empty")
	}
	return token, nil
}

// readTokenFrom reads the --token-file. Its errors name the flag, not the
// path: a token given where its file belongs (--token-file $TOKEN) must not
// be printed as the file that does not exist.
func readTokenFrom(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: cannot open it: %w", withoutPath(err))
	}
	defer f.Close()
	return readLimited(f, "--token-file", withoutPath)
}

// withoutPath is err without the path an *fs.PathError quotes: its
// operation's error alone (no such file or directory, permission denied).
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readLimited(r io.Reader, name string, clean func(error) error) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTokenBytes+1))
	if err != nil {
		if clean != nil {
			err = clean(err)
		}
		return "", fmt.Errorf("reading the token from %s: %w", name, err)
	}
	if len(data) > maxTokenBytes {
		return "", fmt.Errorf("the token in %s is larger than %d bytes", name, maxTokenBytes)
	}
	return string(data), nil
}

// isTerminal: a character device, as a terminal is. Anything that is not
// an *os.File (a test's reader or writer) is not a terminal.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// clientConfig: --kubeconfig, else --server, else the in-cluster
// defaults; the connection flags that were given apply on top. (With
// --kubeconfig, client.New refuses them; with --server, the others are
// empty unless given.)
func (o *reviewOptions) clientConfig(fs *pflag.FlagSet) client.Config {
	var cfg client.Config
	switch {
	case o.kubeconfig != "":
		cfg.Kubeconfig = o.kubeconfig
	case o.server == "":
		cfg = client.InClusterConfig()
	}
	for flag, field := range map[string]*string{
		"server": &cfg.Server, "certificate-authority": &cfg.CAFile, "tls-server-name": &cfg.TLSServerName,
		"client-certificate": &cfg.ClientCertFile, "client-key": &cfg.ClientKeyFile,
		"caller-token-file": &cfg.TokenFile,
	} {
		if fs.Changed(flag) {
			*field, _ = fs.GetString(flag)
		}
	}
	cfg.Timeout = o.timeout
	return cfg
}

// print writes st as JSON, YAML, or lines for a person.
func (o *reviewOptions) print(w io.Writer, st authenticationv1.TokenReviewStatus) error {
	var out []byte
	var err error
	switch o.output {
	case "json":
		out, err = json.MarshalIndent(st, "", "  ")
		out = append(out, '\n')
	case "yaml":
		out, err = yaml.Marshal(st)
	default:
		out = []byte(humanStatus(st))
	}
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// humanStatus is a line per field, which scripts read with grep. Every
// value is tokenfed's (an OIDC claim can hold a newline, and tokenfed
// prefixes names but does not refuse them), so each is printed as it is
// only when it is plain, and otherwise Go-quoted (strconv.Quote): a value
// cannot add a line, hide the rest of its own with a carriage return or a
// terminal escape, or pass for two values of a list.
func humanStatus(st authenticationv1.TokenReviewStatus) string {
	if !st.Authenticated {
		if st.Error == "" {
			return "not authenticated\n"
		}
		return "not authenticated: " + oneLine(st.Error) + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "authenticated: %s\n", quoted(st.User.Username, ""))
	if st.User.UID != "" {
		fmt.Fprintf(&b, "uid: %s\n", quoted(st.User.UID, ""))
	}
	if len(st.User.Groups) > 0 {
		fmt.Fprintf(&b, "groups: %s\n", quotedList(st.User.Groups, ", ", ","))
	}
	if len(st.Audiences) > 0 {
		fmt.Fprintf(&b, "audiences: %s\n", quotedList(st.Audiences, ", ", ","))
	}
	for _, k := range slices.Sorted(maps.Keys(st.User.Extra)) {
		fmt.Fprintf(&b, "extra: %s=%s\n", quoted(k, "="), quotedList(st.User.Extra[k], ",", ","))
	}
	return b.String()
}

// quoted is s as it is when it is plain, else strconv.Quote(s). Plain:
// not empty, printable (unicode.IsPrint: no control, format or line
// separator characters; the only space is U+0020), no leading or trailing
// space, no quote or backslash (which would read as quoted), and none of
// seps, the separators of its line.
func quoted(s, seps string) string {
	plain := s != "" && strings.TrimSpace(s) == s && !strings.ContainsAny(s, `"\`+seps) &&
		!strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
	if plain {
		return s
	}
	return strconv.Quote(s)
}

func quotedList(values []string, join, seps string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = quoted(v, seps)
	}
	return strings.Join(q, join)
}

// oneLine is a sentence of tokenfed's (a reason, an error) as it is when
// every character of it is printable, else strconv.Quote'd: it is the rest
// of its line, so only what would break the line is a reason to quote.
func oneLine(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// unknownAuthority: tokenfed's serving certificate did not chain to the
// roots used, the usual sign of a missing --certificate-authority.
func unknownAuthority(err error) bool {
	var authority x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &authority) || (errors.As(err, &verify) && errors.As(verify.Err, &authority))
}
