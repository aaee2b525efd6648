package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tokenfed/tokenfed/pkg/kubeconfig"
)

func newWebhookKubeconfigCommand() *cobra.Command {
	o := &kubeconfig.Options{}
	var output string
	cmd := &cobra.Command{
		Use:   "webhook-kubeconfig --server URL [flags]",
		Short: "Write the kubeconfig a member kube-apiserver uses to call tokenfed",
		Long: `Write the kubeconfig a member kube-apiserver reads with
--authentication-token-webhook-config-file: the cluster is tokenfed, the user
is the member's caller certificate (or caller token file).

Files are checked before anything is written: the CA must be PEM
certificates, and the certificate and key must be a pair. Paths are written
as absolute paths, because kube-apiserver resolves relative ones against the
kubeconfig's own directory; --embed-certs writes the contents instead: the
certificates re-encoded, which must then be files of PEM certificates, blank
lines and # comments only, and the key block alone.

With --embed-certs and --client-key the kubeconfig holds a private key: write
it with -o, mode 0600. It is not printed to a terminal; printed to anything
else (a pipe, a shell redirect, whose file gets the umask's mode) it comes
with a warning, unless standard output is a file only its owner can read.

Start the member's kube-apiserver with:

  --authentication-token-webhook-config-file=<this file>
  --authentication-token-webhook-version=v1
  --authentication-token-webhook-cache-ttl=30s

and give each member its own --api-audiences (see docs/members.md).`,
		Example: `  tokenfed webhook-kubeconfig --server https://tokenfed.example:8443 \
    --certificate-authority ca.crt --client-certificate member-a.crt --client-key member-a.key \
    --embed-certs -o webhook.kubeconfig`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWebhookKubeconfig(cmd, *o, output)
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write, mode 0600 as it may hold a private key (default: standard output)")
	return cmd
}

// errKeyToTerminal: a private key printed to a terminal stays in its
// scrollback, a screen recording or a shared session.
var errKeyToTerminal = errors.New("--embed-certs with --client-key writes a private key, and standard output is a terminal: give -o FILE (written with mode 0600)")

func runWebhookKubeconfig(cmd *cobra.Command, o kubeconfig.Options, output string) error {
	stdout := cmd.OutOrStdout()
	withKey := o.EmbedCerts && o.ClientKey != ""
	if output == "" && withKey && isTerminal(stdout) {
		return errKeyToTerminal
	}
	data, err := kubeconfig.Generate(o)
	if err != nil {
		return err
	}
	if !o.HasCredential() {
		fmt.Fprintln(cmd.ErrOrStderr(), "Warning: no --client-certificate or --caller-token-file: tokenfed answers this member with 401 unless its config sets callers.allowAnonymous")
	}
	if output == "" {
		if withKey && !privateFile(stdout) {
			fmt.Fprintln(cmd.ErrOrStderr(), "Warning: the kubeconfig holds the private key of --client-key; a file a shell redirect creates gets the umask's mode (often 0644), not 0600: prefer -o FILE")
		}
		_, err = stdout.Write(data)
		return err
	}
	return kubeconfig.WriteFile(output, data)
}

// privateFile: w is a regular file that only its owner can read, so a key
// written to it stays as private as -o would keep it.
func privateFile(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 == 0
}
