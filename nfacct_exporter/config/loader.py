"""The one YAML loader: plain values plus the line of every key, so errors can point at it.

Both the main config and the web config are read here. Keys are paths such as
``graphite.host`` or ``counters[2].match``; the document itself is ``""``.
"""

from typing import Any

import yaml

from nfacct_exporter.config.checks import ConfigError


def read(path: str, what: str) -> str:
    """The text of ``path``; ConfigError ``PATH: cannot read the WHAT: reason`` otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{path}: cannot read the {what}: {reason}") from None


def parse(text: str, path: str) -> tuple[Any, dict[str, int]]:
    """YAML text → (plain values, key → line); an empty document is ``{}``.

    Syntax errors and duplicate keys raise ConfigError naming ``path`` and the line."""
    try:
        loader = yaml.SafeLoader(text)  # checks the characters already
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML error: {e}") from None
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()
        return ({} if node is None else _build(node, "", loader, lines)), lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else path
        raise ConfigError(f"{where}: YAML syntax error: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML error: {e}") from None
    except _Duplicate as e:
        raise ConfigError(f"{path}:{e.line}: key {e.key!r}: {e.why}") from None
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply") from None
    finally:
        loader.dispose()


class _Duplicate(Exception):
    def __init__(self, line: int, key: str, why: str = "duplicate key") -> None:
        self.line, self.key, self.why = line, key, why


def _build(node: yaml.Node, path: str, loader: yaml.SafeLoader, lines: dict[str, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode)
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, list | dict | set):
                raise _Duplicate(knode.start_mark.line + 1, sub, "a key must be a plain value")
            if key in out:
                raise _Duplicate(knode.start_mark.line + 1, sub)
            lines[sub] = knode.start_mark.line + 1
            out[key] = _build(vnode, sub, loader, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, f"{path}[{i}]", loader, lines) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
