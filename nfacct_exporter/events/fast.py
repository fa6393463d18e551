"""The fast path of the ulogd format: whole runs of messages of one compiled layout at a time.

Within one datagram, consecutive packets of one rule usually have one layout and one length
(with a 128-byte copy range, every packet of at least 128 bytes). A run is checked and read
with one ``iter_unpack`` (``netlink/runs.py``), turned into columns and formatted with C-level
``map``/``zip``/``itemgetter`` calls, so the per-packet Python bytecode mostly disappears. It
ends at the first message that does not match; that one goes the next run's way, or the
reference way. Runs shorter than RUN_MIN cost less one message at a time (``_one``).
"""

import socket
from collections.abc import Callable, Iterable
from itertools import repeat
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import add, and_, itemgetter, rshift

from nfacct_exporter.events import packet
from nfacct_exporter.events.compiled import COMPUTED, Layout, compile_layout
from nfacct_exporter.netlink.runs import run_rows

LAYOUTS_MAX = 1024  # (length, prefix) keys remembered; then forgotten all at once
PER_KEY = 8  # layouts tried per key (e.g. SYN and SYN-ACK of one rule with equal lengths)
ADDRS_MAX = 65536
RUN_MIN = 8  # shorter runs cost less one message at a time (measured: the break-even is ~6)
Stamp = Callable[[int], tuple[bytes, bytes]]  # second → (local date and time, UTC offset)


class FastUlogd:
    """Compiled layouts of one group's packets, by (message length, attributes up to the end
    of the prefix)."""

    def __init__(self, dvc_part: str, ifname: Callable[[int], str]) -> None:
        self._dvc_part = dvc_part
        self._ifname = ifname
        self._layouts: dict[tuple[int, bytes], list[Layout]] = {}
        self._tries: dict[tuple[int, bytes], int] = {}  # compilations attempted per key
        self._addrs: dict[bytes, bytes] = {}  # raw address → its JSON string

    @staticmethod
    def key(data: bytes, off: int, length: int) -> tuple[int, bytes] | None:
        """Where the layouts of this message are filed; None for messages not laid out as the
        kernel does (packet header, then prefix)."""
        k = off + 28
        if length < 36 or data[off + 22] != packet.NFULA_PACKET_HDR or \
                data[k + 2] != packet.NFULA_PREFIX:
            return None
        end = k + (data[k] | data[k + 1] << 8)
        return (length, data[off + 16 : end]) if end <= off + length else None

    def learn(self, key: tuple[int, bytes], data: bytes, off: int, end: int,
              fields: packet.Fields) -> None:
        """Compile the layout of a message the reference path just rendered (at most PER_KEY
        attempts per key: messages the fast path does not cover are not tried again)."""
        tries = self._tries.get(key, 0)
        if tries >= PER_KEY:
            return
        if len(self._tries) >= LAYOUTS_MAX:
            self._layouts.clear()
            self._tries.clear()
        self._tries[key] = tries + 1
        lay = compile_layout(data, off, end, fields, self._dvc_part)
        if lay is not None:
            self._layouts.setdefault(key, []).append(lay)

    def run(self, key: tuple[int, bytes], data: bytes, view: memoryview, off: int,
            stamp: Stamp, fallback: tuple[int, int]) -> tuple[bytes, int, int] | None:
        """(lines, how many, bytes taken) of the run of messages starting at ``off`` with one
        layout; None if no compiled layout matches the message at ``off``."""
        for lay in self._layouts.get(key, ()):
            v = lay.unpack(data, off)
            if lay.check(v) == lay.const and v[lay.i_len] >= lay.min_len:
                break
        else:
            return None
        step = lay.step
        head = lay.const[0]  # nlmsg_len and type
        nxt = off + step
        last = nxt + (RUN_MIN - 2) * step  # the RUN_MIN-th message, if the run is that long
        if data[nxt : nxt + 6] != head or data[last : last + 6] != head:
            return self._one(lay, v, stamp, fallback), 1, step
        rows = _run(lay, data, view, off)
        secs, usecs = _times(lay, rows, fallback)
        cols = [self._column(name, lay, rows, secs, usecs, stamp) for name in COMPUTED]
        values = map(lay.pick, map(add, rows, zip(*cols, strict=False)))
        text = b"".join(map(lay.template.__mod__, values))
        return text, len(rows), len(rows) * lay.step

    def _one(self, lay: Layout, v: tuple, stamp: Stamp, fallback: tuple[int, int]) -> bytes:
        """The line of one message (cheaper than a run of one)."""
        if lay.i_sec is not None and (v[lay.i_sec] or v[lay.i_sechi]):
            sec, usec = v[lay.i_sec], v[lay.i_usec]
        else:
            sec, usec = fallback
        head, tz = stamp(sec)
        addrs = self._addrs
        sa, da = v[lay.i_addr[0]], v[lay.i_addr[1]]
        if sa not in addrs or da not in addrs:
            self._ntop({sa, da})
        prio = flow = icsum = 0
        if lay.i_flow is not None:
            f = v[lay.i_flow]
            prio, flow = (f & 0x0FF00000) >> 20, f & 0x000FFFFF
        if lay.i_csum is not None:
            icsum = int.from_bytes(v[lay.i_csum], "little")
        return lay.template % lay.pick(v + (
            head, usec, tz, v[lay.i_len] + 40 if lay.v6 else v[lay.i_len], addrs[sa], addrs[da],
            self._name(lay.indev), self._name(lay.outdev), prio, flow, icsum, sec))

    def _name(self, index: int) -> bytes:
        """The interface's name as a JSON string ("" for index 0)."""
        return encode_basestring(self._ifname(index)).encode() if index else b'""'

    def _ntop(self, raw: set[bytes]) -> None:
        """Remember the JSON strings of these raw addresses."""
        addrs = self._addrs
        new = raw.difference(addrs)
        if len(addrs) + len(new) > ADDRS_MAX:
            addrs.clear()
            new = raw
        for a in new:
            addrs[a] = b'"%s"' % socket.inet_ntop(
                socket.AF_INET if len(a) == 4 else socket.AF_INET6, a).encode()

    def _column(self, name: str, lay: Layout, rows: list[tuple], secs: list[int],
                usecs: list[int], stamp: Stamp) -> Iterable:
        """The values of one computed column of ``rows``."""
        if name == "sec":
            return secs
        if name == "usec":
            return usecs
        if name in ("head", "tz"):
            i = name == "tz"
            if secs[0] == secs[-1] and len(set(secs)) == 1:
                return repeat(stamp(secs[0])[i])
            table = {s: stamp(s)[i] for s in set(secs)}
            return map(table.__getitem__, secs)
        if name in ("src", "dst"):
            raw = list(map(itemgetter(lay.i_addr[name == "dst"]), rows))
            self._ntop(set(raw))
            return map(self._addrs.__getitem__, raw)
        if name == "pktlen":
            lens = map(itemgetter(lay.i_len), rows)
            return map(add, lens, repeat(40)) if lay.v6 else lens
        if name in ("in", "out"):
            return repeat(self._name(lay.indev if name == "in" else lay.outdev))
        if (lay.i_flow is None and name in ("prio", "flow")) or (lay.i_csum is None
                                                                  and name == "icsum"):
            return repeat(0)
        if name == "prio":
            flows = map(itemgetter(lay.i_flow), rows)
            return map(rshift, map(and_, flows, repeat(0x0FF00000)), repeat(20))
        if name == "flow":
            return map(and_, map(itemgetter(lay.i_flow), rows), repeat(0x000FFFFF))
        if name == "icsum":
            return map(int.from_bytes, map(itemgetter(lay.i_csum), rows), repeat("little"))
        raise AssertionError(name)


