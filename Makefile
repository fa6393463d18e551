# Everything a fresh Debian 12 machine needs, as root: `make demo` runs the exporter for real,
# `make test` runs the whole suite. Both install their apt and pip packages first.
VENV    ?= .venv
PY      := $(VENV)/bin/python
# chromium + fonts-dejavu-core: the status page's browser tests (tests/browser, headless, driven
# over the DevTools pipe: no driver, no npm or pip package); conntrack: the conntrack tests' reference;
# ulogd2-json and logrotate: the NFLOG events tests' reference and log rotation
APT_PKGS := python3 python3-venv python3-pip iproute2 iptables nftables nfacct conntrack ulogd2 \
            ulogd2-json logrotate \
            graphite-carbon graphite-web prometheus curl openssl systemd \
            chromium fonts-dejavu-core

.PHONY: deps test lint demo bench clean deb fuzz soak

.deps-apt: Makefile
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PKGS)
	touch $@

$(VENV)/.installed: .deps-apt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# npm @grafana/schema + typescript type-check the dashboards (tests/unit/test_dashboard_files.py);
# versions pinned in tests/dashboards/package.json and its lock file. nodejs/npm from apt if absent.
DASH_NPM := tests/dashboards/node_modules/.installed
$(DASH_NPM): .deps-apt tests/dashboards/package.json tests/dashboards/package-lock.json
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends nodejs npm
	cd tests/dashboards && npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: .deps-apt $(VENV)/.installed $(DASH_NPM)

lint: deps
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

demo: deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash deploy/demo.sh

bench: deps
	$(PY) bench/nfacct_poll.py
	$(PY) bench/nfacct_100k.py
	$(PY) bench/nflog_rate.py
	$(PY) bench/nflog_events.py
	$(PY) bench/graphite_delivery.py
	$(PY) bench/namespaces_poll.py

# dist/nfacct-exporter_<version>_<arch>.deb: a venv under /opt/nfacct-exporter for Debian's
# python3, from PyPI (network needed; downloads cached in .cache/pip); packaging/deb/build.sh
deb: .deps-apt
	bash packaging/deb/build.sh

# Coverage-guided fuzzing of the decoders and config parsers (atheris), FUZZ_SECONDS long;
# a long soak of the running daemon (SOAK_MINUTES; --record appends it to bench/RESULTS.md).
FUZZ_SECONDS ?= 600
SOAK_MINUTES ?= 30
fuzz: deps
	$(VENV)/bin/pip install -q atheris
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(PY) bench/fuzz.py

soak: deps
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .deps-apt .pytest_cache tests/dashboards/node_modules build/test-artifacts
