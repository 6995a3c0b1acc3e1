# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= NL668_AM_00
PTY ?= /tmp/nl668
ARGS ?=

.PHONY: install mosquitto run test bench certs clean fuzz

install: $(STAMP) mosquitto

# tests/e2e starts a real MQTT broker: Debian's mosquitto, installed once (skipped when it is there already).
mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends mosquitto; }

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/nl668-emu --profile $(PROFILE) --pty $(PTY) $(ARGS)

test: $(STAMP) mosquitto
	$(PY) -bb -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(PY) $$b || exit 1; done || echo "no benchmarks yet"

# Coverage-guided fuzzing of the AT reader, parser and data entry (fuzz/fuzz_at.py), bounded in time.
# The corpus grows in $(VENV)/fuzz-corpus (not committed); a crash lands in $(VENV)/fuzz-crash-*.
FUZZ_TIME ?= 120
fuzz: $(STAMP)
	mkdir -p $(VENV)/fuzz-corpus
	$(PY) fuzz/fuzz_at.py -max_total_time=$(FUZZ_TIME) -artifact_prefix=$(VENV)/fuzz- $(VENV)/fuzz-corpus

# Regenerates the committed test PKI (certs/). Not needed to run or test.
certs: $(STAMP)
	$(PY) certs/make_certs.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
