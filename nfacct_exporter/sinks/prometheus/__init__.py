"""Prometheus text exposition: the counter families rendered by hand at most once per poll
(one module per source), served as bytes by ``exposition.PrometheusSink``.

Rendering 10,000 objects through prometheus_client's collector path takes ~100 ms here, so scrapes
only copy bytes; prometheus_client still renders the exporter's own metrics
(``instrumentation``).
"""
