# forebear: `make demo` and `make test` work on a fresh machine with nothing but this repo.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint services services-stop browser peers clean

# MLflow, for `forebear import mlflow`'s tests (a real tracking server) and the SDK
# benchmark's comparison, in its own venv: it pins what forebear must not.
MLFLOW_VENV := .bench/mlflow-venv
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-3.17.2
# DVC, for `forebear import dvc`'s tests: real `dvc repro` writes the dvc.lock files.
DVC_VENV := .bench/dvc-venv
DVC_STAMP := $(DVC_VENV)/.installed-3.67.1

$(STAMP): pyproject.toml hatch_build.py src/forebear/capture/_audit.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo/pipeline.py

test: $(STAMP) services browser peers
	. ./.services/env && FOREBEAR_TEST_MLFLOW=$(CURDIR)/$(MLFLOW_VENV)/bin/python \
		FOREBEAR_TEST_DVC=$(CURDIR)/$(DVC_VENV)/bin/dvc $(PY) -m pytest -q

peers: $(MLFLOW_STAMP) $(DVC_STAMP)

$(DVC_STAMP):
	$(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install --quiet 'dvc==3.67.1'
	touch $@

$(MLFLOW_STAMP):
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet 'mlflow==3.17.2'
	touch $@

services: $(STAMP)
	sh scripts/services.sh start

services-stop:
	sh scripts/services.sh stop

# The web page's tests drive Debian's Chromium through playwright; nothing is downloaded
# at run time (no `playwright install`). Installed as root (CI) or with passwordless sudo.
browser:
	@[ -x /usr/bin/chromium ] || { \
	  echo "make: installing Debian's chromium for the web page's tests" >&2; \
	  command -v apt-get >/dev/null || { echo "make: install chromium as /usr/bin/chromium" >&2; exit 1; }; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bench: $(STAMP) services
	. ./.services/env && $(PY) benchmarks/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .services .bench
