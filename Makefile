# tokenfed — see README.md. Every target works on a fresh machine with Go
# and the Go module proxy; no Docker, no cluster.
GO       ?= go
BIN      := bin
# The version built: a v* tag on HEAD (a release), else a development build
# of the release in ./VERSION; hack/version.sh says why. Both can be set:
# `make image VERSION=v0.1.0-rc.1`. Evaluated once, not at every use.
ifeq ($(origin VERSION),undefined)
VERSION  := $(shell ./hack/version.sh)
endif
ifeq ($(origin COMMIT),undefined)
COMMIT   := $(shell git rev-parse HEAD 2>/dev/null)
endif
# -w drops DWARF (15 MB) but keeps the symbol table, which govulncheck
# reads to tell which vulnerable functions the binary contains.
LDFLAGS  := -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Static (no cgo, so no libc: the image has none) and without the build
# machine's paths.
GOBUILD   = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
# Tests start real kube-apiservers; the first build of them takes minutes.
TEST_TIMEOUT ?= 60m

.PHONY: all build version certs controlplane run edge test test-unit test-e2e bench lint clean

all: build

build: ## bin/tokenfed, static
	$(GOBUILD) -o $(BIN)/tokenfed ./cmd/tokenfed

version: ## the version make build and make image use
	@echo $(VERSION)

certs: ## development CA, serving and client certificates in certs/
	$(GO) run ./hack/devcerts certs

controlplane: ## build (or reuse) etcd and kube-apiserver from Go modules
	$(GO) run ./hack/ensure-controlplane

# Tests and the demo run bin/tokenfed instead of each building its own copy
# into a temporary directory.
export TOKENFED_BINARY ?= $(abspath $(BIN)/tokenfed)

run: build controlplane ## the local federation demo: hub, tokenfed, member
	$(GO) build -o $(BIN)/demo ./hack/demo
	@# Run the binary, not `go run`: Ctrl-C then ends the demo cleanly
	@# instead of failing the make target.
	$(BIN)/demo

# EDGE_FLAGS=--stay keeps everything up after the walkthrough, until Ctrl-C.
edge: build controlplane ## the edge-device story of docs/edge.md: hub, tokenfed, edge API, device
	$(GO) build -o $(BIN)/edge ./hack/edge
	$(GO) build -o $(BIN)/edge-device ./hack/edge/device
	$(BIN)/edge --device $(BIN)/edge-device $(EDGE_FLAGS)

test: lint build controlplane ## the whole suite, as CI runs it
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-unit: build ## only the packages that need no control plane
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /test/ -e /pkg/testing/controlplane)

test-e2e: build controlplane ## only the end-to-end tests against real kube-apiservers
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -v ./test/e2e/...

bench: build controlplane ## side-by-side benchmarks; writes test/bench/RESULTS.md
	$(GO) run ./test/bench

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './hack/controlplane/*' -not -path './bin/*') 2>&1); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN) certs
