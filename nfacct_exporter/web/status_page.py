"""The status page at ``/``: every counter's rates, NFLOG top prefixes and the exporter's health.

The HTML is rendered here from the same view as ``/api/status`` (so it works with JavaScript
off: sorting, filtering and paging are plain links and a GET form); ``static/status.js`` then
refreshes it from ``/api/status`` every poll interval. Every name, label and prefix goes through
``html.escape`` here and ``textContent`` in the script. No inline script or style, so the
Content-Security-Policy below allows only this server.
"""

import gzip
import html
import time
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlencode

from nfacct_exporter import __version__
from nfacct_exporter.sinks.status import StatusSink
from nfacct_exporter.sinks.status_query import Query, parse
from nfacct_exporter.web.app import Request, Response, Route
from nfacct_exporter.web.negotiation import wants_gzip

HTML, JSON = "text/html; charset=utf-8", "application/json"
SECURITY = (("Content-Security-Policy",
             "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
             "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
            ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"))
COLUMNS = (("name", "Name"), (None, "Labels"), ("packets_per_second", "Packets/s"),
           ("bytes_per_second", "Bits/s"), ("packets", "Packets"), ("bytes", "Bytes"),
           (None, "Recent"))
BAD_VERDICTS = ("drop", "reject")
_STATIC = Path(__file__).with_name("static")  # a directory of the package, never zipped:
# importlib.resources would import zipfile and more (~0.5 MiB resident)
_TEMPLATE = Template(_STATIC.joinpath("status.html").read_text("utf-8"))
ASSETS = {f"/static/{n}": (t, _STATIC.joinpath(n).read_bytes())
          for n, t in (("status.js", "text/javascript; charset=utf-8"),
                       ("status.css", "text/css; charset=utf-8"))}


def fmt_rate(value: float | None, unit: str) -> str:
    """``1234.5, "bit/s"`` → ``1.23 kbit/s`` (SI prefixes, three significant digits)."""
    if value is None:
        return "–"
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < 999.5 or prefix == "T":
            break
        value /= 1000
    return f"{value:.3g} {prefix}{unit}"


def spark(points: list[float | None]) -> str:
    """An inline SVG polyline of recent rates (gaps skipped), scaled to its own maximum."""
    known = [(i, v) for i, v in enumerate(points) if v is not None]
    top = max((v for _, v in known), default=0) or 1
    step = 80 / max(len(points) - 1, 1)
    xy = " ".join(f"{i * step:.1f},{17 - 16 * v / top:.1f}" for i, v in known)
    return (f'<svg class="spark" viewBox="0 0 80 18" aria-hidden="true">'
            f'<polyline points="{xy}"/></svg>')


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _href(query: Query, **change: Any) -> str:
    q = {"q": query.q, "sort": query.sort, "order": query.order, "offset": query.offset,
         "limit": query.limit, "kind": query.kind, **change}
    defaults = Query()
    return "?" + urlencode({k: v for k, v in q.items() if v != getattr(defaults, k)})


def head(query: Query) -> str:
    cells = []
    for key, title in COLUMNS:
        cls = ' class="n"' if key not in (None, "name") else ""
        if key is None:
            cells.append(f"<th{cls}>{title}</th>")
            continue
        order = "asc" if key == "name" else "desc"
        mark = ""
        if key == query.sort:
            order = "asc" if query.order == "desc" else "desc"
            mark = " ▼" if query.order == "desc" else " ▲"
        cells.append(f'<th{cls}><a href="{_e(_href(query, sort=key, order=order, offset=0))}" '
                     f'data-sort="{key}">{title}{mark}</a></th>')
    return "".join(cells)


def labels(item: dict[str, Any]) -> str:
    pairs = dict(item.get("labels") or {})
    if item.get("netns") is not None:
        pairs = {"netns": item["netns"], **pairs}
    return "".join(f"<span>{_e(k)}={_e(v)}</span>" for k, v in pairs.items())


def rows(items: list[dict[str, Any]]) -> str:
    out = []
    for it in items:
        bits = None if it["bytes_per_second"] is None else it["bytes_per_second"] * 8
        hist = [None if v is None else v * 8 for v in it["history"]["bytes_per_second"]]
        out.append(f'<tr><td class="name">{_e(it["name"])}</td>'
                   f'<td class="labels">{labels(it)}</td>'
                   f'<td class="n">{fmt_rate(it["packets_per_second"], "p/s")}</td>'
                   f'<td class="n">{fmt_rate(bits, "bit/s")}</td>'
                   f'<td class="n">{it["packets"]}</td><td class="n">{it["bytes"]}</td>'
                   f"<td>{spark(hist)}</td></tr>")
    return "".join(out)


def pager(counters: dict[str, Any], query: Query) -> str:
    off, lim, n = counters["offset"], counters["limit"], counters["matched"]
    text = f"{min(off + 1, n)}–{min(off + lim, n)} of {n}"
    prev = (f'<a href="{_e(_href(query, offset=max(off - lim, 0)))}" id="prev">previous</a>'
            if off > 0 else "")
    nxt = (f'<a href="{_e(_href(query, offset=off + lim))}" id="next">next</a>'
           if off + lim < n else "")
    return f"{prev}{nxt}<span>{text}</span>"


def nflog(top: dict[str, list[dict[str, Any]]]) -> str:
    if not top:
        return "<p>No NFLOG prefixes counted.</p>"
    out = []
    for verdict, items in top.items():
        bad = ' class="bad"' if verdict in BAD_VERDICTS else ""
        out.append(f'<div class="verdict"><h3{bad}>{_e(verdict)}</h3><table><thead><tr>'
                   '<th>Prefix</th><th>Group</th><th class="n">Packets/s</th>'
                   '<th class="n">Bits/s</th><th class="n">Packets</th><th>Recent</th>'
                   "</tr></thead><tbody>")
        for it in items:
            prefix = (f'<td class="name">{_e(it["prefix"])}</td>' if it["prefix"] is not None
                      else '<td class="overflow">(prefixes beyond max_prefixes)</td>')
            bits = None if it["bytes_per_second"] is None else it["bytes_per_second"] * 8
            group = _e(it["group"]) + (f' <small>{_e(it["netns"])}</small>'
                                       if it["netns"] is not None else "")
            out.append(f"<tr{bad}>{prefix}<td>{group}</td>"
                       f'<td class="n">{fmt_rate(it["packets_per_second"], "p/s")}</td>'
                       f'<td class="n">{fmt_rate(bits, "bit/s")}</td>'
                       f'<td class="n">{it["packets"]}</td>'
                       f'<td>{spark(it["history"]["packets_per_second"])}</td></tr>')
        out.append("</tbody></table></div>")
    return "".join(out)


def when(ts: float | None) -> str:
    return "never" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def health(h: dict[str, Any]) -> str:
    """``<dt>``/``<dd>`` pairs; status.js renders the same items from the JSON."""
    duration = h["poll_duration"]
    items = [("Last poll", f"{when(h['poll_time'])}"
              + ("" if duration is None else f", took {duration * 1000:.1f} ms"), ""),
             ("Objects", f"{h['objects']} NFACCT, {h['nft_counters']} nft", "")]
    failed = [s for s in h["sources"] if not s["ok"]]
    items.append(("Sources", "; ".join(
        f"{s['source']}{'@' + s['netns'] if s['netns'] else ''}: {s['error'] or 'failed'}"
        for s in failed) or "all read", "bad" if failed else "ok"))
    g = h["graphite"]
    if g is None:
        items.append(("Graphite", "off", ""))
    else:
        items.append(("Graphite", f"{'connected' if g['connected'] else 'NOT connected'}, "
                      f"backlog {g['backlog_lines']} lines, {g['lines_dropped']} dropped",
                      "ok" if g["connected"] and not g["lines_dropped"] else "bad"))
    n = h["nflog"]
    if n is None:
        items.append(("NFLOG loss", "off", ""))
    else:
        items.append(("NFLOG loss", f"{n['lost']} packets lost, {n['receive_errors']} "
                      "receive errors", "bad" if n["lost"] or n["receive_errors"] else "ok"))
    r = h["reload"]
    if r is not None:
        items.append(("Reload", ("configuration loaded " if r.get("successful", True)
                                 else "last reload FAILED; running configuration from ")
                      + when(r.get("timestamp")), "ok" if r.get("successful", True) else "bad"))
    return "".join(f'<dt>{_e(k)}</dt><dd class="{c}">{_e(v)}</dd>' for k, v, c in items)


def render(sink: StatusSink, query: Query, metrics: str = "/metrics") -> bytes:
    """The whole page for ``query``, from the same view as ``/api/status``; ``metrics`` is the
    telemetry path the page links to."""
    v = sink.view(query)
    c = v["counters"]
    return _TEMPLATE.substitute(
        interval=_e(sink.interval), health=health(v["health"]),
        count=_e(f"{c['matched']} of {c['total']}"), q=_e(query.q), sort=_e(query.sort),
        order=_e(query.order), head=head(query), rows=rows(c["items"]),
        pager=pager(c, query), nflog=nflog(v["nflog"]["top"]), version=_e(__version__),
        metrics=_e(metrics),
    ).encode("utf-8")


def _answer(req: Request, content_type: str, body: bytes) -> Response:
    """200 with the page's security headers, gzipped when the client prefers it."""
    if len(body) > 1024 and wants_gzip(req.header("Accept-Encoding")):
        return Response(200, content_type, gzip.compress(body, 1),
                        (*SECURITY, ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")))
    return Response(200, content_type, body, SECURITY)


def routes(sink: Callable[[], StatusSink], metrics: str = "/metrics") -> dict[str, Route]:
    """``/``, ``/api/status`` and the page's assets, answered from the sink ``sink()`` returns
    (the current pipeline's: the server outlives pipelines); the page links to ``metrics``."""
    def page(req: Request) -> Response:
        return _answer(req, HTML, render(sink(), parse(req.query), metrics))

    def api(req: Request) -> Response:
        return _answer(req, JSON, sink().json(parse(req.query)))

    def asset(content_type: str, body: bytes) -> Route:
        return lambda req: _answer(req, content_type, body)

    return {"/": page, "/api/status": api,
            **{path: asset(t, body) for path, (t, body) in ASSETS.items()}}
