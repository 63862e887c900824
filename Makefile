# forebear: `make demo` and `make test` work on a fresh machine with nothing but this repo.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint services services-stop browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo/pipeline.py

test: $(STAMP) services browser
	. ./.services/env && $(PY) -m pytest -q

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
