# The commands a person (and CI) runs. Each target sets up what it needs itself.
VENV      ?= .venv
PYTHON    := $(VENV)/bin/python
IMAGEGATE := $(VENV)/bin/imagegate
PYTEST_ARGS ?=
TEST_WORKERS ?= 3

.PHONY: setup engine render check-render test test-fast lint bench
.SECONDARY:

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

engine:
	.ci/docker-engine

## make build-PROFILE [TAG=REF]: wheelhouse, image, tiers 1-2 (exit 0 pass, 1 fail, 2 bad input,
## 3 environment); the image is TAG, else $IMAGEGATE_REPOSITORY/PROFILE:latest, else the
## profile's repository/PROFILE:latest, else imagegate/PROFILE:latest
build-%: setup engine
	$(IMAGEGATE) build $* $(if $(TAG),--tag '$(TAG)')

## make verify-PROFILE [TAG=REF]: tiers 1-3 against the image build-PROFILE made
verify-%: setup engine
	$(IMAGEGATE) verify $* $(if $(TAG),--image '$(TAG)')

wheelhouse-%: setup
	$(IMAGEGATE) wheelhouse $*

lock-%: setup
	$(IMAGEGATE) lock $*

## make check-PROFILE: the preflight (no Docker, seconds)
check-%: setup
	$(IMAGEGATE) check $*

render: setup
	$(IMAGEGATE) render --all

check-render: setup
	$(IMAGEGATE) render --all --check

lint: setup
	$(VENV)/bin/ruff check tool tests smoke_tests
	$(VENV)/bin/ruff format --check tool tests smoke_tests
	$(VENV)/bin/mypy

## make test: lint, types, committed Dockerfiles fresh, then unit and integration tests, in
## TEST_WORKERS processes (default 3: on two cores, a third keeps them busy while the others
## wait on Docker) each taking a whole test file at a time
test: lint check-render engine
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## make test-fast: unit tests only (no Docker), seconds
test-fast: setup
	$(PYTHON) -m pytest -m "not docker" $(PYTEST_ARGS)

bench: setup engine
	$(PYTHON) tests/benchmarks/bench_build.py
	$(PYTHON) tests/benchmarks/bench_check.py
	$(IMAGEGATE) build cpu
	$(PYTHON) tests/benchmarks/bench_tiers.py
	$(IMAGEGATE) build cuda130
	$(PYTHON) tests/benchmarks/bench_tiers.py imagegate/cuda130:latest --profile cuda130
	$(PYTHON) tests/benchmarks/bench_doctor.py
	$(PYTHON) tests/benchmarks/bench_worker.py
