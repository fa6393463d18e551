"""The landing page at ``/``: what this is, its version, and the link to the metrics."""

from html import escape

from nfacct_exporter import __version__

CONTENT_TYPE = "text/html; charset=utf-8"


def page(telemetry_path: str = "/metrics") -> bytes:
    """The page, linking to ``telemetry_path`` (``--web.telemetry-path``)."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>nfacct-exporter</title></head>
<body><h1>nfacct-exporter</h1>
<p>Linux netfilter accounting (NFACCT) and NFLOG counters for Prometheus. Version {__version__}.</p>
<p><a href="{escape(telemetry_path)}">Metrics</a></p>
</body></html>
""".encode()
