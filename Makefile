# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= NL668_AM_00
PTY ?= /tmp/nl668
ARGS ?=
# Two pytest-xdist workers (chosen): the suite took 8 min in one process on a slower 2-vCPU VM and 3 min 47 s in two,
# within CI's 10 minutes with the install only with two. Each worker is started with -bb itself (with plain -n 2
# they run without it). `make test PYTEST_ARGS=` runs the suite in one process.
PYTEST_ARGS ?= --tx '2*popen//python=$(CURDIR)/$(PY) -bb' --dist load

.PHONY: install system-packages run test bench certs clean fuzz trace-picture

install: $(STAMP) system-packages

# Debian packages the tests start for real: mosquitto (tests/e2e's MQTT broker) and chromium (the trace view's
# browser tests, driven by playwright, which never downloads a browser here). Only what is missing is
# installed, in one apt run; nothing happens when both are there.
SYSTEM_PACKAGES := mosquitto:/usr/sbin/mosquitto chromium:/usr/bin/chromium
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do test -x "$${p#*:}" || missing="$$missing $${p%%:*}"; done; \
	[ -z "$$missing" ] || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; }

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@# the DTR/RTS preload library for `nl668-emu run` (built with cc into ~/.cache/nl668-emulator; optional)
	$(PY) -m emulator.modemctl.build || echo "no modem-control library: nl668-emu run -- HOST will say why"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/nl668-emu --profile $(PROFILE) --pty $(PTY) $(ARGS)

test: $(STAMP) system-packages
	$(PY) -bb -m pytest $(PYTEST_ARGS)

# The README's picture: manual §2.6 example 3 (fails with 45, opens after AT+CCLK) as the trace view shows it.
trace-picture: $(STAMP) system-packages
	TRACE_PICTURE=$(CURDIR)/docs/trace-view.png $(PY) -m pytest -q -p no:cacheprovider \
	  "tests/traceview/test_trace_view_browser.py::test_manual_examples[3]"

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
