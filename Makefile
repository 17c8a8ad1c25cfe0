# gpu-autoscaling — build, test, lint, demo.
#
# Every tool the targets use (helm, kubectl, the cluster binaries of the
# sandbox) is built from pinned Go modules into ./bin, which comes first on
# PATH: nothing relies on a helm or kubectl that happens to be installed.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
BIN := $(ROOT)/bin
DIST := $(ROOT)/dist
CHART := charts/gpu-autoscaling
# Cluster binaries are cached outside the clone, keyed by the tools modules' go.sum.
CACHE ?= $(HOME)/.cache/gpu-autoscaling

export PATH := $(BIN):$(PATH)
export CGO_ENABLED := 1
# go-nvml's headers use deprecated declarations; keep cgo builds quiet about them.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
export GPU_AUTOSCALING_CACHE := $(CACHE)
export GPU_AUTOSCALING_BIN := $(BIN)

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO_TEST_FLAGS ?=
# Packages with cgo hot paths run under the race detector as well.
RACE_PKGS := ./exporter/...

# As helm's own release build does: its version and the Kubernetes version it
# assumes offline (helm template / lint), taken from the client-go it links.
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=v3.22.0 \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37

say = @printf '\n==> %s\n' "$(1)"

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/helm: go.mod go.sum Makefile
	$(call say,building helm CLI from helm.sh/helm/v3 (pinned in go.mod) into bin/)
	$(GO) build -trimpath -ldflags "-s -w $(HELM_LDFLAGS)" -o $@ helm.sh/helm/v3/cmd/helm

$(BIN)/kubectl: go.mod go.sum tools/kubectl/main.go
	$(call say,building kubectl from k8s.io/kubectl (pinned in go.mod) into bin/)
	$(GO) build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v1.37.2 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" -o $@ ./tools/kubectl

$(BIN)/actionlint: tools/actionlint/go.mod tools/actionlint/go.sum
	$(call say,building actionlint from github.com/rhysd/actionlint (pinned in tools/actionlint) into bin/)
	cd tools/actionlint && $(GO) build -trimpath -ldflags "-s -w" -o $@ github.com/rhysd/actionlint/cmd/actionlint

$(BIN)/ct: tools/chart-testing/go.mod tools/chart-testing/go.sum
	$(call say,building ct from github.com/helm/chart-testing/v3 (pinned in tools/chart-testing) into bin/)
	cd tools/chart-testing && $(GO) build -trimpath -ldflags "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$$($(GO) list -m -f '{{.Version}}' github.com/helm/chart-testing/v3)" -o $@ github.com/helm/chart-testing/v3/ct

.PHONY: tools
tools: $(BIN)/helm $(BIN)/kubectl ## build the pinned helm and kubectl into bin/

.PHONY: cluster-tools
cluster-tools: ## build (or reuse) the sandbox's cluster binaries (etcd, kube-*, kubelet, kube-proxy, containerd, kwok, adapter, metrics-server, kube-state-metrics) and Debian's prometheus, runc, CNI plugins, iptables
	$(call say,cluster binaries (cache: $(CACHE)))
	tools/cluster/build.sh $(BIN)

