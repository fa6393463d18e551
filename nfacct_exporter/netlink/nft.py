"""nftables named counters (``linux/netfilter/nf_tables.h``; ``nft add counter inet filter
http``): constants, the declared message, the dump request and the decoder.

The nft equivalent of NFACCT objects on nft-only hosts. Read with a plain GETOBJ dump filtered to
counters (never GETOBJ_RESET); decoded with ``struct`` like ``netlink.nfacct``, cross-checked
against ``nft_obj_msg`` in the tests.
"""

from typing import Any

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NftCounter

# enum nf_tables_msg_types: named objects
NFT_MSG_NEWOBJ = 18
NFT_MSG_GETOBJ = 19
NFT_NEWOBJ = (core.NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWOBJ
NFT_GETOBJ = (core.NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETOBJ
NFT_OBJECT_COUNTER = 1
# enum nft_object_attributes, enum nft_counter_attributes
NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA = 1, 2, 3, 4
NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS = 1, 2
# nfgen_family of a table → the family word nft prints
NFPROTO_NAMES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}


def _declare() -> type:
    from pyroute2.netlink import nla
    from pyroute2.netlink.nfnetlink import nfgen_msg

    class nft_obj_msg(nfgen_msg):
        """NFT_MSG_NEWOBJ / GETOBJ: one named stateful object (counter, quota, ...)."""

        prefix = "NFTA_OBJ_"
        nla_map = (
            ("NFTA_OBJ_UNSPEC", "none"),
            ("NFTA_OBJ_TABLE", "asciiz"),
            ("NFTA_OBJ_NAME", "asciiz"),
            ("NFTA_OBJ_TYPE", "be32"),
            ("NFTA_OBJ_DATA", "counter_data"),
            ("NFTA_OBJ_USE", "be32"),
            ("NFTA_OBJ_HANDLE", "be64"),
            ("NFTA_OBJ_PAD", "hex"),
            ("NFTA_OBJ_USERDATA", "hex"),
        )

        class counter_data(nla):
            nla_map = (
                ("NFTA_COUNTER_UNSPEC", "none"),
                ("NFTA_COUNTER_BYTES", "be64"),
                ("NFTA_COUNTER_PACKETS", "be64"),
                ("NFTA_COUNTER_PAD", "hex"),
            )

    return nft_obj_msg


def __getattr__(name: str) -> Any:
    """``nft_obj_msg``, the pyroute2 declaration, made (and pyroute2 imported) on first use."""
    if name == "nft_obj_msg":
        globals()[name] = declared = _declare()
        return declared
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def counters_dump_request(seq: int) -> bytes:
    """Dump named counters of every table and family (GETOBJ, not GETOBJ_RESET)."""
    return core.request(NFT_GETOBJ, core.NLM_F_REQUEST | core.NLM_F_DUMP, seq,
                        core.attr(NFTA_OBJ_TYPE, core.BE32.pack(NFT_OBJECT_COUNTER)))


def decode(data: bytes | memoryview, out: list[NftCounter]) -> int:
    """Append every named counter in one reply datagram to ``out``; return how many malformed
    messages were skipped (an attribute running past its message or too short for its value;
    a message running past the datagram ends it)."""
    attr, mask = core.ATTR.unpack_from, core.NLA_TYPE_MASK
    bad = 0
    off = 0
    while off + 20 <= len(data):
        length, mtype = core.LEN_TYPE.unpack_from(data, off)
        if length < 16 or off + length > len(data):
            return bad + 1
        if mtype == NFT_NEWOBJ:
            counter = _counter(data, off, off + length, attr, mask)
            if counter is None:
                bad += 1
            elif counter is not False:
                out.append(counter)
        off += (length + 3) & ~3
    return bad


def _counter(data: bytes | memoryview, off: int, end: int, attr: Any, mask: int
             ) -> NftCounter | None | bool:
    """The counter of the NEWOBJ message in [off, end); False for another object type; None
    when malformed."""
    if end - off < core.HEADER_LEN:
        return None
    family = NFPROTO_NAMES.get(data[off + 16], str(data[off + 16]))
    table = name = ""
    otype = pkts = nbytes = 0
    a = off + core.HEADER_LEN
    while a + 4 <= end:
        alen, atype = attr(data, a)
        if alen < 4 or a + alen > end:
            return None
        atype &= mask
        if atype == NFTA_OBJ_TABLE:
            table = core.text(bytes(data[a + 4 : a + alen]))
        elif atype == NFTA_OBJ_NAME:
            name = core.text(bytes(data[a + 4 : a + alen]))
        elif atype == NFTA_OBJ_TYPE:
            if alen < 8:
                return None
            otype = core.BE32.unpack_from(data, a + 4)[0]
        elif atype == NFTA_OBJ_DATA:
            b = a + 4
            while b + 4 <= a + alen:
                blen, btype = attr(data, b)
                btype &= mask
                if blen < 4 or b + blen > a + alen or (
                        btype in (NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS) and blen < 12):
                    return None
                if btype == NFTA_COUNTER_BYTES:
                    nbytes = core.BE64.unpack_from(data, b + 4)[0]
                elif btype == NFTA_COUNTER_PACKETS:
                    pkts = core.BE64.unpack_from(data, b + 4)[0]
                b += (blen + 3) & ~3
        a += (alen + 3) & ~3
    if otype != NFT_OBJECT_COUNTER:
        return False
    return NftCounter(family, table, name, pkts, nbytes)


class Dumper:
    """Every named counter of a socket's namespace, all tables and families, once per call;
    ``errors`` counts the malformed messages skipped since it was made."""

    def __init__(self) -> None:
        self.errors = 0

    def __call__(self, sock: NetfilterSocket) -> list[NftCounter]:
        out: list[NftCounter] = []
        for datagram in sock.dump(counters_dump_request(sock.next_seq())):
            self.errors += decode(datagram, out)
        return out


def dump(sock: NetfilterSocket) -> list[NftCounter]:
    """Every named counter of the socket's namespace, all tables and families."""
    return Dumper()(sock)
