"""The ``struct`` NFLOG tally against the declared pyroute2 classes on the same bytes.

Synthetic datagrams here (every odd case on demand); ``tests/kernel/test_nflog_kernel_bytes.py``
does the same on bytes the kernel made.
"""

import pytest

from nfacct_exporter.netlink import core, nflog, nflog_tally
from tests.support.nflog_ref import datagram, ipv4, ipv6, packet, reference, tally_all

HOSTILE = [b"SSH Attempt", b'q"uote', b"back\\slash", b"new\nline", "ünï cødé".encode(),
           b"\xff\xfe not utf-8", b"", b"x" * 127, b"{a}=b,c # not a comment"]


def test_hostile_prefixes_ipv4_ipv6_and_odd_payloads() -> None:
    pkts = []
    seq = 0
    for i, prefix in enumerate(HOSTILE):
        pkts.append(packet(1, seq, prefix, ipv4(28 + i)))
        pkts.append(packet(1, seq + 1, prefix, ipv6(8 + i)))
        seq += 2
    pkts += [packet(1, seq, None, ipv4(60)),  # no prefix attribute: the empty prefix
             packet(1, seq + 1, b"short", bytes([0x45, 0, 1])),  # too short to hold the length
             packet(1, seq + 2, b"short", None),  # no payload at all (copy range 0)
             packet(1, seq + 3, b"arp", bytes(8))]  # not IP
    data = [datagram(*pkts[:7]), datagram(*pkts[7:])]
    got, ref = tally_all(data), reference(data)
    assert got == ref
    counts, expect, lost = got
    assert expect == seq + 4 and lost == 0
    assert counts[b"new\nline\0"] == [2, 28 + 3 + 8 + 3 + 40]
    assert counts[nflog.EMPTY] == [3, 28 + 6 + 8 + 6 + 40 + 60]
    assert counts[b"short\0"] == [2, 0] and counts[b"arp\0"] == [1, 0]


@pytest.mark.parametrize("seqs, start, lost", [
    ([0, 1, 2, 3], 0, 0),
    ([0, 5, 6], 0, 4),  # a batch of 4 dropped by the kernel
    ([3, 4], 0, 3),  # the first packets lost
    ([2**32 - 2, 2**32 - 1, 0, 1], 2**32 - 2, 0),  # wraps around
    ([2**32 - 1, 2], 2**32 - 1, 2),
])
def test_sequence_gaps_are_counted_as_lost(seqs: list[int], start: int, lost: int) -> None:
    data = [datagram(*[packet(4, s, b"p", ipv4(100)) for s in seqs])]
    got, ref = tally_all(data, start), reference(data, start)
    assert got == ref
    assert got[2] == lost and got[1] == (seqs[-1] + 1) % 2**32
    assert got[0][b"p\0"] == [len(seqs), 100 * len(seqs)]


def test_packets_without_sequence_numbers_count_no_loss() -> None:
    data = [datagram(packet(4, None, b"p", ipv4(40)), packet(4, None, b"p", ipv4(40)))]
    assert tally_all(data, 7) == reference(data, 7) == ({b"p\0": [2, 80]}, 7, 0)


def test_truncated_and_foreign_messages_are_skipped() -> None:
    good = packet(2, 0, b"ok", ipv4(50))
    done = bytes.fromhex("14000000030002000000000000000000") + bytes(4)  # NLMSG_DONE
    data = datagram(good, done, good.replace(b"ok", b"OK"))
    assert tally_all([data])[0] == {b"ok\0": [1, 50], b"OK\0": [1, 50]}
    cut = data[: len(good) + len(done) + 30]  # the last message is cut short: ignored
    assert tally_all([cut])[0] == {b"ok\0": [1, 50]}


def test_cap_callback_decides_where_new_prefixes_go() -> None:
    overflow = [0, 0]
    counts: dict[bytes, list[int]] = {}

    def admit(raw: bytes) -> list[int]:
        if len(counts) < 2:
            c = counts[raw] = [0, 0]
            return c
        return overflow

    data = datagram(*[packet(1, i, f"p{i % 5}".encode(), ipv4(10)) for i in range(10)])
    assert nflog_tally.tally(data, counts, admit, 0) == (10, 0, 10)
    assert counts == {b"p0\0": [2, 20], b"p1\0": [2, 20]} and overflow == [6, 60]
    assert core.text(b"p0\0") == "p0" and core.text(b"\xff\0") == "\udcff"


def test_attributes_in_any_order_and_broken_lengths() -> None:
    msg = nflog.nflog_packet_msg()
    msg["attrs"] = [("NFULA_IFINDEX_INDEV", 1), ("NFULA_SEQ", 0), ("NFULA_PREFIX", "late"),
                    ("NFULA_PACKET_HDR", {"hw_protocol": 0x86DD, "hook": 1}),
                    ("NFULA_PAYLOAD", ipv6(100))]
    late = core.encode(msg, nflog.ULOG_PACKET, 0, 0, res_id=1)
    assert tally_all([datagram(late)]) == reference([datagram(late)])
    broken = bytearray(packet(1, 1, b"bad", ipv4(70)))
    broken[28:30] = (2).to_bytes(2, "little")  # the PREFIX attribute claims 2 bytes: stop there
    data = [datagram(late, bytes(broken), packet(1, 2, b"ok", ipv4(30)))]
    got = tally_all(data)
    assert got == ({b"late\0": [1, 140], nflog.EMPTY: [1, 0], b"ok\0": [1, 30]}, 3, 1)


def raw_packet(attrs: list) -> bytes:
    msg = nflog.nflog_packet_msg()
    msg["attrs"] = attrs
    return core.encode(msg, nflog.ULOG_PACKET, 0, 0, res_id=1)


