"""NFLOG tallies → the ``nflog_*`` families."""

from nfacct_exporter import naming
from nfacct_exporter.sinks.prometheus.text import family
from nfacct_exporter.snapshot import Reading

# Longer than the 127 bytes an NFLOG prefix can have (kernel NF_LOG_PREFIXLEN) and without the
# backslash that non-UTF-8 prefixes render with: no real prefix can ever produce this value.
NFLOG_OVERFLOW_PREFIX = ("~overflow: packets whose prefix came after the group's first "
                         "max_prefixes distinct ones (a value longer than the 127 bytes a real "
                         "NFLOG prefix can have)")


class NflogRenderer:
    """NFLOG tallies → ``nflog_*`` families; sample (HELP lines shortened)::

        # TYPE nflog_packets_total counter
        nflog_packets_total{group="2",prefix="Input IPv4 Default DROP",verdict="drop"} 17
        nflog_packets_total{group="2",prefix="",verdict="drop"} 3
        nflog_packets_total{group="2",prefix="~overflow: packets whose (...)",verdict="drop"} 4
        # TYPE nflog_bytes_total counter
        nflog_bytes_total{group="2",prefix="Input IPv4 Default DROP",verdict="drop"} 1360
        # TYPE nflog_lost_packets_total counter
        nflog_lost_packets_total{group="2"} 0
        # TYPE nflog_prefix_overflow_packets_total counter
        nflog_prefix_overflow_packets_total{group="2"} 4
        # TYPE nflog_prefixes gauge
        nflog_prefixes{group="2"} 2
        # TYPE nflog_events_written_total counter
        nflog_events_written_total{group="2"} 20
        # TYPE nflog_events_dropped_total counter
        nflog_events_dropped_total{group="2",reason="queue_full"} 0

    Counts start at 0 when the exporter starts; an overflow series exists once its group has
    overflowed. Prefixes differing only in bytes that are not UTF-8 can render alike (``\\xNN``
    text): such series are summed, never emitted twice. The listeners' own receive counts
    (``nfacct_exporter_nflog_*``) are in ``instrumentation``.
    """

    def __init__(self) -> None:
        self._labels: dict[tuple[str | None, int, str | None, str], str] = {}

    def labels(self, group: int, prefix: str | None, verdict: str,
               netns: str | None = None) -> str:
        key = (netns, group, prefix, verdict)
        text = self._labels.get(key)
        if text is None:
            if len(self._labels) > naming.CACHE_MAX:
                self._labels.clear()
            shown = NFLOG_OVERFLOW_PREFIX if prefix is None else prefix
            pairs = {"netns": netns} if netns is not None else {}
            pairs.update({"group": str(group), "prefix": shown, "verdict": verdict})
            text = self._labels[key] = naming.label_set(pairs)
        return text

    def render(self, readings: list[Reading]) -> str:
        rows: dict[str, list[int]] = {}
        lost, overflow, prefixes, written, dropped = [], [], [], [], []
        for r in readings:
            for c in r.records:
                t = self.labels(c.group, c.prefix, c.verdict, r.netns)
                row = rows.get(t)
                if row is None:
                    rows[t] = [c.packets, c.bytes]
                else:
                    row[0] += c.packets
                    row[1] += c.bytes
            ns = f'netns="{naming.label_value(r.netns)}",' if r.netns is not None else ""
            for g in r.extra.get("groups", ()):
                grp = f'{{{ns}group="{g.group}"}}'
                lost.append(f"nflog_lost_packets_total{grp} {g.lost}\n")
                overflow.append(f"nflog_prefix_overflow_packets_total{grp} {g.overflow_packets}\n")
                prefixes.append(f"nflog_prefixes{grp} {g.prefixes}\n")
            for e in r.extra.get("events", ()):
                written.append(f'nflog_events_written_total{{{ns}group="{e.group}"}} {e.written}\n')
                dropped += [f'nflog_events_dropped_total{{{ns}group="{e.group}",reason="{why}"}} '
                            f"{n}\n" for why, n in e.dropped]
        out = [
            family("nflog_packets_total", "counter",
                   "Packets logged to the NFLOG group with this prefix and received by the "
                   "exporter (since it started).",
                   [f"nflog_packets_total{t} {v[0]}\n" for t, v in rows.items()]),
            family("nflog_bytes_total", "counter",
                   "IP length (IPv4 total length, IPv6 payload length + 40) of those packets.",
                   [f"nflog_bytes_total{t} {v[1]}\n" for t, v in rows.items()]),
            family("nflog_lost_packets_total", "counter",
                   "Packets logged to the group that the kernel could not deliver to the "
                   "exporter (receive buffer full), from gaps in the sequence numbers.", lost),
            family("nflog_prefix_overflow_packets_total", "counter",
                   "Packets counted under the overflow prefix because the group already had "
                   "max_prefixes distinct prefixes.", overflow),
            family("nflog_prefixes", "gauge", "Distinct prefixes counted for the group.",
                   prefixes),
            family("nflog_events_written_total", "counter",
                   "Packet events of the group written to its events output.", written),
            family("nflog_events_dropped_total", "counter",
                   "Packet events of the group dropped (the packets were still counted): "
                   "queue_full (output too slow), write_error (e.g. disk full), disconnected "
                   "(socket consumer gone), decode_error.", dropped),
        ]
        return "".join(out)