def _run(lay: Layout, data: bytes, view: memoryview, off: int) -> list[tuple]:
    """The rows of the messages from ``off`` on (the first has ``lay``) that have ``lay``, up to
    the first that has not (or whose length field is shorter than what was copied)."""
    rows = run_rows(lay.rows, lay.step, lay.fixed, data, view, off)
    fits = list(map(lay.min_len.__le__, map(itemgetter(lay.i_len), rows)))
    if False in fits:
        del rows[fits.index(False):]
    return rows


def _times(lay: Layout, rows: list[tuple], fallback: tuple[int, int]
           ) -> tuple[list[int], list[int]]:
    """(seconds, microseconds) of each row, as the reference path writes them: the kernel's
    timestamp (low 32 bits), or ``fallback`` without one. Cuts ``rows`` before the first
    timestamp that is zero (the reference's test: all 64 bits), unless it is the first."""
    n = len(rows)
    if lay.i_sec is None:
        return [fallback[0]] * n, [fallback[1]] * n
    secs = list(map(itemgetter(lay.i_sec), rows))
    if 0 in secs:
        z = secs.index(0)
        if z == 0:
            del rows[1:]
            v = rows[0]
            return ([0], [v[lay.i_usec]]) if v[lay.i_sechi] else ([fallback[0]], [fallback[1]])
        del rows[z:], secs[z:]
    return secs, list(map(itemgetter(lay.i_usec), rows))
