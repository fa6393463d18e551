"""NFLOG datagrams → JSON lines: ulogd2's JSON output (default) or Elastic Common Schema.

One object per line, always valid UTF-8: prefixes and interface names that are not UTF-8 have
each such byte written as the text ``\\xNN`` (as the Prometheus labels do), so the line stays
parseable; ulogd would leave the key out. Strings are escaped as JSON requires (quotes,
backslashes, control characters).

``ulogd``: ``{"timestamp": ..., "dvc": ..., <ulogd keys>}`` (``"netns"`` after ``dvc`` when several
namespaces are read) with ulogd's separators, key order
and timestamp: local time with microseconds and the UTC offset, which ulogd 2.0.8 leaves out
when the local offset is zero (then so do we: the same text for the same instant).
``ecs``: nested ECS fields (``@timestamp`` in UTC, ``source.ip``, ``destination.port``,
``event.action``, ``observer.name``, ...).
"""

import json
import struct
import time
from collections.abc import Callable
from json.encoder import encode_basestring  # type: ignore[attr-defined]

from nfacct_exporter.events import packet
from nfacct_exporter.events.fast import FastUlogd

FORMATS = ("ulogd", "ecs")
_NLHDR = struct.Struct("=IH")
ECS_VERSION = "8.11.0"
Action = Callable[[bytes | None], str | None]  # raw prefix → allowed | blocked | None


def ulogd_timestamp(sec: int, usec: int) -> str:
    """``2026-11-27T11:28:23.452295`` (+ ``+0100`` style offset when not UTC), as ulogd writes."""
    head, tz = _local(sec)
    return f"{head}.{usec:06d}{tz}"


def _local(sec: int) -> tuple[str, str]:
    """(local date and time to the second, UTC offset as ulogd 2.0.8 writes it or "")."""
    t = time.localtime(sec)
    off = t.tm_gmtoff
    tz = "" if not off else f"{int(off / 3600):+03d}{abs(off) // 60 % 60:02d}"
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d}", tz)


