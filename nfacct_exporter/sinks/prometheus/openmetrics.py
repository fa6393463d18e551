"""The text format 0.0.4 body → OpenMetrics text 1.0.0, for scrapers that prefer it.

The hand-rendered families differ in one way only: OpenMetrics names a counter family without
its ``_total`` suffix (``# TYPE nfacct_packets counter``), while its samples keep it. So the
cached text body is converted by rewriting the HELP/TYPE lines of its counter families: a few
``bytes.replace`` over the body, done at most once per poll. The own metrics come from
prometheus_client's OpenMetrics writer, which also ends the exposition with ``# EOF``.
"""

import re

from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest

_COUNTER = re.compile(rb"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*)_total counter$", re.M)


def from_text(body: bytes) -> bytes:
    """Counter families of a text-format body renamed as OpenMetrics requires."""
    for name in set(_COUNTER.findall(body)):
        for kind in (b"HELP", b"TYPE"):
            body = body.replace(b"\n# %s %s_total " % (kind, name), b"\n# %s %s " % (kind, name))
            if body.startswith(b"# %s %s_total " % (kind, name)):
                body = b"# %s %s " % (kind, name) + body[len(b"# %s %s_total " % (kind, name)):]
    return body


def own(registry: CollectorRegistry) -> bytes:
    """The exporter's own metrics in OpenMetrics, ending with ``# EOF``."""
    return generate_latest(registry)