.PHONY: build
build: tools ## build every Go package, the exporter and the operator commands into bin/
	$(call say,go build ./...)
	$(GO) build ./...
	$(call say,exporter into bin/ (-tags grpcnotrace keeps grpc's unused tracing out: -4 MB; steady RSS 19 MiB))
	$(GO) build -trimpath -tags grpcnotrace -ldflags "-s -w -X github.com/prometheus/common/version.Version=$(VERSION)" -o $(BIN)/gpu-metrics-exporter ./exporter/cmd/gpu-metrics-exporter
	$(call say,operator commands into bin/)
	@for d in scripts/cmd/*; do \
		echo "go build -o bin/$$(basename $$d) ./$$d"; \
		$(GO) build -trimpath -o $(BIN)/$$(basename $$d) ./$$d; \
	done

# GPU_AUTOSCALING_REQUIRE_PREREQUISITES=1: a test that would skip for a missing
# binary (helm, promtool, cluster binaries) fails instead; they were all built above.
# Packages whose tests start a sandbox cluster; they run one at a time (-p 1)
# so that two clusters never share the 2 cores of a CI machine.
CLUSTER_PKGS := ./internal/sandbox ./tests/e2e ./scripts/cmd/sandbox ./scripts/cmd/deploy-auto-scaling

.PHONY: test
test: tools cluster-tools images ## run every test tier: exporter (with -race), chart render and unit, then the clusters (the real node)
	$(call say,go vet ./...)
	$(GO) vet ./...
	$(call say,tier 1: exporter tests with the race detector)
	$(GO) test -race -count=1 $(GO_TEST_FLAGS) $(RACE_PKGS)
	$(call say,tier 1: exporter/conntrackshim (its own module: the go-conntrack stand-in))
	cd exporter/conntrackshim && $(GO) vet ./... && $(GO) test -race -count=1 $(GO_TEST_FLAGS) ./...
	$(call say,tier 2: chart render tests and unit tests (-short: nothing starts a cluster))
	GPU_AUTOSCALING_REQUIRE_PREREQUISITES=1 $(GO) test -short -count=1 $(GO_TEST_FLAGS) $$($(GO) list ./... | grep -v '/exporter')
	$(call say,tier 3: sandbox cluster; end-to-end suite; operator tooling on the sandbox (one at a time))
	GPU_AUTOSCALING_REQUIRE_PREREQUISITES=1 $(GO) test -p 1 -count=1 -timeout 45m $(GO_TEST_FLAGS) $(CLUSTER_PKGS)

.PHONY: bench
bench: ## exporter benchmarks: /metrics latency (p50/p99, allocs) vs fork+exec, steady RSS after 1,000 scrapes
	$(call say,exporter benchmarks)
	$(GO) test -run '^$$' -bench 'MetricsEndpoint|ScrapeVsForkExec|ForkExecTrue' -benchmem -benchtime 2000x ./exporter/cmd/gpu-metrics-exporter/
	$(GO) test -run '^$$' -bench ExporterRSS -benchtime 1000x ./exporter/cmd/gpu-metrics-exporter/

.PHONY: bench-flap
bench-flap: tools cluster-tools images ## anti-flap benchmark on the sandbox (about 11 min): a bursty GPU load read averaged vs instantaneously, replica changes and provisioning
	$(call say,anti-flap benchmark: a bursty load read averaged and instantaneously)
	@mkdir -p out
	GPU_AUTOSCALING_BENCH_FLAP=1 GPU_AUTOSCALING_REQUIRE_PREREQUISITES=1 $(GO) test -count=1 -timeout 20m -run '^TestBurstyLoadFlap$$' -v ./tests/e2e/ 2>&1 \
		| tee out/bench-flap.log | grep -E 'figure:|^(--- |ok|FAIL|PASS)|_test.go:'
	@echo "full log: out/bench-flap.log"

.PHONY: lint
lint: tools $(BIN)/actionlint $(BIN)/ct ## gofmt, go vet, actionlint, ct lint, helm lint --strict and helm template (the gate for cross-field rules) for every values file
	$(call say,gofmt)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(call say,go vet ./...)
	$(GO) vet ./...
	cd exporter/conntrackshim && $(GO) vet ./...
	$(call say,actionlint (.github/workflows))
	$(BIN)/actionlint
	$(call say,ct lint (ct.yaml: yamllint and helm lint --strict of both charts))
	@command -v yamllint >/dev/null 2>&1 || { echo "ct lint needs yamllint: apt-get install yamllint (Debian's package)"; exit 1; }
	PATH=$(BIN):$$PATH $(BIN)/ct lint
	@if [ -d $(CHART) ]; then \
		printf '\n==> helm lint --strict %s\n' "$(CHART)"; \
		helm lint --strict $(CHART); \
		for f in values/*.yaml; do echo "helm lint --strict $(CHART) -f $$f"; helm lint --strict --quiet $(CHART) -f $$f; done; \
		printf '\n==> helm lint --strict charts/gpu-services\n'; \
		helm lint --strict --quiet charts/gpu-services; \
		for f in values/gpu-services/*.yaml; do echo "helm lint --strict charts/gpu-services -f $$f"; helm lint --strict --quiet charts/gpu-services -f $$f; done; \
		printf '\n==> helm template (helm lint reports a template fail only as INFO: rendering is the gate for cross-field rules)\n'; \
		helm template gpu-autoscaling $(CHART) >/dev/null; \
		for f in values/*.yaml; do echo "helm template $(CHART) -f $$f"; helm template gpu-autoscaling $(CHART) -f $$f >/dev/null; done; \
		helm template gpu-services charts/gpu-services >/dev/null; \
		for f in values/gpu-services/*.yaml; do echo "helm template charts/gpu-services -f $$f"; helm template gpu-services charts/gpu-services -f $$f >/dev/null; done; \
	fi

.PHONY: demo
demo: tools cluster-tools images ## the main job: sandbox up with its real node, chart deployed, a load scenario scaled live (DEMO_FLAGS=--keep …)
	$(call say,demo: building bin/demo)
	$(GO) build -o $(BIN)/demo ./scripts/cmd/demo
	$(BIN)/demo $(DEMO_FLAGS)

.PHONY: bench-production
bench-production: tools cluster-tools images ## the seed's production windows in real time (about 35 min): one up/down cycle judged step by step against the behavior, plot in out/bench-production/
	$(call say,bench-production: building bin/demo)
	$(GO) build -o $(BIN)/demo ./scripts/cmd/demo
	$(BIN)/demo --production --out out/bench-production $(DEMO_FLAGS)

.PHONY: test-e2e
test-e2e: tools cluster-tools images ## only the end-to-end suite on the sandbox's real node (verbose)
	$(GO) test -count=1 -v -timeout 30m ./tests/e2e

.PHONY: sandbox-up sandbox-status sandbox-down
sandbox-up: tools cluster-tools images ## start the sandbox with its real node (state in .sandbox/; SANDBOX_FLAGS=--chart also installs the chart and returns once its pods are Ready)
	$(GO) run ./scripts/cmd/sandbox up $(SANDBOX_FLAGS)
sandbox-status: ## processes, API readiness, nodes and APIServices of the sandbox
	$(GO) run ./scripts/cmd/sandbox status
sandbox-down: ## stop the sandbox's processes by PID
	$(GO) run ./scripts/cmd/sandbox down

# IMAGES=name,name selects images (default all: gpu-metrics-exporter, prometheus-adapter,
# kube-state-metrics, pause, gpu-service, fake-gpu-device-plugin; one whose program is not in the tree is skipped).
IMAGES ?=

.PHONY: images
images: ## build the container images without Docker into dist/images/ (OCI layout archives + digests.txt)
	$(call say,prometheus-adapter and kube-state-metrics binaries (cluster-tools components; cache: $(CACHE)))
	tools/cluster/build.sh $(BIN) adapter kube-state-metrics
	$(call say,images into dist/images/ (Debian packages cached in $(CACHE)/debs))
	$(GO) run ./scripts/cmd/images build --out $(DIST)/images --bin $(BIN) --cache $(CACHE) \
		--version $(VERSION) $(if $(IMAGES),--image $(IMAGES))

.PHONY: package
package: tools ## helm package + helm repo index into dist/ for chart-repository consumers
	$(call say,helm package into dist/)
	mkdir -p $(DIST)
	helm package $(CHART) charts/gpu-services --destination $(DIST)
	helm repo index $(DIST)
	@ls -l $(DIST)

.PHONY: clean
clean: ## stop a running sandbox, remove bin/, dist/, sandbox state (the cluster binary cache in $(CACHE) stays)
	$(call say,clean)
	if [ -f .sandbox/state.json ]; then $(GO) run ./scripts/cmd/sandbox down; fi
	rm -rf $(BIN) $(DIST) .sandbox out
