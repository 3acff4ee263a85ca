# GPT Group: `make run` starts the app, `make test` runs every check. Both create .venv and
# install what they need from constraints.txt (pinned versions) first.
# `make host` runs a room without a screen; `make screenshots` renders docs/screenshots/.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

# Debian/Ubuntu libraries Qt needs to draw a window (offscreen tests need the first line only),
# and what the tests' pretend LANs use: iproute2 for namespaces, nftables for a switch that
# drops multicast or broadcast.
SYSTEM_PACKAGES := libegl1 libgl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3 \
	libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
	libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 iproute2 nftables
# What `make package` needs besides those: dpkg-shlibdeps (dpkg-dev) works out the package's
# dependencies from every library in the bundle, Qt's Wayland ones included; the package test
# checks the desktop entry with desktop-file-validate and opens the window on Xvfb.
PACKAGE_SYSTEM_PACKAGES := dpkg-dev libwayland-client0 libwayland-cursor0 libwayland-egl1 \
	desktop-file-utils xvfb

PACKAGE_STAMP := $(VENV)/.installed-package

.PHONY: run host test lint typecheck unit fuzz bench bench-smoke screenshots system-deps lock \
	clean package package-deps package-test

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "GPT Group needs Python 3.11 or newer: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m desktop $(ARGS)

host: $(STAMP)
	$(BIN)/gptgroup-host $(ARGS)

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests run in a private network namespace (when root) so none can touch a real interface.
unit: $(STAMP)
	tests/isolated.sh $(BIN)/pytest $(PYTEST_ARGS)

# Property-based tests of the parser and the room at length: 4 properties x 30,000 inputs.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz tests/isolated.sh $(BIN)/pytest tests/core/test_fuzz.py --timeout=0 -p no:cacheprovider $(PYTEST_ARGS)

# The app's screens, rendered offscreen (inside a private network namespace when root), in the
# light theme (docs/screenshots/) and the dark one (docs/screenshots/dark/).
screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen tests/isolated.sh $(BIN)/python -m tests.screenshots

# Benchmarks, on demand (not part of make test): each in processes of its own, then one table
# (also written to build/bench/results.json; see docs/performance.md). Discovery and the
# host's start-up need root for their namespaces. bench.startup also times the frozen app
# when `make package` has built it. bench-smoke runs each at a size that takes seconds.
bench: $(STAMP)
	tests/isolated.sh $(BIN)/python -m bench.run_all $(ARGS)

bench-smoke: $(STAMP)
	tests/isolated.sh $(BIN)/python -m bench.run_all --smoke $(ARGS)

# Installs the Debian packages in $(1) that are missing (needs root; Debian or Ubuntu).
define apt-install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && apt-get install -y -q $$missing; \
	else echo "system packages: all present"; fi
endef

# Installs the system libraries above (needs root; Debian or Ubuntu).
system-deps:
	$(call apt-install,$(SYSTEM_PACKAGES))

package-deps: system-deps
	$(call apt-install,$(PACKAGE_SYSTEM_PACKAGES))

$(PACKAGE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,package]'
	@touch $(PACKAGE_STAMP)

# The frozen app (dist/gptgroup/, see build.spec) and its Debian package (dist/*.deb).
package: $(PACKAGE_STAMP) package-deps
	rm -rf dist/gptgroup dist/gptgroup_*.deb
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller build.spec
	$(BIN)/python -m installers.build_deb --bundle dist/gptgroup --out dist
	@du -sh dist/gptgroup dist/gptgroup_*.deb

# Installs the package as a user would (apt pulls its dependencies), checks the installed app
# (tests/package: its self-test, the launcher, the menu entry, its size) and removes it again.
package-test: package
	apt-get install -y -q ./dist/gptgroup_*.deb
	GPTGROUP_INSTALLED_DEB=$$(ls dist/gptgroup_*.deb) tests/isolated.sh $(BIN)/pytest tests/package -p no:cacheprovider

# Re-pin every dependency to what a fresh install resolves today.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet '.[dev,package]'
	.lock-venv/bin/python -m pip freeze --exclude gptgroup > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
