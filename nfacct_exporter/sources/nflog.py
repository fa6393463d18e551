"""NFLOG source: one listener thread counts logged packets per (group, prefix); polls copy totals.

The kernel pushes NFLOG packets as they are logged, so unlike NFACCT this source cannot wait for
the poller: a thread of its own drains one socket per group (a flood on one group cannot make
another lose packets), tallies packets and bytes per prefix in memory, and ``read()`` (poller
thread) copies the totals under a lock held for one datagram at most. Nothing here ever waits
for polls, Graphite or scrapes, and they never wait for it.

Verdicts: the kernel sends none. Each group has one from the configuration (``accept``, ``drop``,
``reject`` or ``log`` = only logged, decided later), optionally overridden per prefix by the
group's ``prefix_verdicts`` (first regex that matches the prefix wins), resolved once per prefix.

Loss: sockets are opened with NETLINK_NO_ENOBUFS (a full buffer drops the kernel's datagram
silently instead of failing our next recv) and each group numbers its packets (NFULNL_CFG_F_SEQ),
so every gap is counted as lost when the next packet of the group arrives.

Events: a group with ``events`` copies packet headers (``HEADERS_COPY_RANGE`` bytes instead of
8) and hands each datagram, after counting it, to its output's writer (``events/``): a queue
append that never waits; the writer thread renders and writes the lines, or counts the drops.

Cardinality: a group tracks at most ``max_prefixes`` distinct prefixes; packets with any further
prefix are counted under the overflow record (``prefix=None``), per verdict, and in
``overflow_packets``.
"""

import contextlib
import errno
import logging
import os
import select
import threading
import time
from collections.abc import Sequence

from nfacct_exporter.config.nflog import NflogGroup
from nfacct_exporter.events import writer as event_writer
from nfacct_exporter.events.hub import EventHub
from nfacct_exporter.events.ifnames import IfNames
from nfacct_exporter.events.json_format import EventFormat, boolean_label
from nfacct_exporter.netlink import core, nflog, nflog_tally
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NflogCount, NflogEventStats, NflogGroupStats
from nfacct_exporter.snapshot import Reading

log = logging.getLogger(__name__)

ALIASES_MAX = 65536  # overflowed prefixes remembered per group (so they skip the regexes)
RECV_SIZE = 1 << 18  # more than any batch datagram (nflog.NLBUFSIZ)


def verdict_of(cfg: NflogGroup, prefix: str) -> str:
    """The group's verdict, or that of the first ``prefix_verdicts`` regex found in ``prefix``."""
    for rx, verdict in cfg.prefix_verdicts:
        if rx.search(prefix):
            return verdict
    return cfg.verdict


class _Group:
    """One bound group: its socket and its tallies (written by the listener only)."""

    def __init__(self, cfg: NflogGroup, sock: NetfilterSocket) -> None:
        self.cfg = cfg
        self.sock = sock
        self.counts: dict[bytes, list[int]] = {}  # raw prefix → [packets, bytes], aliases too
        self.names: dict[bytes, tuple[str, str]] = {}  # tracked raw prefix → (text, verdict)
        self.overflow: dict[str, list[int]] = {}  # verdict → [packets, bytes]
        self.aliases = 0
        self.expect = 0  # next sequence number (a new group instance starts at 0)
        self.lost = 0
        self.writer: event_writer.EventWriter | None = None  # with ``events``: its output's
        self.format: EventFormat | None = None
        self._actions: dict[bytes | None, str | None] = {}  # writer thread only

    def action(self, raw: bytes | None) -> str | None:
        """``action`` of an event with this raw prefix: the verdict as boolean_label says it."""
        try:
            return self._actions[raw]
        except KeyError:
            if len(self._actions) >= ALIASES_MAX:
                self._actions.clear()
            a = self._actions[raw] = boolean_label(verdict_of(self.cfg, core.text(raw or b"")))
            return a

    def admit(self, raw: bytes) -> list[int]:
        """A prefix seen for the first time: track it, or fold it into the overflow record."""
        text = core.text(raw)
        verdict = verdict_of(self.cfg, text)
        if len(self.names) < self.cfg.max_prefixes:
            self.names[raw] = (text, verdict)
            c = self.counts[raw] = [0, 0]
            return c
        if self.aliases >= ALIASES_MAX:  # forget the aliases (in place: tally holds the dict)
            for k in [k for k in self.counts if k not in self.names]:
                del self.counts[k]
            self.aliases = 0
        c = self.overflow.setdefault(verdict, [0, 0])
        self.counts[raw] = c
        self.aliases += 1
        return c


