"""A parsed ulogd2 configuration → the equivalent ``config.yaml`` text, with comments, and the
warnings naming every setting that cannot be carried over.

What carries over: NFACCT ``pollinterval`` (and ``network_namespace_path`` → ``netns``); GRAPHITE
``host``/``port``/``prefix``, with ``graphite.mode: delta`` for ``zerocounter=1`` (ulogd's
default) so whisper series keep meaning "per interval"; each NFLOG stack's ``group`` with its
``numeric_label`` as a verdict (0 → drop, non-zero → accept: what JSON's ``boolean_label`` calls
"blocked" and "allowed"), its netlink buffer and batching, and its JSON output as the group's
``events``. Decoding filters (BASE, IP2STR, ...) need no counterpart.
"""

import json
import re
import textwrap
from dataclasses import dataclass, field

from nfacct_exporter.migrate.ulogd_conf import BadConfig, Element, UlogdConf

NEEDS_SECTION = ("NFACCT", "NFLOG", "GRAPHITE")  # plugins ulogd cannot run on defaults alone
DECODERS = {"BASE", "IFINDEX", "IP2STR", "IP2BIN", "IP2HBIN", "PRINTPKT", "PRINTFLOW", "HWHDR",
            "MAC2STR"}
NFACCT_KEYS = {"pollinterval", "zerocounter", "timestamp", "network_namespace_path"}
GRAPHITE_KEYS = {"host", "port", "prefix"}
NFLOG_KEYS = {"group", "numeric_label", "netlink_socket_buffer_size", "netlink_qthreshold",
              "netlink_qtimeout", "seq_local", "seq_global", "bind", "unbind", "bufsize",
              "netlink_socket_buffer_maxsize"}
NFLOG_MOOT = {  # settings with nothing to carry: the exporter always does this
    "seq_local": "sequence numbers are always on (losses: nflog_lost_packets_total)",
    "seq_global": "sequence numbers are always on (losses: nflog_lost_packets_total)",
    "bind": "the exporter binds its groups itself",
    "unbind": "the exporter binds its groups itself",
    "bufsize": "the exporter sizes its own receive buffer",
    "netlink_socket_buffer_maxsize": "the buffer is fixed at rcvbuf (no doubling on ENOBUFS)",
}
JSON_KEYS = {"file", "device", "boolean_label", "mode", "host", "port", "timestamp"}
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


@dataclass
class Result:
    yaml: str
    warnings: list[str] = field(default_factory=list)


def scalar(v: str | int | float) -> str:
    if not isinstance(v, str):
        return str(v)
    return v if _PLAIN.match(v) and v.lower() not in _RESERVED else json.dumps(v)


def _int(conf: UlogdConf, inst: str, key: str, default: int) -> int:
    raw = conf.settings(inst).get(key)
    if raw is None:
        return default
    try:
        return int(raw, 0)
    except ValueError:
        line = conf.lines.get((inst, key), 0)
        raise BadConfig(f"{conf.path}:{line}: [{inst}] {key}={raw!r}: expected a number") from None


