# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= NL668_AM_00
PTY ?= /tmp/nl668
ARGS ?=

.PHONY: install run test bench certs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/nl668-emu --profile $(PROFILE) --pty $(PTY) $(ARGS)

test: $(STAMP)
	$(PY) -bb -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(PY) $$b || exit 1; done || echo "no benchmarks yet"

# Regenerates the committed test PKI (certs/). Not needed to run or test.
certs: $(STAMP)
	$(PY) certs/make_certs.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
