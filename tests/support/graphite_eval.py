"""Evaluate Graphite targets with the real graphite-web (Debian ``graphite-web``) over a whisper
directory, without a web server: what Grafana's Graphite data source would ask /render for.

Run by the system Python that has Debian's ``graphite`` package (not the test venv)::

    /usr/bin/python3 tests/support/graphite_eval.py WHISPER FROM UNTIL < targets.json

prints ``{target: {"series": [[name, non-null points], ...]} | {"error": "..."}}`` as JSON.
Graphite's own parser, function table and path globbing decide, so a misspelt function, a bad
argument or a path the exporter never sent shows up here as an error or as no series.
"""

import json
import os
import sys
import tempfile
from datetime import UTC, datetime


def settings_module(whisper_dir: str) -> str:
    """A throwaway graphite local_settings module pointing at ``whisper_dir``."""
    d = tempfile.mkdtemp(prefix="graphite-eval-")
    with open(os.path.join(d, "eval_settings.py"), "w") as f:
        f.write(f"STORAGE_DIR = {d!r}\nWHISPER_DIR = {whisper_dir!r}\n"
                f"STANDARD_DIRS = [{whisper_dir!r}]\nLOG_DIR = {d!r}\n"
                f"INDEX_FILE = {os.path.join(d, 'index')!r}\nSECRET_KEY = 'test'\n"
                "TAGDB = None\nCARBONLINK_HOSTS = []\nDEFAULT_XFILES_FACTOR = 0\n"
                "LOG_RENDERING_PERFORMANCE = False\nLOG_CACHE_PERFORMANCE = False\n"
                "LOG_FILE_INFO = 'none'\nLOG_FILE_EXCEPTION = 'none'\nLOG_FILE_CACHE = 'none'\n"
                "LOG_FILE_RENDERING = 'none'\n")
    sys.path.insert(0, d)
    return "eval_settings"


def main() -> None:
    whisper_dir, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    os.environ["GRAPHITE_SETTINGS_MODULE"] = settings_module(whisper_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
    import django

    django.setup()
    from graphite.render.evaluator import evaluateTarget

    targets = json.load(sys.stdin)
    out = {}
    for target in targets:
        ctx = {"startTime": datetime.fromtimestamp(start, UTC),
               "endTime": datetime.fromtimestamp(end, UTC),
               "now": datetime.fromtimestamp(end, UTC), "localOnly": True,
               "template": {}, "tzinfo": UTC, "forwardHeaders": None,
               "sourceIdHeaders": None, "data": [], "prefetched": {}, "xFilesFactor": 0,
               "maxDataPoints": None, "targets": [target]}
        try:
            series = evaluateTarget(ctx, target)
            out[target] = {"series": [[s.name, sum(v is not None for v in s)] for s in series]}
        except Exception as e:  # reported per target, with the exception's type
            out[target] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