class EventFormat:
    """Renders the packets of one group's datagrams in one format (one instance per group and
    namespace: ``netns`` is its label value, None when one namespace is read)."""

    def __init__(self, group: int, fmt: str, dvc: str, action: Action,
                 ifname: Callable[[int], str], netns: str | None = None,
                 fast: bool = True) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown event format {fmt!r}")
        self.group = group
        self.key = (netns, group)  # what the writer counts events under
        self.dvc = dvc
        self._ecs = fmt == "ecs"
        self._action = action
        self._ifname = ifname
        self._dvc_part = '"dvc": ' + encode_basestring(dvc)
        if netns is not None:  # several namespaces read: say which one logged the packet
            self._dvc_part += ', "netns": ' + encode_basestring(netns)
        self.netns = netns
        self._fast = FastUlogd(self._dvc_part, ifname) if fast and not self._ecs else None
        self._sec = -1
        self._head = self._tz = ""
        self._bsec, self._bstamp = -1, (b"", b"")

    def render(self, data: bytes, now: float) -> tuple[bytes, int]:
        """(the lines, how many) of the NFLOG packets of ``data``: one line per packet; ``now``
        (receive time) stands in for packets the kernel did not timestamp. Runs of packets of
        a known layout take the compiled path."""
        sec = int(now)
        fallback = (sec, int((now - sec) * 1e6))
        out: list[bytes] = []
        count = 0
        fast = self._fast
        view = memoryview(data)
        off, total = 0, len(data)
        while off + 20 <= total:
            length, mtype = _NLHDR.unpack_from(data, off)
            end = off + length
            if length < 20 or end > total:
                break
            if mtype != packet.ULOG_PACKET:
                off += (length + 3) & ~3
                continue
            key = fast.key(data, off, length) if fast is not None else None
            got = fast.run(key, data, view, off, self._stamp_bytes, fallback) if key else None
            if got is not None:
                text, n, taken = got
                out.append(text)
                count += n
                off += taken
                continue
            p = packet.decode(data, off + 16, end)
            fields = packet.ulogd_fields(p, fallback, self._action(p.prefix), self._ifname)
            if self._ecs:
                out.append(self._ecs_line(fields, p))
            else:
                out.append(self._ulogd_line(fields))
                if key is not None:
                    fast.learn(key, data, off, end, fields)  # type: ignore[union-attr]
            count += 1
            off += (length + 3) & ~3
        return b"".join(out), count

    def lines(self, data: bytes, now: float) -> list[bytes]:
        """``render``'s lines, one by one."""
        return [line + b"\n" for line in self.render(data, now)[0].split(b"\n")[:-1]]

    def _stamp(self, sec: int) -> tuple[str, str]:
        if sec != self._sec:
            self._sec = sec
            self._head, self._tz = _local(sec)
        return self._head, self._tz

    def _stamp_bytes(self, sec: int) -> tuple[bytes, bytes]:
        if sec != self._bsec:
            head, tz = self._stamp(sec)
            self._bsec, self._bstamp = sec, (head.encode(), tz.encode())
        return self._bstamp

    def _ulogd_line(self, fields: packet.Fields) -> bytes:
        d = dict(fields)
        head, tz = self._stamp(d["oob.time.sec"])  # type: ignore[arg-type]
        parts = [f'"timestamp": "{head}.{d["oob.time.usec"]:06d}{tz}"', self._dvc_part]
        parts += [encode_basestring(k) + ": " + (encode_basestring(v) if isinstance(v, str)
                                                 else str(v)) for k, v in fields]
        return ("{" + ", ".join(parts) + "}\n").encode()

    def _ecs_line(self, fields: packet.Fields, p: packet.Packet) -> bytes:
        d = dict(fields)
        sec, usec = d["oob.time.sec"], d["oob.time.usec"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))  # type: ignore[arg-type]
        doc: dict = {"@timestamp": f"{stamp}.{usec:06d}Z", "ecs": {"version": ECS_VERSION}}
        event: dict = {"kind": "event", "category": ["network"], "type": ["connection"]}
        action = d.get("action")
        if action is not None:
            event["action"] = action
            event["type"].append("allowed" if action == "allowed" else "denied")
        doc["event"] = event
        observer: dict = {"name": self.dvc, "type": "firewall"}
        if d["oob.in"]:
            observer["ingress"] = {"interface": {"name": d["oob.in"]}}
        if d["oob.out"]:
            observer["egress"] = {"interface": {"name": d["oob.out"]}}
        doc["observer"] = observer
        if "oob.prefix" in d:
            doc["rule"] = {"name": d["oob.prefix"]}
        for side, ip, port in (("source", "src_ip", "src_port"),
                               ("destination", "dest_ip", "dest_port")):
            if ip in d:
                doc[side] = {"ip": d[ip], **({"port": d[port]} if port in d else {})}
        network: dict = {"bytes": d.get("raw.pktlen", 0), "packets": 1}
        if "src_ip" in d:
            network["type"] = "ipv6" if ":" in str(d["src_ip"]) else "ipv4"
        if "ip.protocol" in d:
            proto = d["ip.protocol"]
            network["iana_number"] = str(proto)
            network["transport"] = _TRANSPORTS.get(proto, str(proto))  # type: ignore[call-overload]
        doc["network"] = network
        nf: dict = {"group": self.group, "hook": d.get("oob.hook"), "mark": d["oob.mark"]}
        if self.netns is not None:
            nf["netns"] = self.netns
        for key in ("icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code"):
            if key in d:
                nf[key.replace(".", "_")] = d[key]
        if "tcp.syn" in d:
            nf["tcp_flags"] = [f for f in _TCP_FLAGS if d.get(f"tcp.{f.lower()}")]
        doc["netfilter"] = nf
        return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


_TRANSPORTS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}
_TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")


def boolean_label(verdict: str) -> str | None:
    """A verdict → ulogd's ``action`` (boolean_label: accept = label 1 = allowed, drop and
    reject = label 0 = blocked); ``log`` (no verdict known) writes no ``action``."""
    return {"accept": "allowed", "drop": "blocked", "reject": "blocked"}.get(verdict)