class Translator:
    def __init__(self, conf: UlogdConf) -> None:
        self.conf = conf
        self.warnings: list[str] = []
        self.top: list[str] = []  # lines of pollinterval / netns
        self.poll: int | None = None
        self.graphite: list[str] = []
        self.groups: dict[int, list[str]] = {}
        self.used: set[str] = set()

    def warn(self, inst: str | None, key: str | None, why: str) -> None:
        line = self.conf.lines.get((inst, key), 0) if inst and key else 0
        where = f"{self.conf.path}:{line}" if line else self.conf.path
        what = f"[{inst}] {key}={self.conf.settings(inst)[key]}" if inst and key else inst or ""
        self.warnings.append(f"{where}: {what}: {why}" if what else f"{where}: {why}")

    def extra_keys(self, inst: str, known: set[str]) -> None:
        for key in self.conf.settings(inst):
            if key not in known:
                self.warn(inst, key, "not carried over (no such setting in nfacct-exporter)")

    def run(self) -> Result:
        for number, stack in self.conf.stacks:
            for e in stack:
                if e.plugin in NEEDS_SECTION and e.instance not in self.conf.sections:
                    raise BadConfig(f"{self.conf.path}:{number}: stack names {e.instance}:"
                                    f"{e.plugin}, but there is no [{e.instance}] section")
                self.used.add(e.instance)
            source = stack[0].plugin
            if source == "NFACCT":
                self.nfacct(number, stack)
            elif source == "NFLOG":
                self.nflog(number, stack)
            else:
                self.warnings.append(f"{self.conf.path}:{number}: stack starting with "
                                     f"{stack[0].instance}:{source}: not carried over "
                                     "(nfacct-exporter reads NFACCT, NFLOG and nft counters)")
        return Result(self.render(), list(dict.fromkeys(self.warnings)))  # once per setting

    # --- NFACCT → pollinterval, graphite -------------------------------------------------------
    def nfacct(self, number: int, stack: tuple[Element, ...]) -> None:
        inst = stack[0].instance
        poll = _int(self.conf, inst, "pollinterval", 0)
        if poll <= 0:
            raise BadConfig(f"{self.conf.path}:{number}: [{inst}] needs pollinterval > 0 "
                            "(ulogd refuses to start without it)")
        zero = _int(self.conf, inst, "zerocounter", 1)
        self.extra_keys(inst, NFACCT_KEYS)
        if self.poll is not None:
            if poll != self.poll:
                self.warn(inst, "pollinterval", "one pollinterval per exporter: the first "
                          "NFACCT stack's is kept")
        else:
            self.poll = poll
            self.top.append(f"pollinterval: {poll}".ljust(28) + f"# [{inst}] pollinterval")
            path = self.conf.settings(inst).get("network_namespace_path")
            if path:
                self.top.append(f"netns: {scalar(path)}".ljust(28)
                                + f"# [{inst}] network_namespace_path")
        for e in stack[1:]:
            if e.plugin == "GRAPHITE":
                self.graphite_output(e.instance, inst, zero)
            elif e.plugin not in DECODERS:
                self.warnings.append(
                    f"{self.conf.path}:{number}: {inst}:NFACCT → {e.instance}:{e.plugin}: not "
                    "carried over (the counters are served on /metrics, and to Graphite)")

    def graphite_output(self, inst: str, source: str, zerocounter: int) -> None:
        s = self.conf.settings(inst)
        self.extra_keys(inst, GRAPHITE_KEYS)
        if self.graphite:
            self.warnings.append(f"{self.conf.path}: [{inst}] GRAPHITE: one carbon per exporter: "
                                 "the first GRAPHITE output is kept, this one is not carried over")
            return
        host = s.get("host", "")
        if not host:
            raise BadConfig(f"{self.conf.path}: [{inst}] GRAPHITE needs host=")
        port = s.get("port", "2003")
        if not port.isdigit():
            self.warn(inst, "port", "a service name: using 2003 (carbon's plaintext port)")
            port = "2003"
        prefix = s.get("prefix", "")
        if not prefix:
            self.warnings.append(f"{self.conf.path}: [{inst}] no prefix=: ulogd sent "
                                 "'.<name>.pkts', which carbon stores as '<name>.pkts'; the "
                                 "exporter needs a prefix: netfilter.nfacct (move the whisper "
                                 "directories under it, or choose another)")
            prefix = "netfilter.nfacct"
        mode = "delta" if zerocounter else "total"
        why = ("zerocounter=1 (ulogd's default): values per poll interval, as before"
               if zerocounter else "zerocounter=0: cumulative values, as before")
        self.graphite = [
            "graphite:".ljust(28) + f"# [{inst}]",
            f"  host: {scalar(host)}",
            f"  port: {int(port)}",
            f"  prefix: {scalar(prefix)}".ljust(28) + "# <prefix>.<name>.pkts / .bytes",
            f"  mode: {mode}".ljust(28) + f"# [{source}] {why}",
        ]

    # --- NFLOG → nflog groups ------------------------------------------------------------------
    def nflog(self, number: int, stack: tuple[Element, ...]) -> None:
        inst = stack[0].instance
        s = self.conf.settings(inst)
        group = _int(self.conf, inst, "group", 0)
        self.extra_keys(inst, NFLOG_KEYS)
        if group in self.groups:
            self.warnings.append(f"{self.conf.path}:{number}: NFLOG group {group} is already "
                                 "taken by an earlier stack: this stack is not carried over")
            return
        json_out = [e for e in stack[1:] if e.plugin == "JSON"]
        boolean = bool(json_out) and _int(self.conf, json_out[0].instance, "boolean_label", 0)
        lines = [f"  - group: {group}".ljust(28) + f"# [{inst}]"]
        if "numeric_label" in s:
            label = _int(self.conf, inst, "numeric_label", 0)
            verdict = "accept" if label else "drop"
            lines.append(f"    verdict: {verdict}".ljust(28)
                         + f"# numeric_label={label} (boolean_label: "
                         + ("allowed)" if label else "blocked)"))
        elif boolean:
            lines.append("    verdict: drop".ljust(28) + "# numeric_label unset = 0: "
                         "boolean_label called these blocked")
        else:
            lines.append("    verdict: log".ljust(28) + "# no numeric_label: only logged")
        for key, out, conv in (("netlink_socket_buffer_size", "rcvbuf", int),
                               ("netlink_qthreshold", "qthreshold", int),
                               ("netlink_qtimeout", "qtimeout", lambda v: max(int(v) / 100, .01))):
            if key in s:
                value = conv(_int(self.conf, inst, key, 0))
                if out == "rcvbuf":
                    value = min(max(value, 4096), 1 << 30)
                lines.append(f"    {out}: {value:g}".ljust(28) + f"# {key}")
        for key, why in NFLOG_MOOT.items():
            if key in s:
                lines.append(f"    # {key}={s[key]}: {why}")
        for e in stack[1:]:
            if e.plugin == "JSON" and e is json_out[0]:
                lines += self.events(e.instance)
            elif e.plugin == "MARK":
                self.warnings.append(f"{self.conf.path}:{number}: {e.instance}:MARK: not "
                                     "carried over: every packet of the group is counted")
            elif e.plugin not in DECODERS:
                self.warnings.append(
                    f"{self.conf.path}:{number}: {inst}:NFLOG → {e.instance}:{e.plugin}: not "
                    "carried over (NFLOG packets are counted per prefix and verdict, and "
                    "written out only as JSON events)")
        self.groups[group] = lines

    def events(self, inst: str) -> list[str]:
        s = self.conf.settings(inst)
        self.extra_keys(inst, JSON_KEYS)
        mode = s.get("mode", "file")
        if mode == "tcp":
            address = f"tcp://{s.get('host', '127.0.0.1')}:{s.get('port', '')}"
            where = f"socket: {scalar(address)}"
        elif mode == "unix":
            where = f"socket: {scalar('unix:' + s.get('file', ''))}"
        elif mode == "file":
            where = f"file: {scalar(s.get('file', '/var/log/ulogd.json'))}"
        else:
            self.warn(inst, "mode", "no such events output: written to the file instead")
            where = f"file: {scalar(s.get('file', '/var/log/ulogd.json'))}"
        dvc = scalar(s.get("device", "Netfilter"))
        return ["    events:".ljust(28) + f"# [{inst}] JSON",
                f"      {where}", "      format: ulogd", f"      dvc: {dvc}"]

    # --- output --------------------------------------------------------------------------------
    def render(self) -> str:
        out = [f"# nfacct-exporter configuration migrated from {self.conf.path} by",
               "# `nfacct-exporter migrate`. ulogd's stacks, as read:"]
        out += [f"#   line {n}: " + ",".join(f"{e.instance}:{e.plugin}" for e in stack)
                for n, stack in self.conf.stacks]
        unused = sorted(set(self.conf.sections) - self.used - {"global"})
        if unused:
            out += textwrap.wrap("Sections no stack uses (ulogd ignores them too): "
                                 + ", ".join(unused), 94, initial_indent="# ",
                                 subsequent_indent="#   ")
        out += ["# Unlike ulogd, the exporter never resets the kernel's counters (it computes",
                "# increments itself), so other readers and the over-quota flag are untouched.",
                ""]
        out += self.top or ["# no NFACCT stack in ulogd: every NFACCT object is read anyway, "
                            "every 10 s (pollinterval)"]
        if self.graphite:
            out += ["", *self.graphite]
        if self.groups:
            out += ["", "nflog:"]
            for lines in self.groups.values():
                out += lines
        return "\n".join(out) + "\n"


def translate(conf: UlogdConf) -> Result:
    """The configuration text and the warnings; raise BadConfig for what ulogd would refuse."""
    return Translator(conf).run()
