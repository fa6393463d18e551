"""A doctor finding: what is wrong, with which object, group or file, and how to fix it."""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    check: str  # stable identifier, e.g. "unreferenced-object"
    subject: str  # the object, group, file or address concerned
    problem: str
    fix: str
    netns: str | None = None  # the namespace, when it is not the doctor's own

    def text(self) -> str:
        where = f" (network namespace {self.netns})" if self.netns else ""
        return f"[{self.check}] {self.subject}{where}: {self.problem}\n    fix: {self.fix}"


def render(findings: Sequence[Finding], fmt: str) -> str:
    """The report as ``text`` (one paragraph per finding) or ``json`` (a list of objects)."""
    if fmt == "json":
        return json.dumps([asdict(f) for f in findings], indent=2) + "\n"
    if not findings:
        return "nfacct-exporter doctor: no problems found\n"
    head = f"nfacct-exporter doctor: {len(findings)} finding{'s' * (len(findings) != 1)}\n"
    return head + "".join(f.text() + "\n" for f in findings)
