# forebear: `make demo` and `make test` work on a fresh machine with nothing but this repo.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint services services-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo/pipeline.py

test: $(STAMP) services
	. ./.services/env && $(PY) -m pytest -q

services: $(STAMP)
	sh scripts/services.sh start

services-stop:
	sh scripts/services.sh stop

bench: $(STAMP) services
	. ./.services/env && $(PY) benchmarks/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .services .bench
