package main

import (
	"fmt"

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
kubeconfig's own directory; --embed-certs writes the contents instead.

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

func runWebhookKubeconfig(cmd *cobra.Command, o kubeconfig.Options, output string) error {
	data, err := kubeconfig.Generate(o)
	if err != nil {
		return err
	}
	if !o.HasCredential() {
		fmt.Fprintln(cmd.ErrOrStderr(), "Warning: no --client-certificate or --caller-token-file: tokenfed answers this member with 401 unless its config sets callers.allowAnonymous")
	}
	if output == "" {
		_, err = cmd.OutOrStdout().Write(data)
		return err
	}
	return kubeconfig.WriteFile(output, data)
}
