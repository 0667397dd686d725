# egress-conformance: `make test` (everything that needs no cluster) and `make e2e`
# (kind + a pinned Istio + real traffic). `make help` lists every target and variable.

# Every pinned version lives in pkg/versions/versions.env, shared with Go. Its values are
# defaults: a variable exported in the environment (ISTIO_VERSION=1.31.4 make e2e, or a CI
# job's env:) wins, as does one on the command line. A plain `include` would not allow the
# former: a makefile assignment overrides the environment. So the environment's values of
# the pinned names are saved before the include and restored after it.
PINNED_VARS := $(shell sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' pkg/versions/versions.env)
$(foreach v,$(PINNED_VARS),$(if $(filter environment,$(origin $(v))),$(eval env_$(v) := $$($(v)))))
include pkg/versions/versions.env
$(foreach v,$(PINNED_VARS),$(if $(env_$(v)),$(eval $(v) := $$(env_$(v)))))

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# A file target whose recipe fails (a smoke test after the image was written) is removed, so
# the next run tries again instead of trusting it.
.DELETE_ON_ERROR:

GO ?= go
# One set of build settings (CGO_ENABLED=0, -trimpath) for every go command make runs, so that
# vet, the tests and the command share one build cache. CGO_ENABLED=0 also makes the command one
# static binary, which its image needs: it is the only file in it. A build that differs in
# either setting compiles the whole module graph a second time: cgo changes package net, and
# with it every package above it (Istio, Kubernetes). On a fresh machine that second compile
# was a third of make test.
CGO_ENABLED ?= 0
export CGO_ENABLED
# Links leave out DWARF (-ldflags=-w) unless GOFLAGS names -ldflags itself (a debugger needs
# DWARF: GOFLAGS=-ldflags= keeps it): stack traces do not use it, and linking a test binary that
# includes Istio took a third less CPU without it (18.3 → 11.7 s for pkg/offline's).
GOFLAGS := $(strip $(filter-out -trimpath,$(GOFLAGS)) -trimpath $(if $(filter -ldflags=%,$(GOFLAGS)),,-ldflags=-w))
export GOFLAGS
# RUN_ID names the report directory reports/<RUN_ID>/; the suites make one up if empty.
RUN_ID ?=
export RUN_ID
# SCENARIOS is the scenario directory (or a single scenario) a suite runs on.
SCENARIOS ?= $(CURDIR)/scenarios
# LABEL_FILTER selects scenarios by Ginkgo label, e.g. LABEL_FILTER='http && !tls'.
LABEL_FILTER ?=
# GO_TEST_FLAGS is passed to every `go test`, e.g. GO_TEST_FLAGS=-v.
GO_TEST_FLAGS ?=
# PLANS holds the DRY_RUN plans the e2e-plan targets check, under .cache/ rather than at the
# top of the checkout, whose directory listing cmd/egress-conformance's cached tests depend on.
PLANS := $(CURDIR)/.cache/plans
# BIN is the command (a file target, see "the command" below); defined here because
# targets above that section name it as a prerequisite, which make expands on reading.
BIN := $(CURDIR)/bin/egress-conformance
BIN_SOURCES := $(shell find cmd pkg -name '*.go' ! -name '*_test.go') go.mod go.sum pkg/versions/versions.env

ginkgo_args = --scenarios=$(abspath $(SCENARIOS)) $(if $(LABEL_FILTER),--ginkgo.label-filter='$(LABEL_FILTER)')

.PHONY: help
help: ## Show targets and variables.
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: SCENARIOS=$(SCENARIOS) LABEL_FILTER=$(LABEL_FILTER) RUN_ID=$(RUN_ID)"
	@echo "           ISTIO_VERSION=$(ISTIO_VERSION) KIND_NODE_IMAGE=$(KIND_NODE_IMAGE)"

.PHONY: test
test: lint vet unit offline-corpora e2e-plan e2e-plan-istio-docs e2e-plan-ambient e2e-upgrade-plan integration image ## Everything that needs no cluster: lint, vet, unit/fuzz-seed tests, the offline suite, the DRY_RUN plans, the integration tier, the command's image.

.PHONY: vet
vet: ## go vet over the whole module (compiles every suite, cluster ones included).
	$(GO) vet ./...

# cmd/egress-conformance's tests run the command as users do; they test $(BIN), which make
# has just brought up to date, rather than link a second copy.
.PHONY: unit
unit: $(BIN) ## Unit and fuzz-seed tests of pkg/, cmd/ and hack/ (README's catalog table must be current).
	EGRESS_CONFORMANCE_TEST_BINARY=$(BIN) $(GO) test $(GO_TEST_FLAGS) ./pkg/... ./cmd/... ./hack/...

.PHONY: offline-catalog
offline-catalog: ## The offline suite over scenarios/ and the negative corpus (each broken scenario must fail as stated).
	$(GO) test $(GO_TEST_FLAGS) -count=1 ./suites/offline/ -args --scenarios=$(CURDIR)/scenarios --negative=$(CURDIR)/suites/offline/testdata/negative

# Istio's own documented egress tasks as scenarios (README, "Fidelity on istio.io's egress tasks").
ISTIO_DOCS := $(CURDIR)/suites/offline/testdata/istio-docs
.PHONY: offline-istio-docs
offline-istio-docs: ## The offline suite over istio.io's egress tasks (suites/offline/testdata/istio-docs) and their broken twins.
	$(GO) test $(GO_TEST_FLAGS) -count=1 ./suites/offline/ -args --scenarios=$(ISTIO_DOCS) --negative=$(ISTIO_DOCS)-negative

.PHONY: offline-corpora
offline-corpora: ## offline-catalog and offline-istio-docs in one run (what make test runs: the suite is linked once).
	$(GO) test $(GO_TEST_FLAGS) -count=1 ./suites/offline/ -args --scenarios=$(CURDIR)/scenarios --scenarios=$(ISTIO_DOCS) \
		--negative=$(CURDIR)/suites/offline/testdata/negative --negative=$(ISTIO_DOCS)-negative

# ---- the command (cmd/egress-conformance) -------------------------------------------------
# bin/egress-conformance is a file target: rebuilt only when a Go source of the command (cmd/,
# pkg/), go.mod, go.sum or the pins change. `go build` would also skip an unchanged link, but
# loading the package graph to find that out takes seconds; make's timestamps take none. The
# touch marks it current when go build found nothing to relink.
$(BIN): $(BIN_SOURCES)
	$(GO) build -o $@ ./cmd/egress-conformance
	@touch $@

.PHONY: build
build: $(BIN) ## Build the command into bin/egress-conformance (only when its sources changed).

# make offline writes reports/<RUN_ID>/ as the suites do: conformance.json, conformance.md, junit.xml.
offline_run_id = $(if $(RUN_ID),$(RUN_ID),$$(date -u +%Y%m%d-%H%M%S)-offline)

.PHONY: offline
offline: $(BIN) ## The offline tier on any scenario directory, with the built command: make offline SCENARIOS=/abs/or/rel/dir
	$(BIN) check --report "$(CURDIR)/reports/$(offline_run_id)" $(if $(LABEL_FILTER),--label-filter '$(LABEL_FILTER)') '$(SCENARIOS)'

.PHONY: offline-suite
offline-suite: ## The offline tier through its Ginkgo suite (what make offline ran before the command existed).
	$(GO) test $(GO_TEST_FLAGS) -count=1 ./suites/offline/ -args $(ginkgo_args)

.PHONY: bench-cli
bench-cli: $(BIN) ## The command's speed: one scenario, 200 scenarios (400 steps), next to istioctl analyze on the same files.
	bash hack/bench-cli.sh $(BIN)

.PHONY: go-install-check
go-install-check: ## go install ./cmd/egress-conformance@<this commit> from an empty module cache, as a user installs a release (committed files only).
	GO=$(GO) bash hack/go-install.sh $(if $(REV),$(REV),HEAD)
# The image is a file target too: built and smoke-tested again only when the command (or the
# image's own build) changes. It holds bin/egress-conformance itself, the binary the tests ran.
IMAGE := $(CURDIR)/bin/image/egress-conformance.tar
$(IMAGE): $(BIN) hack/image.sh $(shell find hack/image -type f)
	GO=$(GO) bash hack/image.sh $(BIN) $(CURDIR)/bin/image

.PHONY: image
image: $(IMAGE) ## The command's OCI image (go-containerregistry, no Docker) into bin/image/egress-conformance.tar, then run from the tarball.
# ---- end of the command --------------------------------------------------------------------

.PHONY: catalog
catalog: ## Regenerate README.md's scenario catalog table from scenarios/.
	$(GO) run ./hack/catalog

# ---- cluster tier -----------------------------------------------------------------------
# The cluster suite reads these variables from its environment (README lists them all).
# KUBECONFIG reaches it only together with KUBE_CONTEXT: an exported KUBECONFIG alone must
# neither block a kind run nor point the harness at a cluster nobody named.
EXTERNAL ?= internet
E2E_VARS := ISTIO_VERSION ISTIO_HUB PRELOAD_IMAGES KIND_NODE_IMAGE KIND_CONFIG CLUSTER_NAME EXTERNAL REUSE_CLUSTER KEEP_CLUSTER \
	KEEP_CLUSTER_ON_FAILURE ISTIOCTL CACHE_DIR TIMEOUTS SKIP_FILE DRY_RUN RUN_ID EXTERNAL_ALLOW_EXISTING_CLUSTER
e2e_env = $(foreach v,$(E2E_VARS),$(v)='$($(v))') SCENARIOS='$(abspath $(SCENARIOS))' \
	$(if $(KUBE_CONTEXT),KUBECONFIG='$(KUBECONFIG)' KUBE_CONTEXT='$(KUBE_CONTEXT)',KUBECONFIG= KUBE_CONTEXT=)
E2E_TIMEOUT ?= 180m

.PHONY: e2e
e2e: ## The cluster tier: kind + pinned Istio + real traffic (needs Docker). DRY_RUN=1 prints the plan only.
	@$(if $(KUBE_CONTEXT),,$(if $(KUBECONFIG),echo "note: KUBECONFIG is set but KUBE_CONTEXT is not: using a kind cluster; set KUBE_CONTEXT to test an existing cluster";))
	$(e2e_env) $(GO) test -count=1 -timeout 0 -v ./suites/egress/ -args --ginkgo.v --ginkgo.timeout=$(E2E_TIMEOUT) \
		$(if $(LABEL_FILTER),--ginkgo.label-filter='$(LABEL_FILTER)')

.PHONY: e2e-plan
e2e-plan: ## Prove `make e2e DRY_RUN=1` prints a complete plan here, without Docker (part of make test).
	@mkdir -p $(PLANS)
	$(MAKE) --no-print-directory e2e DRY_RUN=1 KUBE_CONTEXT= > $(PLANS)/e2e-plan.out
	grep -q '^## Scenario egress-gateway-http$$' $(PLANS)/e2e-plan.out
	grep -q 'egress-conformance-probe=' $(PLANS)/e2e-plan.out
	grep -q '^  workload: proxy (fixtures/workloads/squid.yaml) in egress-http-proxy-external without a sidecar .*; its pod IP is \$$PROXY_IP' $(PLANS)/e2e-plan.out
	grep -q '(variables substituted before apply: \$$PROXY_IP)' $(PLANS)/e2e-plan.out
	grep -q '^node image: kindest/node:.*@sha256:' $(PLANS)/e2e-plan.out
	grep -qx 'version: $(ISTIO_VERSION)' $(PLANS)/e2e-plan.out
	grep -qx 'offline tier simulates: Istio $(ISTIO_LIBRARY_RELEASE)' $(PLANS)/e2e-plan.out
	$(if $(filter $(ISTIO_LIBRARY_RELEASE).%,$(ISTIO_VERSION)),,grep -q '^warning: the offline tier simulates Istio $(ISTIO_LIBRARY_RELEASE)' $(PLANS)/e2e-plan.out)
	rm -f $(PLANS)/e2e-plan.out

# The istio.io corpus on the cluster tier: every scenario, named after its directory, must
# appear in the plan.
E2E_PLAN_DOCS := $(PLANS)/e2e-plan-istio-docs.out
.PHONY: e2e-plan-istio-docs
e2e-plan-istio-docs: ## Prove `make e2e DRY_RUN=1` plans every scenario of the istio.io corpus (part of make test).
	@mkdir -p $(PLANS)
	$(MAKE) --no-print-directory e2e DRY_RUN=1 KUBE_CONTEXT= SCENARIOS=$(ISTIO_DOCS) > $(E2E_PLAN_DOCS)
	grep -q 'egress-conformance-probe=' $(E2E_PLAN_DOCS)
	@for s in $(ISTIO_DOCS)/*/scenario.yaml; do n=$$(basename $$(dirname $$s)); \
	  grep -q "^## Scenario $$n\$$" $(E2E_PLAN_DOCS) || { echo "the plan lacks scenario $$n"; exit 1; }; done
	rm -f $(E2E_PLAN_DOCS)

# Ambient (issue 13, docs/ambient.md): the plan of an ambient scenario with a waypoint, in
# both external modes, shows the ambient install, the namespace enrolment, the waypoint and
# where the evidence is read (ztunnel on the client's node, the waypoint's pods); in hermetic
# mode, the stand-in's CA for the waypoint's TLS origination in the bundle's own namespace.
E2E_PLAN_AMBIENT := $(PLANS)/e2e-plan-ambient.out
AMBIENT_PLAN_SCENARIOS := $(CURDIR)/suites/egress/testdata/ambient
.PHONY: e2e-plan-ambient
e2e-plan-ambient: ## Prove `make e2e DRY_RUN=1` plans an ambient scenario: install, enrolment, waypoint, evidence (part of make test).
	@mkdir -p $(PLANS)
	@for ext in internet cluster; do \
	  $(MAKE) --no-print-directory e2e DRY_RUN=1 KUBE_CONTEXT= EXTERNAL=$$ext SCENARIOS=$(AMBIENT_PLAN_SCENARIOS) > $(E2E_PLAN_AMBIENT) && \
	  grep -q '^## Scenario ambient-egress-waypoint$$' $(E2E_PLAN_AMBIENT) && \
	  ! grep -q '^SKIPPED' $(E2E_PLAN_AMBIENT) && \
	  grep -q '^install: istioctl install .*--filename [^ ]*/fixtures/istio/egress.yaml --filename [^ ]*/fixtures/istio/ambient.yaml' $(E2E_PLAN_AMBIENT) && \
	  grep -q '^ambient: .*DaemonSets istio-system/istio-cni-node and istio-system/ztunnel ready' $(E2E_PLAN_AMBIENT) && \
	  grep -q '^namespace: egress-ambient-egress-waypoint  (labels istio.io/dataplane-mode=ambient' $(E2E_PLAN_AMBIENT) && \
	  grep -q 'annotated ambient.istio.io/redirection=enabled' $(E2E_PLAN_AMBIENT) && \
	  grep -q '^waypoint: Gateway ambient-egress/waypoint of class istio-waypoint' $(E2E_PLAN_AMBIENT) && \
	  grep -q "^evidence: ztunnel's outbound line on the client's node.*waypoint logs of waypoint.ambient-egress.svc.cluster.local" $(E2E_PLAN_AMBIENT) && \
	  { [ $$ext = internet ] || { grep -q '^CA ConfigMap: ambient-egress ' $(E2E_PLAN_AMBIENT) && \
	    grep -q 'credentialName: configmap://ambient-egress/egress-conformance-external-ca' $(E2E_PLAN_AMBIENT); }; } \
	  || { echo "e2e-plan-ambient: EXTERNAL=$$ext: the plan lacks an ambient part (see $(E2E_PLAN_AMBIENT))"; exit 1; }; done
	rm -f $(E2E_PLAN_AMBIENT)

.PHONY: bench
bench: ## Benchmarks: access-log parsing, offline tier per step and per catalog.
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/accesslog/ ./pkg/offline/

# ---- lint and tools (hack/tools.sh, hack/lint.sh, .github/workflows) ---------------------
# Lint tools are pinned in versions.env (ACTIONLINT_VERSION, SHFMT_VERSION) and built once per
# version into the user's cache; shellcheck is used when installed and skipped, with a notice,
# when not.

.PHONY: tools
tools: ## Build the pinned lint tools (actionlint, shfmt) into the user's cache; print their paths.
	bash hack/tools.sh

.PHONY: lint
lint: ## Lint workflows (actionlint), scripts (bash -n, shfmt, shellcheck if installed), gofmt.
	bash hack/lint.sh
# ---- end of lint and tools --------------------------------------------------------------

# ---- integration tier (hack/apiserver.sh, suites/integration) ----------------------------
# A real kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok on loopback;
# binaries are built once per version into the user's cache (pins in versions.env). The API
# server is stopped afterwards whatever happens (hack/apiserver.sh run traps EXIT and signals).

.PHONY: integration
integration: ## The cluster tier's Kubernetes plumbing against a real API server on loopback (no Docker).
	bash hack/apiserver.sh run $(GO) test $(GO_TEST_FLAGS) -count=1 ./suites/integration/ -args --scenarios=$(abspath $(SCENARIOS))

.PHONY: apiserver-binaries
apiserver-binaries: ## Build (once per version) the integration tier's binaries into the user's cache.
	bash hack/apiserver.sh binaries
# ---- end of integration tier ------------------------------------------------------------

# ---- upgrade gate (suites/upgrade, pkg/upgrade) -------------------------------------------
# make e2e-upgrade: install ISTIO_FROM on a fresh kind cluster, prove every selected scenario,
# upgrade to ISTIO_TO by UPGRADE_STRATEGY (in-place | canary | both; each strategy gets its own
# cluster, <CLUSTER_NAME>-<strategy>), restart gateway and clients onto TO's proxy, prove every
# scenario again, with a background prober measuring the disruption. Empty ISTIO_FROM/ISTIO_TO take
# the suite's defaults: TO = the ISTIO_VERSION pin, FROM = the newest ISTIO_VERSIONS release of the
# minor before it. The cluster tier's variables (e2e_env above) pass through as for `make e2e`;
# LABEL_FILTER selects scenarios here (the suite applies it), it is not a Ginkgo spec filter.
ISTIO_FROM ?=
ISTIO_TO ?=
UPGRADE_STRATEGY ?= both
UPGRADE_VARS := ISTIO_FROM ISTIO_TO UPGRADE_STRATEGY UPGRADE_PROBE UPGRADE_TIMEOUTS ISTIOCTL_FROM ISTIOCTL_TO LABEL_FILTER
upgrade_env = $(e2e_env) $(foreach v,$(UPGRADE_VARS),$(v)='$($(v))')
# E2E_UPGRADE_TIMEOUT bounds the whole run through Ginkgo's --ginkgo.timeout (whose default is
# 1h, and which ignores `go test -timeout`): when it runs out Ginkgo interrupts the specs, runs the
# clean-ups (clusters deleted) and still writes the reports. `go test -timeout 0` leaves that to it:
# go test's own timeout would kill the process without reports or clean-up.
E2E_UPGRADE_TIMEOUT ?= 300m

.PHONY: e2e-upgrade
e2e-upgrade: ## The upgrade gate: ISTIO_FROM → ISTIO_TO by UPGRADE_STRATEGY on kind (needs Docker). DRY_RUN=1 prints the plan only.
	$(upgrade_env) $(GO) test -count=1 -timeout 0 -v ./suites/upgrade/ -args --ginkgo.v --ginkgo.timeout=$(E2E_UPGRADE_TIMEOUT)

.PHONY: e2e-upgrade-plan
e2e-upgrade-plan: ## Prove `make e2e-upgrade DRY_RUN=1` prints a complete plan here, without Docker (part of make test).
	@mkdir -p $(PLANS)
	$(MAKE) --no-print-directory e2e-upgrade DRY_RUN=1 KUBE_CONTEXT= UPGRADE_STRATEGY=both > $(PLANS)/e2e-upgrade-plan.out
	grep -q '^upgrade: Istio [0-9.]* → $(or $(ISTIO_TO),$(ISTIO_VERSION))$$' $(PLANS)/e2e-upgrade-plan.out
	grep -q '^ok: kubernetes: TO $(or $(ISTIO_TO),$(ISTIO_VERSION)) ' $(PLANS)/e2e-upgrade-plan.out
	grep -q '^## Strategy in-place$$' $(PLANS)/e2e-upgrade-plan.out
	grep -q '^## Strategy canary$$' $(PLANS)/e2e-upgrade-plan.out
	grep -q 'install --skip-confirmation --filename fixtures/istio/egress.yaml --revision ' $(PLANS)/e2e-upgrade-plan.out
	grep -q 'istio-injection- istio.io/rev=' $(PLANS)/e2e-upgrade-plan.out
	grep -q 'uninstall --skip-confirmation --revision default' $(PLANS)/e2e-upgrade-plan.out
	grep -q '^step: egress-gateway-http/after-routing ' $(PLANS)/e2e-upgrade-plan.out
	grep -q '^## Scenario egress-gateway-http$$' $(PLANS)/e2e-upgrade-plan.out
	grep -q 'egress-conformance-probe=' $(PLANS)/e2e-upgrade-plan.out
	rm -f $(PLANS)/e2e-upgrade-plan.out
# ---- end of upgrade gate ------------------------------------------------------------------
