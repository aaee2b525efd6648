package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// answer is the part of a TokenReview (v1 and v1beta1 alike) or a
// metav1.Status that the checks read.
type answer struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Token string `json:"token"`
	} `json:"spec"`
	Status json.RawMessage `json:"status"`
	// Code is metav1.Status's.
	Code int `json:"code"`
}

type reviewStatus struct {
	Authenticated bool   `json:"authenticated"`
	Error         string `json:"error"`
	User          struct {
		Username string              `json:"username"`
		Extra    map[string][]string `json:"extra"`
	} `json:"user"`
}

// problem is an unexpected answer: reason is its kind, counted per class;
// detail explains one occurrence and never holds the token.
type problem struct{ reason, detail string }

// check compares an answer with what r wants. It returns nil when the
// answer is the expected one.
func check(r request, code int, body []byte) *problem {
	if r.token != "" && bytes.Contains(body, []byte(r.token)) {
		// The answer is not quoted: it holds the token.
		return &problem{"token in the answer", fmt.Sprintf("HTTP %d", code)}
	}
	if code >= 500 {
		return &problem{"HTTP 5xx", fmt.Sprintf("HTTP %d: %.300s", code, body)}
	}
	if code != r.want.code {
		return &problem{"wrong HTTP status", fmt.Sprintf("HTTP %d, want %d: %.300s", code, r.want.code, body)}
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return &problem{"undecodable answer", fmt.Sprintf("HTTP %d: %v", code, err)}
	}
	if code != http.StatusOK {
		if a.Kind != "Status" || a.Code != code {
			return &problem{"wrong error body", fmt.Sprintf("HTTP %d with kind %q code %d, want a Status of code %d", code, a.Kind, a.Code, code)}
		}
		return nil
	}
	return checkReview(r, a)
}

func checkReview(r request, a answer) *problem {
	if a.APIVersion != r.apiVersion || a.Kind != "TokenReview" {
		return &problem{"wrong apiVersion or kind", fmt.Sprintf("got %s %s, want %s TokenReview", a.APIVersion, a.Kind, r.apiVersion)}
	}
	if a.Spec.Token != "" {
		return &problem{"spec.token in the answer", "the answer carries spec.token"}
	}
	var st reviewStatus
	if err := json.Unmarshal(a.Status, &st); err != nil {
		return &problem{"undecodable answer", fmt.Sprintf("status: %v", err)}
	}
	w := r.want
	switch {
	case st.Authenticated != w.authenticated:
		return &problem{"wrong authenticated", fmt.Sprintf("authenticated %v, want %v (error %q)", st.Authenticated, w.authenticated, st.Error)}
	case !w.authenticated && st.Error == "":
		return &problem{"refusal without status.error", "authenticated false and no error"}
	case !w.authenticated && st.User.Username != "":
		return &problem{"user in a refusal", fmt.Sprintf("authenticated false with user %q", st.User.Username)}
	case w.authenticated && st.User.Username != w.username:
		return &problem{"wrong username", fmt.Sprintf("user %q, want %q", st.User.Username, w.username)}
	}
	for k, v := range w.extra {
		if got := st.User.Extra[k]; len(got) != 1 || got[0] != v {
			return &problem{"wrong extra", fmt.Sprintf("extra %s = %q, want [%q]", k, got, v)}
		}
	}
	return nil
}
