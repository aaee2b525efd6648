package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// exampleConfiguration is what tokenfed config defaults prints: every
// default, and the few values without one set to examples, so that it is
// valid as it is. The issuers are there for their defaults, which only an
// issuer has.
func exampleConfiguration() *v1alpha1.Configuration {
	cfg := &v1alpha1.Configuration{
		Server: v1alpha1.Server{
			TLSCertFile:       "/etc/tokenfed/tls/tls.crt",
			TLSPrivateKeyFile: "/etc/tokenfed/tls/tls.key",
			ClientCAFile:      "/etc/tokenfed/callers/ca.crt",
		},
		Issuers: []v1alpha1.Issuer{{
			Name:     "cluster-a",
			URL:      "https://cluster-a.example.com",
			Upstream: &v1alpha1.Upstream{Kubeconfig: "/etc/tokenfed/cluster-a/kubeconfig"},
		}, {
			Name:      "corp",
			Type:      v1alpha1.IssuerTypeOIDC,
			URL:       "https://login.example.com",
			Audiences: []string{"tokenfed"},
		}},
	}
	v1alpha1.SetDefaults(cfg)
	return cfg
}

// exampleComments mark, by field path, what in exampleConfiguration is
// an example rather than a default, and defaults that derive from other
// fields.
var exampleComments = map[string]string{
	"server.tlsCertFile":             "example, required",
	"server.tlsPrivateKeyFile":       "example, required",
	"server.clientCAFile":            "example: callers need a credential (this, or callers.tokens), unless callers.allowAnonymous is true",
	"issuers":                        "examples, one of each type; by default there are none, and every token is rejected",
	"issuers[0].name":                "example",
	"issuers[0].url":                 "example: the exact iss of the issuer's tokens",
	"issuers[0].audiences":           "default for ServiceAccount: [url]",
	"issuers[0].mapping.prefix":      "default: the issuer's name and \":\"",
	"issuers[0].upstream":            "example, optional; with it, these defaults",
	"issuers[0].upstream.kubeconfig": "example; or inCluster: true",
	"issuers[1].name":                "example",
	"issuers[1].type":                "example; without claimMappings, the username is the sub claim",
	"issuers[1].url":                 "example",
	"issuers[1].audiences":           "example, required for OIDC: the client ID the token's aud carries",
	"callers.authorization.mode":     "with no static list, every authenticated caller may review every issuer and read every endpoint (docs/callers.md)",
	"issuers[1].mapping.prefix":      "default: the issuer's name and \":\"",
}

// exampleHead and exampleFoot frame the example.
const exampleHead = `tokenfed config defaults: every default, filled in.
Values marked "example" have no default; the issuers show the defaults an
issuer gets. As it is, this file passes tokenfed config validate.`

func exampleFoot() string {
	return fmt.Sprintf(`Defaults of blocks that are not set above:
  callers.authorization.delegated: allowCacheTTL %s, denyCacheTTL %s
  rateLimit (of callers.authorization.static[] and of delegated): burst is qps, rounded up
  issuers[].revocation (ServiceAccount, with an upstream; mode: watch required):
    secrets false, notSynced %s, maxWatchOutage %s (docs/revocation.md)`,
		v1alpha1.DefaultAllowCacheTTL, v1alpha1.DefaultDenyCacheTTL,
		v1alpha1.RevocationFallbackUpstream, v1alpha1.DefaultMaxWatchOutage)
}

func exampleYAML() ([]byte, error) {
	return configYAML(exampleConfiguration(), exampleHead, exampleComments, exampleFoot())
}

// configYAML renders cfg as YAML, its fields in the order of the types
// (apiVersion and kind first), with comments: head above, foot below, and
// comments by field path on their lines.
func configYAML(cfg *v1alpha1.Configuration, head string, comments map[string]string, foot string) ([]byte, error) {
	data, err := json.Marshal(cfg) // keeps the order of the fields
	if err != nil {
		return nil, err
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	// TypeMeta declares kind first; manifests start with apiVersion.
	if c := root.Content; len(c) >= 4 && c[0].Value == "kind" && c[2].Value == "apiVersion" {
		c[0], c[1], c[2], c[3] = c[2], c[3], c[0], c[1]
	}
	blockStyle(root)
	root.HeadComment, root.FootComment = head, foot
	for path, comment := range comments {
		key, value := lookup(root, path)
		switch {
		case value == nil:
			return nil, fmt.Errorf("comment for %s, which is not in the configuration", path)
		case value.Kind == yamlv3.ScalarNode || key == nil:
			value.LineComment = comment
		default:
			key.LineComment = comment
		}
	}
	var buf bytes.Buffer
	enc := yamlv3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blockStyle undoes the JSON styles (flow collections, every string
// quoted). A string stays quoted when tokenfed would not read it back as
// that string unquoted: it reads YAML 1.1, where yes and on are booleans.
func blockStyle(n *yamlv3.Node) {
	n.Style = 0
	if n.Kind == yamlv3.ScalarNode && n.Tag == "!!str" {
		var back any
		if err := yaml.Unmarshal([]byte(n.Value), &back); err != nil || back != n.Value {
			n.Style = yamlv3.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// pathElem is a field name or a list index.
var pathElem = regexp.MustCompile(`^([^.\[]+)|^\.([^.\[]+)|^\[(\d+)\]`)

// lookup finds the node of a field path such as issuers[0].mapping.prefix
// under a mapping, and the key node it is the value of (nil for a list
// element).
func lookup(n *yamlv3.Node, path string) (key, value *yamlv3.Node) {
	value = n
	for path != "" {
		m := pathElem.FindStringSubmatch(path)
		if m == nil || value == nil {
			return nil, nil
		}
		path = path[len(m[0]):]
		if m[3] != "" {
			i, _ := strconv.Atoi(m[3])
			if value.Kind != yamlv3.SequenceNode || i >= len(value.Content) {
				return nil, nil
			}
			key, value = nil, value.Content[i]
			continue
		}
		name := m[1] + m[2]
		if value.Kind != yamlv3.MappingNode {
			return nil, nil
		}
		next := value
		value = nil
		for i := 0; i+1 < len(next.Content); i += 2 {
			if next.Content[i].Value == name {
				key, value = next.Content[i], next.Content[i+1]
				break
			}
		}
	}
	return key, value
}
