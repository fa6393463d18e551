"""Parse the Prometheus text format the way the tests compare it: {(metric, labels): value}."""

import re

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset], float]


def parse_exposition(text: str) -> Samples:
    """{(metric, frozenset(labels)): value} from the text format, unescaping label values."""
    out = {}
    for line in text.split("\n"):  # the format's only line break (not \r, \v, \x1c, U+2028…)
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable sample line: {line!r}"
        labels = {}
        if m.group(2):
            for k, v in _LABEL.findall(m.group(2)):
                labels[k] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), v)
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


def samples(body: bytes) -> Samples:
    return parse_exposition(body.decode())
