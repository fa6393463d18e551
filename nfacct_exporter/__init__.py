"""nfacct-exporter: netfilter accounting (NFACCT) and NFLOG counts for Prometheus and Graphite."""

__version__ = "0.1.0"