class NflogSource:
    """Binds the configured groups at ``open()`` and counts until ``close()``."""

    name = "nflog"

    def __init__(self, groups: Sequence[NflogGroup], netns: str | None = None,
                 label: str | None = None, events: EventHub | None = None) -> None:
        self.netns = netns
        self.events = events  # the pipeline's event writers (None: no group has events)
        self._ifnames: IfNames | None = None
        self.label = label  # the netns label value; None when one namespace is read
        self.cfgs = list(groups)
        self.groups: dict[int, _Group] = {}  # by socket fd
        self.datagrams = 0
        self.receive_errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Bind every group (BindError names the first refused one), then start listening."""
        where = f" in network namespace {self.netns!r}" if self.netns else ""
        try:
            for cfg in self.cfgs:
                sock = NetfilterSocket(self.netns, rcvbuf=cfg.rcvbuf)
                g = self.groups[sock.fileno()] = _Group(cfg, sock)
                with contextlib.suppress(OSError):  # pre-3.2 kernels: ENOBUFS is handled below
                    sock.no_enobufs()
                nflog.bind(sock, cfg.group, cfg.qthreshold, round(cfg.qtimeout * 100), where,
                           copy_range=self._attach_events(g))
                sock.set_blocking(False)
        except OSError:
            self._close_sockets()
            raise
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._run, name="nflog", daemon=True)
        self._thread.start()
        log.info("nflog: listening on group(s) %s",
                 ", ".join(str(c.group) for c in self.cfgs))

    def _attach_events(self, g: _Group) -> int:
        """Give a group with ``events`` its writer and format → the copy range to bind with."""
        ev = g.cfg.events
        if ev is None or self.events is None:
            return nflog.COPY_RANGE
        if self._ifnames is None:
            self._ifnames = IfNames(self.netns)
        g.writer = self.events.writer(ev)
        g.format = EventFormat(g.cfg.group, ev.format, ev.dvc, g.action, self._ifnames,
                               self.label)
        return nflog.HEADERS_COPY_RANGE

    # --- listener thread ------------------------------------------------------------------------
    def _run(self) -> None:
        poller = select.poll()
        for fd in self.groups:
            poller.register(fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        buf = bytearray(RECV_SIZE)
        view = memoryview(buf)
        while not self._stop.is_set():
            try:
                for fd, _ in poller.poll():
                    g = self.groups.get(fd)
                    if g is not None:
                        self._drain(g, buf, view)
            except Exception:  # never die: count, log, go on
                self.receive_errors += 1
                log.exception("nflog: listener error")
                time.sleep(0.1)

    def _drain(self, g: _Group, buf: bytearray, view: memoryview) -> None:
        recv_into = g.sock.recv_into
        for _ in range(64):  # then back to poll(): other groups and stop() get their turn
            try:
                n = recv_into(buf)
            except BlockingIOError:
                return
            except OSError as e:
                self.receive_errors += 1
                if e.errno == errno.ENOBUFS:  # only without NETLINK_NO_ENOBUFS; gaps count it
                    continue
                log.warning("nflog: group %d: receive failed: %s", g.cfg.group, e)
                time.sleep(0.1)  # an error that repeats must not spin the CPU
                return
            data = bytes(view[:n])
            with self._lock:
                g.expect, lost, packets = nflog_tally.tally(data, g.counts, g.admit, g.expect)
                g.lost += lost
                self.datagrams += 1
            if g.writer is not None:
                g.writer.submit(g.format, data, packets, time.time())  # type: ignore[arg-type]

    # --- poller thread --------------------------------------------------------------------------
    def read(self) -> Reading:
        start = time.perf_counter()
        if self._thread is None or not self._thread.is_alive():
            return Reading(self.name, False, time.perf_counter() - start,
                           error="the NFLOG listener is not running", netns=self.label)
        records: list[NflogCount] = []
        stats: list[NflogGroupStats] = []
        with self._lock:
            for g in self.groups.values():
                grp = g.cfg.group
                for raw, (text, verdict) in g.names.items():
                    c = g.counts.get(raw) or [0, 0]
                    records.append(NflogCount(grp, text, verdict, c[0], c[1]))
                overflow = 0
                for verdict, c in g.overflow.items():
                    records.append(NflogCount(grp, None, verdict, c[0], c[1]))
                    overflow += c[0]
                stats.append(NflogGroupStats(grp, g.lost, len(g.names), overflow))
            extra = {"groups": tuple(stats), "datagrams": self.datagrams,
                     "receive_errors": self.receive_errors, "events": self._event_stats()}
        return Reading(self.name, True, time.perf_counter() - start, tuple(records), extra=extra,
                       netns=self.label)

    def _event_stats(self) -> tuple[NflogEventStats, ...]:
        out = []
        for g in self.groups.values():
            if g.writer is not None and g.format is not None:
                written, dropped = g.writer.counters()
                key = g.format.key
                out.append(NflogEventStats(g.cfg.group, written.get(key, 0), tuple(
                    (r, dropped.get((key, r), 0)) for r in event_writer.REASONS)))
        return tuple(out)

    def close(self) -> None:
        """Stop the listener and close the sockets: the kernel frees the groups."""
        self._stop.set()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(5)
        self._close_sockets()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _close_sockets(self) -> None:
        for g in self.groups.values():
            with contextlib.suppress(OSError):
                g.sock.close()
        self.groups.clear()
        if self._ifnames is not None:
            self._ifnames.close()
            self._ifnames = None

