"""Property-based tests of every decoder of kernel bytes (NFACCT, nft, NFLOG, conntrack, ACKs):
on valid datagrams built by the declared pyroute2 messages the fast decoders agree with the
declarations; on netlink-shaped garbage (truncated, lying lengths, zero-length and oversized
attributes, unknown types, nested garbage, many messages per datagram) no exception escapes and
every loop ends. ``make fuzz`` runs the same shapes for longer, coverage-guided
(``bench/fuzz.py``)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfacct_exporter.netlink import nfacct
from tests.support import decoding, nflog_ref, wire

FUZZ = settings(max_examples=wire.examples(150), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Drawn:
    """``wire.Choices`` over hypothesis' interactive data."""

    def __init__(self, data: st.DataObject) -> None:
        self._data = data

    def int(self, lo: int, hi: int) -> int:
        return self._data.draw(st.integers(lo, hi))

    def bytes(self, lo: int, hi: int) -> bytes:
        return self._data.draw(st.binary(min_size=lo, max_size=hi))


@FUZZ
@given(st.data())
def test_nfacct_decoder_agrees_with_declaration(data: st.DataObject) -> None:
    raw = wire.nfacct_datagram(Drawn(data))
    assert decoding.nfacct_fast(raw) == decoding.nfacct_reference(raw)


@FUZZ
@given(st.data())
def test_nft_decoder_agrees_with_declaration(data: st.DataObject) -> None:
    raw = wire.nft_datagram(Drawn(data))
    assert sorted(decoding.nft_fast(raw)) == sorted(decoding.nft_reference(raw))


@FUZZ
@given(st.data())
def test_conntrack_decoder_agrees_with_declaration(data: st.DataObject) -> None:
    raw = wire.conntrack_datagram(Drawn(data))
    assert decoding.conntrack_fast(raw) == decoding.conntrack_reference(raw)


@FUZZ
@given(st.data())
def test_nflog_tally_agrees_with_declaration(data: st.DataObject) -> None:
    datagrams = wire.nflog_datagrams(Drawn(data))
    start = data.draw(st.integers(0, 2**32 - 1))
    assert nflog_ref.tally_all(datagrams, start) == nflog_ref.reference(datagrams, start)


@FUZZ
@given(st.data())
def test_over_quota_announcements_name_what_decode_names(data: st.DataObject) -> None:
    raw = wire.nfacct_datagram(Drawn(data))
    assert list(nfacct.announced(raw)) == [o.name for o in decoding.nfacct_fast(raw)]


@settings(FUZZ, max_examples=wire.examples(400))
@given(st.data())
def test_decoders_survive_garbage(data: st.DataObject) -> None:
    decoding.survives(wire.garbage(Drawn(data)))


@pytest.fixture(scope="module")
def kernel():  # noqa: ANN201
    k = decoding.FakeKernel()
    yield k
    k.close()


@settings(FUZZ, max_examples=wire.examples(60))
@given(st.data())
def test_socket_dump_and_acks_survive_garbage(kernel: decoding.FakeKernel,
                                              data: st.DataObject) -> None:
    c = Drawn(data)
    decoding.socket_survives(kernel, [wire.garbage(c) for _ in range(c.int(1, 3))])
