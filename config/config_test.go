// Package config_test checks the kustomize manifests and sample
// configurations in this directory: every YAML file parses, every tokenfed
// Configuration decodes and validates, and `kubectl kustomize` builds
// objects that decode strictly into their Go types and are wired together.
package config_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// splitDocuments splits a YAML stream and drops empty and comment-only
// documents.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, err
		}
		if string(j) != "null" {
			docs = append(docs, doc)
		}
	}
}

func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestYAMLParses parses every YAML file here as kubectl would: no duplicate
// keys, and every document names its apiVersion and kind.
func TestYAMLParses(t *testing.T) {
	files := yamlFiles(t)
	if len(files) == 0 {
		t.Fatal("got no YAML files under config/")
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := splitDocuments(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) == 0 {
				t.Fatal("got no documents, want at least one")
			}
			for i, doc := range docs {
				var meta struct {
					APIVersion string `json:"apiVersion"`
					Kind       string `json:"kind"`
				}
				if err := yaml.Unmarshal(doc, &meta); err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				if meta.APIVersion == "" || meta.Kind == "" {
					t.Errorf("document %d: got apiVersion %q kind %q, want both set", i, meta.APIVersion, meta.Kind)
				}
			}
		})
	}
}

// configurations are the tokenfed Configuration files here. samples/dev.yaml
// is one too: it validates, although its relative certificate paths only
// resolve from the repository root.
func configurations(t *testing.T) []string {
	t.Helper()
	samples, err := filepath.Glob("samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return append(samples, managerConfig)
}

// managerConfig becomes the ConfigMap the Deployment reads.
const managerConfig = "manager/config.yaml"

func TestConfigurationsValidate(t *testing.T) {
	files := configurations(t)
	if len(files) < 3 {
		t.Fatalf("got configurations %v, want samples/dev.yaml, samples/federation.yaml and %s at least", files, managerConfig)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			cfg, err := v1alpha1.LoadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
				t.Errorf("got errors, want none:\n%v", errs.ToAggregate())
			}
		})
	}
}

// TestInClusterIssuersFetchKeysDirectly: an issuer that is the API server
// of the cluster tokenfed runs in, fetched with the pod's credentials,
// names its jwksURL. kube-apiserver's discovery document puts jwks_uri at
// its own address (https://<node IP>:6443/openid/v1/jwks, unless
// --service-account-jwks-uri says otherwise), another origin than the
// Service name, and tokenfed sends fetch credentials to the discovery
// document's origin only: by discovery, the keys would never load, and
// with readiness.issuers all no pod would ever be ready.
func TestInClusterIssuersFetchKeysDirectly(t *testing.T) {
	for _, file := range configurations(t) {
		cfg, err := v1alpha1.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, iss := range cfg.Issuers {
			u, err := url.Parse(iss.URL)
			if err != nil {
				t.Fatal(err)
			}
			inCluster := strings.HasPrefix(u.Hostname(), "kubernetes.default.svc")
			credentials := iss.Fetch.BearerTokenFile != "" || iss.Fetch.ClientCertFile != ""
			if inCluster && credentials && iss.JWKSURL == "" {
				t.Errorf("%s: issuer %s is the API server tokenfed runs next to, fetched with credentials, by discovery: set jwksURL: %s/openid/v1/jwks", file, iss.Name, strings.TrimSuffix(iss.URL, "/"))
			}
		}
	}
}