def test_same_length_and_prefix_but_another_layout_is_not_misread() -> None:
    """The fast path's cache key (length, header, prefix) is shared by these two messages; only
    the full header check tells them apart."""
    hdr = ("NFULA_PACKET_HDR", {"hw_protocol": 0x0800, "hook": 1})
    a = raw_packet([hdr, ("NFULA_PREFIX", "p"), ("NFULA_MARK", 7), ("NFULA_SEQ", 0),
                    ("NFULA_PAYLOAD", ipv4(100))])
    b = raw_packet([hdr, ("NFULA_PREFIX", "p"), ("NFULA_SEQ", 1), ("NFULA_MARK", 0x0C000800),
                    ("NFULA_PAYLOAD", ipv4(200))])
    c = raw_packet([hdr, ("NFULA_PREFIX", "p"), ("NFULA_SEQ", 2), ("NFULA_PAYLOAD", ipv4(1)),
                    ("NFULA_MARK", 3)])
    assert len(a) == len(b) == len(c)
    for order in ([a, b, c, a], [b, a, c, b], [c, a, b, c]):
        nflog_tally._LAYOUTS.clear()
        data = [datagram(*order)]
        assert tally_all(data)[0] == reference(data)[0]


def test_fast_path_equals_reference_on_random_layouts() -> None:
    import random

    rnd = random.Random(3)
    others = [("NFULA_MARK", lambda: rnd.getrandbits(32)),
              ("NFULA_IFINDEX_INDEV", lambda: rnd.randint(1, 9)),
              ("NFULA_IFINDEX_OUTDEV", lambda: rnd.randint(1, 9)),
              ("NFULA_HWADDR", lambda: bytes(rnd.getrandbits(8) for _ in range(12))),
              ("NFULA_TIMESTAMP", lambda: bytes(16)), ("NFULA_UID", lambda: 0),
              ("NFULA_SEQ_GLOBAL", lambda: rnd.getrandbits(32))]
    payloads = [lambda: ipv4(rnd.randint(20, 65535)), lambda: ipv6(rnd.randint(0, 65535)),
                lambda: ipv4(rnd.randint(20, 99))[:rnd.randint(0, 8)], lambda: bytes(8)]
    templates = []
    for _ in range(12):
        middle = rnd.sample(others, rnd.randint(0, 4))
        templates.append((rnd.choice([None, "", "web", 'q"uote\\', "x" * 40]), middle,
                          rnd.random() < 0.9, rnd.choice(payloads)))
    seq = 0
    for _ in range(20):
        msgs = []
        for _ in range(rnd.randint(1, 60)):
            prefix, middle, has_seq, payload = rnd.choice(templates)
            attrs: list = [("NFULA_PACKET_HDR", {"hw_protocol": 0x0800, "hook": 1})]
            if prefix is not None:
                attrs.append(("NFULA_PREFIX", prefix))
            attrs += [(name, make()) for name, make in middle]
            if has_seq:
                seq += rnd.choice([1, 1, 1, 2, 50])
                attrs.append(("NFULA_SEQ", seq))
            attrs.append(("NFULA_PAYLOAD", payload()))
            msgs.append(raw_packet(attrs))
        data = [datagram(*msgs)]
        assert tally_all(data) == reference(data)


def test_layout_cache_is_bounded(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(nflog_tally, "LAYOUTS_MAX", 5)
    nflog_tally._LAYOUTS.clear()
    data = [datagram(*[packet(1, i, f"p{i}".encode(), ipv4(60)) for i in range(40)])]
    assert tally_all(data) == reference(data)
    assert len(nflog_tally._LAYOUTS) <= 5


def run_of(seqs: list[int], prefix: bytes = b"run", kinds: str = "4") -> list[bytes]:
    make = {"4": lambda i: ipv4(20 + i % 1000), "6": lambda i: ipv6(i % 999),
            "x": lambda i: bytes(8)}
    return [packet(3, s, prefix, make[kinds[i % len(kinds)]](i)) for i, s in enumerate(seqs)]


RUNS = {
    "long": run_of(list(range(300))),
    "gap in the middle": run_of(list(range(40)) + list(range(45, 100))),
    "lost before": run_of(list(range(7, 80))),
    "wraps around": run_of([s % 2**32 for s in range(2**32 - 30, 2**32 + 30)]),
    "backwards": run_of(list(range(50)) + list(range(20, 60))),
    "v4, v6 and not IP in one layout": run_of(list(range(90)), kinds="4464x"),
    "broken by other prefixes": run_of(list(range(30))) + run_of([30], b"other")
    + run_of(list(range(31, 60))) + run_of([60, 61], b"x" * 3) + run_of(list(range(62, 99))),
    "broken by a short payload": run_of(list(range(25)))
    + [packet(3, 25, b"run", bytes([0x45, 0, 1]))] + run_of(list(range(26, 70))),
}


@pytest.mark.parametrize("case", RUNS)
def test_runs_of_one_layout_give_the_reference_counts(case: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    real = nflog_tally._sum
    monkeypatch.setattr(nflog_tally, "_sum", lambda rows: runs.append(real(rows)) or runs[-1])
    nflog_tally._LAYOUTS.clear()
    pkts = RUNS[case]
    for start in (0, 5):
        data = [datagram(*pkts[:150]), datagram(*pkts[150:])] if len(pkts) > 150 else \
            [datagram(*pkts)]
        assert tally_all(data, start) == reference(data, start), case
    assert runs and max(n for n, _, _ in runs) >= nflog_tally.RUN_MIN  # read as runs
