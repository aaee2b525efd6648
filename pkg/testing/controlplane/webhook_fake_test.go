package controlplane

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

const (
	webhookToken = "webhook-test-token"
	webhookUser  = "webhook-user"
)

// fakeWebhook is a wire-level stand-in for tokenfed: it knows one token and
// records which TokenReview versions kube-apiserver sent.
type fakeWebhook struct {
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	versions map[string]int
}

func newFakeWebhook(t *testing.T) *fakeWebhook {
	t.Helper()
	h := &fakeWebhook{versions: map[string]int{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	h.caFile = filepath.Join(t.TempDir(), "webhook-ca.crt")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw})
	if err := os.WriteFile(h.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *fakeWebhook) serve(w http.ResponseWriter, r *http.Request) {
	var review struct {
		APIVersion string `json:"apiVersion"`
		Spec       struct {
			Token string `json:"token"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.versions[review.APIVersion]++
	h.mu.Unlock()
	status := map[string]any{"authenticated": false}
	if review.Spec.Token == webhookToken {
		status = map[string]any{"authenticated": true, "user": map[string]any{"username": webhookUser}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": review.APIVersion, "kind": "TokenReview", "status": status})
}

func (h *fakeWebhook) seen(version string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.versions[version]
}
