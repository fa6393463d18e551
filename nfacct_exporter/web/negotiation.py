"""HTTP content negotiation for ``/metrics``: gzip or identity, from ``Accept-Encoding``;
OpenMetrics or the text format, from ``Accept``.

prometheus_client's ``gzip_accepted`` only looks for the word, so ``gzip;q=0`` (a refusal) would
get gzip. Here q-values count as RFC 9110 says: a coding with q=0 is refused, ``*`` stands for
every coding not named, identity stays acceptable unless refused, and the higher q wins (gzip on a
tie: it is what scrapers ask for).
"""


def qvalues(header: str) -> dict[str, float]:
    """``Accept-Encoding`` → {coding (lower case): q}; a malformed q counts as 0 (refused)."""
    out: dict[str, float] = {}
    for element in header.split(","):
        coding, *params = (part.strip() for part in element.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # also NaN
                    q = 0.0
        out.setdefault("gzip" if coding.lower() == "x-gzip" else coding.lower(), q)
    return out


def wants_gzip(header: str | None) -> bool:
    """Whether to gzip the response; no header at all means identity, as before negotiation."""
    if header is None:
        return False
    q = qvalues(header)
    gzip = q.get("gzip", q.get("*", 0.0))
    identity = q.get("identity", q.get("*"))  # None: not named, acceptable but not preferred
    return gzip > 0.0 and (identity is None or gzip >= identity)


OPENMETRICS = "application/openmetrics-text"


def media_qvalues(header: str) -> list[tuple[str, dict[str, str], float]]:
    """``Accept`` → [(type/subtype lower case, parameters, q)]; a malformed q counts as 0."""
    out = []
    for element in header.split(","):
        media, *params = (part.strip() for part in element.split(";"))
        if not media:
            continue
        q, rest = 1.0, {}
        for param in params:
            name, _, value = (x.strip() for x in param.partition("="))
            if name.lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
            else:
                rest[name.lower()] = value.strip('"')
        out.append((media.lower(), rest, q))
    return out


def wants_openmetrics(header: str | None) -> bool:
    """Whether ``Accept`` prefers OpenMetrics (1.0.0, 0.0.1 or unversioned) to the text format
    by q-values; the text format wins ties, wildcards and a missing header."""
    if not header:
        return False
    om = text = 0.0
    for media, params, q in media_qvalues(header):
        if media == OPENMETRICS and params.get("version", "1.0.0") in ("1.0.0", "0.0.1"):
            om = max(om, q)
        elif media in ("text/plain", "text/*", "*/*"):
            text = max(text, q)
    return om > 0.0 and om > text
