# One entry point for every job. `make run` and `make test` do all the set-up
# on a fresh machine: a virtualenv with the package, and the local cluster's
# binaries (built once per machine from the official Go modules).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := reconciler informers builders

.PHONY: all venv assets image up down run test lint typecheck layers pytest pytest-minor pytest-oldest bench soak clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

venv: $(STAMP)

# The Kubernetes minor the local cluster runs: one of devcluster/gomod/kube/<minor>/
# (1.31 to 1.37), the newest by default (`make up KUBE_VERSION=1.31`); binaries are
# built once per minor. `make test` also runs RANGE_TESTS against the oldest minor.
KUBE_MINORS := $(shell ls devcluster/gomod/kube | sort -V)
KUBE_VERSION ?= $(lastword $(KUBE_MINORS))
OLDEST_KUBE_VERSION := $(firstword $(KUBE_MINORS))
export KUBE_VERSION

# The Kubernetes binaries build one after another (they share most packages); KWOK
# and helm, whose modules share little with them, build beside them.
KUBE_BINARIES := etcd kube-apiserver kubectl kube-scheduler kube-controller-manager

assets:
	@bash devcluster/build-assets.sh $(KUBE_BINARIES) >/dev/null & kube=$$!; \
	bash devcluster/build-assets.sh kwok >/dev/null & kwok=$$!; \
	bash devcluster/build-assets.sh helm >/dev/null & helm=$$!; \
	status=0; for pid in $$kube $$kwok $$helm; do wait $$pid || status=1; done; exit $$status
	@# The real node's programs (kubelet, CoreDNS, kube-router, ...), where it can run.
	@if [ "$$(id -u)" = 0 ] && [ "$${KUSCIA_REAL_NODE:-1}" != 0 ]; then \
		bash devcluster/build-node.sh >/dev/null; fi

# The controller's image from the Dockerfile (buildah, onto a Debian base made here),
# imported into the real node's containerd when one runs (IMAGE_ARGS=--tag TAG).
image: venv
	$(PY) -m devcluster.images.controller $(IMAGE_ARGS)


# UP_ARGS: --bare (etcd and kube-apiserver only), --nodes N, --node-cpu, --node-memory,
# --node-pods (python -m devcluster up --help).
up: venv assets
	$(PY) -m devcluster up $(UP_ARGS)

down: venv
	$(PY) -m devcluster down

# The main job: with no KUBECONFIG, a local control plane is started first.
run: venv assets
	@if [ -z "$$KUBECONFIG" ]; then $(PY) -m devcluster up $(UP_ARGS); fi
	$(PY) -m devcluster.demo $(RUN_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy $(PACKAGES) devcluster

layers: venv
	$(VENV)/bin/lint-imports

pytest: venv assets
	$(PY) -m pytest $(PYTEST_ARGS)

# What must hold on every supported minor: every shipped CRD and policy created there,
# the CRDs' admission rules, the seed walk-through, the controller's start without the
# newer APIs, the chart applied and run as its ServiceAccount, the local cluster's own
# version checks, and a task end to end on the scheduled cluster. `make test` runs them on the oldest minor (the full suite runs
# on KUBE_VERSION); `make pytest-minor KUBE_VERSION=1.34` on any other.
RANGE_TESTS := tests/crds tests/reconciler/test_newer_apis.py tests/chart/test_apply.py \
	tests/chart/test_rbac.py tests/devcluster/test_versions.py \
	tests/scheduled/test_task_lives.py::test_two_party_task_is_scheduled_runs_and_succeeds

pytest-minor: venv assets
	$(PY) -m pytest $(RANGE_TESTS) $(PYTEST_ARGS)

pytest-oldest:
	@$(MAKE) --no-print-directory pytest-minor KUBE_VERSION=$(OLDEST_KUBE_VERSION)

test: lint typecheck layers pytest pytest-oldest

# Ten minutes of task churn at 20 tasks/s against one controller: RSS slope, asyncio
# tasks, objects left behind. Not part of `make test` (nor CI).
soak: venv assets
	$(PY) -m bench.soak $(SOAK_ARGS)

# Not part of `make test`: every benchmark scenario against a private control plane,
# printed as markdown tables and JSON (BENCH_FULL=1: the issue's sizes; bench/kit/sizes.py).
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(VENV)/bin/pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

bench: venv assets $(BENCH_STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

clean: down
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
