# Everything a fresh Debian 12 machine needs, as root: `make demo` runs the exporter for real,
# `make test` runs the whole suite. Both install their apt and pip packages first.
VENV    ?= .venv
PY      := $(VENV)/bin/python
APT_PKGS := python3 python3-venv python3-pip iproute2 iptables nftables nfacct ulogd2 \
            graphite-carbon prometheus curl

.PHONY: deps test lint demo bench clean

.deps-apt:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PKGS)
	touch $@

$(VENV)/.installed: .deps-apt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

deps: .deps-apt $(VENV)/.installed

lint: deps
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

demo: deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash deploy/demo.sh

bench: deps
	$(PY) bench/nfacct_poll.py

clean:
	rm -rf $(VENV) .deps-apt .pytest_cache
