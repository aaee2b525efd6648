package kubeconfig

import "github.com/spf13/pflag"

// Flag names. They follow `kubectl config set-cluster` and
// `set-credentials`, whose flags set the same kubeconfig fields.
const (
	flagServer               = "server"
	flagCertificateAuthority = "certificate-authority"
	flagTLSServerName        = "tls-server-name"
	flagClientCertificate    = "client-certificate"
	flagClientKey            = "client-key"
	flagCallerTokenFile      = "caller-token-file"
	flagEmbedCerts           = "embed-certs"
	flagName                 = "name"
)

// AddFlags binds o to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Server, flagServer, o.Server, "tokenfed's https URL; without a path, "+AuthenticatePath+" is appended (required)")
	fs.StringVar(&o.CertificateAuthority, flagCertificateAuthority, o.CertificateAuthority, "PEM CA certificates that verify tokenfed's serving certificate (default: the system roots where kube-apiserver runs)")
	fs.StringVar(&o.TLSServerName, flagTLSServerName, o.TLSServerName, "name to verify tokenfed's serving certificate against, instead of the host in --"+flagServer)
	fs.StringVar(&o.ClientCertificate, flagClientCertificate, o.ClientCertificate, "the member's caller certificate (PEM), signed by tokenfed's server.clientCAFile")
	fs.StringVar(&o.ClientKey, flagClientKey, o.ClientKey, "the key of --"+flagClientCertificate+" (PEM)")
	fs.StringVar(&o.CallerTokenFile, flagCallerTokenFile, o.CallerTokenFile, "instead of a certificate: a file holding the member's caller token (minted for tokenfed's audience); always referenced by path, as client-go re-reads it")
	fs.BoolVar(&o.EmbedCerts, flagEmbedCerts, o.EmbedCerts, "embed the CA, certificate and key in the kubeconfig instead of referencing their (absolute) paths")
	fs.StringVar(&o.Name, flagName, DefaultName, "name of the cluster, user and context in the kubeconfig")
}
