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
COMMIT   := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
# The image's creation time and file times: the commit's, so that the same
# commit builds the same image (https://reproducible-builds.org/specs/source-date-epoch/).
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
# -w drops DWARF (15 MB) but keeps the symbol table, which govulncheck
# reads to tell which vulnerable functions the binary contains.
LDFLAGS  := -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Static (no cgo, so no libc: the image has none) and without the build
# machine's paths; `make build` and `make image` build alike.
GOBUILD   = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
IMAGE_REPO      ?= ghcr.io/tokenfed/tokenfed
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
# Tests start real kube-apiservers; the first build of them takes minutes.
TEST_TIMEOUT ?= 60m

.PHONY: all build version image certs controlplane run edge test test-unit test-e2e bench fuzz soak lint clean

all: build

build: ## bin/tokenfed, static
	$(GOBUILD) -o $(BIN)/tokenfed ./cmd/tokenfed

version: ## the version make build and make image use
	@echo $(VERSION)

# One binary per platform, then hack/image puts each in an image from
# scratch: bin/image is an OCI layout (push it with crane or skopeo), and
# bin/image-<os>-<arch>.tar a docker archive (docker load, kind load
# image-archive). See README.md, "Container image".
image: ## OCI image of every IMAGE_PLATFORMS in bin/image, docker archives beside it
	@set -e; for p in $(IMAGE_PLATFORMS); do \
	  start=$$(date +%s); echo "image: building tokenfed $(VERSION) for $$p ..."; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GOBUILD) -o $(BIN)/platforms/$$(echo $$p | tr / _)/tokenfed ./cmd/tokenfed; \
	  echo "image: built $$p in $$(( $$(date +%s) - start ))s"; \
	done
	$(GO) run ./hack/image --version $(VERSION) --revision $(COMMIT) --source-date-epoch $(SOURCE_DATE_EPOCH) \
	  --repository $(IMAGE_REPO) --out $(BIN)/image --archive-dir $(BIN) \
	  $(foreach p,$(IMAGE_PLATFORMS),--binary $(p)=$(BIN)/platforms/$(subst /,_,$(p))/tokenfed)

certs: ## development CA, serving and client certificates in certs/
	$(GO) run ./hack/devcerts certs

controlplane: ## build (or reuse) etcd and kube-apiserver from Go modules
	$(GO) run ./hack/ensure-controlplane

# Tests and the demo run bin/tokenfed instead of each building its own copy
# into a temporary directory.
export TOKENFED_BINARY ?= $(abspath $(BIN)/tokenfed)
# test/image checks the image make image wrote, and that it is this
# version's.
export TOKENFED_IMAGE ?= $(abspath $(BIN)/image)
export TOKENFED_VERSION := $(VERSION)

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

test: lint build image controlplane ## the whole suite, as CI runs it
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-unit: build ## only the packages that need no control plane
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /test/ -e /pkg/testing/controlplane)

test-e2e: build controlplane ## only the end-to-end tests against real kube-apiservers
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -v ./test/e2e/...

bench: build controlplane ## side-by-side benchmarks; writes test/bench/RESULTS.md
	$(GO) run ./test/bench

# The targets are listed in hack/fuzz.sh, which runs them one after the
# other (go test -fuzz takes one at a time) and prints each one's execs/s
# and corpus size; docs/reliability.md, "Fuzzing", says what each checks.
FUZZTIME ?= 60s
fuzz: ## every fuzz target for FUZZTIME each: make fuzz FUZZTIME=10s
	FUZZTIME=$(FUZZTIME) ./hack/fuzz.sh

# How long make soak keeps tokenfed under load: `make soak SOAKTIME=30m`.
# Not part of make test: it takes SOAKTIME plus about a minute. Under 5m
# (a quick try) RSS is not judged and the results go to bin/soak/.
SOAKTIME ?= 10m

soak: build controlplane ## SOAKTIME (10m) of mixed load: RSS, goroutines, fds stay flat; writes test/soak/RESULTS.md
	$(GO) run ./test/soak -duration $(SOAKTIME)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './hack/controlplane/*' -not -path './bin/*') 2>&1); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN) certs
