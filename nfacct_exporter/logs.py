"""``--log.level`` and ``--log.format``: the exporters' logging conventions on stderr.

``logfmt`` (the default) and ``json`` as go-kit/slog print them in Prometheus' exporters:
``time=... level=info source=nfacct_exporter.daemon msg="..."``. Levels are ``debug``, ``info``,
``warn`` and ``error`` (``warning`` is accepted too).
"""

import json
import logging
import sys
import time

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR}
FORMATS = ("logfmt", "json")
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
          logging.ERROR: "error", logging.CRITICAL: "error"}


def _fields(record: logging.LogRecord) -> dict[str, str]:
    t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    msg = record.getMessage()
    if record.exc_info:
        msg += "\n" + logging.Formatter().formatException(record.exc_info)
    return {"time": f"{t}.{int(record.msecs):03d}Z",
            "level": _NAMES.get(record.levelno, "error"),
            "source": record.name, "msg": msg}


def _logfmt_value(v: str) -> str:
    if v and not any(c in v for c in ' ="\\') and v.isprintable():
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False)


def setup(level: str, fmt: str) -> None:
    """Log to stderr at ``level`` in ``fmt`` (names from LEVELS and FORMATS); like
    ``logging.basicConfig``, a no-op when logging is already set up (e.g. under pytest)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    logging.basicConfig(level=LEVELS[level], handlers=[handler])
