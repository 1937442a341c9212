# Two commands for a fresh Debian 12 machine (run as root): `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PORT ?= 8080
HOST ?= 127.0.0.1
CHROMIUM := /usr/lib/chromium/chromium
# Runs a command in a fresh network namespace that has only loopback: no packet leaves the machine.
NETNS := unshare -n sh -c 'ip link set lo up && exec "$$0" "$$@"'

.PHONY: run test bench lint install system-deps-run system-deps-test clean

$(VENV)/.installed: pyproject.toml setup.py $(wildcard cython_ext/*.pyx cython_ext/*.pxd)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

system-deps-run:
	@command -v ip >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2)

system-deps-test:
	@if ! command -v redis-server >/dev/null || ! test -x $(CHROMIUM) || ! command -v tc >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server chromium iproute2; \
	fi

run: install system-deps-run
	$(VENV)/bin/python -m control_api.standalone --host $(HOST) --port $(PORT)

# Browser tests run in their own pytest process: their session-wide browser and event loop
# stay apart from the rest of the suite.
test: install system-deps-test
	$(NETNS) $(VENV)/bin/python -m pytest --ignore=tests/browser
	$(NETNS) $(VENV)/bin/python -m pytest tests/browser

bench: install system-deps-test
	$(NETNS) $(VENV)/bin/python -m tests.bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info cython_ext/*.c cython_ext/*.so
