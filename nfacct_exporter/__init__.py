"""nfacct-exporter: netfilter accounting (NFACCT) and NFLOG counts for Prometheus and Graphite."""

__version__ = "0.2.0"  # the one place: pyproject.toml reads it (dynamic version)
