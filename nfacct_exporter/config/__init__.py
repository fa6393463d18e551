"""The configuration: one YAML loader (``loader``), one error collector (``checks``) and one
module per section. ``config.load(path)`` gives the validated, immutable ``Config``; the web
config (``--web.config.file``) is read by ``config.web``."""

from nfacct_exporter.config.checks import ConfigError
from nfacct_exporter.config.core import (
    DEFAULT_LISTEN,
    DEFAULT_PORT,
    Config,
    from_text,
    load,
    parse_listen,
)
from nfacct_exporter.config.graphite import GraphiteConfig

__all__ = ["DEFAULT_LISTEN", "DEFAULT_PORT", "Config", "ConfigError", "GraphiteConfig",
           "from_text", "load", "parse_listen"]
