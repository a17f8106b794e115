# Developer entry points. Everything slow is cached (see scripts/build-testenv.sh).

PYTHON ?= .venv/bin/python

.PHONY: demo test lint testenv kubectl helm dev-cluster e2e-kind

## demo: set up .venv and run `stockops demo` on embedded defaults
demo:
	bash scripts/demo.sh

## test: set up everything and run every test tier (what CI runs)
test:
	bash scripts/test.sh

## lint: ruff check + format check
lint:
	$(PYTHON) -m ruff check src tests benchmarks && $(PYTHON) -m ruff format --check src tests benchmarks

## testenv: build the test API server (kube-apiserver + etcd from Go modules) into the cache
testenv:
	scripts/build-testenv.sh testenv

## kubectl: print the kubectl the e2e suite uses (the machine's, else one built into the cache)
kubectl:
	scripts/build-testenv.sh kubectl

## helm: install the pinned helm into the cache and print its path
helm:
	scripts/build-testenv.sh helm

## dev-cluster: test cluster (API server, controllers, KServe, node agent) + MLflow + operator; Ctrl-C stops all
dev-cluster:
	$(PYTHON) -m stockops.devcluster

## e2e-kind: the e2e suite on a kind cluster (needs Docker; see tests/e2e/kind/README.md)
e2e-kind:
	tests/e2e/kind/run.sh
