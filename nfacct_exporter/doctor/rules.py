"""The firewall rules of one namespace, as the tools print them: which NFACCT objects they feed
(``iptables-save``/``ip6tables-save``, nft and legacy back-ends) and which NFLOG groups they log
to (those, plus ``nft -j list ruleset`` for native nft ``log group N``).

nft shows an iptables-nft ``-m nfacct`` only as ``xt match nfacct`` without the name, so object
names come from the iptables tools. ``-j NFLOG`` without ``--nflog-group`` logs to group 0.
"""

import contextlib
import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nfacct_exporter.netlink import netns as _netns

SAVE_TOOLS = (("iptables-nft-save", "iptables-save"), ("iptables-legacy-save",),
              ("ip6tables-nft-save", "ip6tables-save"), ("ip6tables-legacy-save",))


@dataclass
class Ruleset:
    nfacct_names: set[str] = field(default_factory=set)
    nflog_groups: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)  # tools that failed


def _run(argv: list[str], nsenter: list[str], errors: list[str]) -> str:
    try:
        r = subprocess.run([*nsenter, *argv], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        errors.append(f"{argv[0]}: {e}")
        return ""
    if r.returncode:
        errors.append(f"{' '.join(argv)}: {r.stderr.strip() or f'exit {r.returncode}'}")
        return ""
    return r.stdout


def parse_save(text: str, out: Ruleset) -> None:
    """NFACCT names and NFLOG groups of ``iptables-save`` output."""
    for line in text.splitlines():
        if not line.startswith("-A "):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        for i, w in enumerate(words[:-1]):
            if w == "--nfacct-name":
                out.nfacct_names.add(words[i + 1])
        j = words.index("-j") if "-j" in words else -1
        if j >= 0 and words[j + 1:j + 2] == ["NFLOG"]:
            group = 0
            if "--nflog-group" in words[:-1]:
                group = int(words[words.index("--nflog-group") + 1])
            out.nflog_groups.add(group)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def parse_nft(text: str, out: Ruleset) -> None:
    """NFLOG groups of ``nft -j list ruleset``: ``log`` statements with a ``group``."""
    with contextlib.suppress(ValueError):
        for node in _walk(json.loads(text)):
            log = node.get("log")
            if isinstance(log, dict) and "group" in log:
                out.nflog_groups.add(int(log["group"]))


def read(netns: str | None) -> Ruleset:
    """Run the tools (inside ``netns_path`` via nsenter) and parse what they print."""
    nsenter = ["nsenter", f"--net={_netns.netns_path(netns)}"] if netns else []
    out = Ruleset()
    for candidates in SAVE_TOOLS:
        tool = next((t for t in candidates if shutil.which(t)), None)
        if tool:
            parse_save(_run([tool], nsenter, out.errors), out)
    if shutil.which("nft"):
        parse_nft(_run(["nft", "-j", "list", "ruleset"], nsenter, out.errors), out)
    return out
