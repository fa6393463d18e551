"""nftables named counters (``linux/netfilter/nf_tables.h``; ``nft add counter inet filter
http``): constants, the declared message, the dump request and the decoder.

The nft equivalent of NFACCT objects on nft-only hosts. Read with a plain GETOBJ dump filtered to
counters (never GETOBJ_RESET); decoded with ``struct`` like ``netlink.nfacct``, cross-checked
against ``nft_obj_msg`` in the tests.
"""

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, nla
from pyroute2.netlink.nfnetlink import NFNL_SUBSYS_NFTABLES, nfgen_msg

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NftCounter

# enum nf_tables_msg_types: named objects
NFT_MSG_NEWOBJ = 18
NFT_MSG_GETOBJ = 19
NFT_NEWOBJ = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWOBJ
NFT_GETOBJ = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETOBJ
NFT_OBJECT_COUNTER = 1
# enum nft_object_attributes, enum nft_counter_attributes
NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA = 1, 2, 3, 4
NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS = 1, 2
# nfgen_family of a table → the family word nft prints
NFPROTO_NAMES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}


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


def counters_dump_request(seq: int) -> bytes:
    """Dump named counters of every table and family (GETOBJ, not GETOBJ_RESET)."""
    msg = nft_obj_msg()
    msg["attrs"] = [("NFTA_OBJ_TYPE", NFT_OBJECT_COUNTER)]
    return core.encode(msg, NFT_GETOBJ, NLM_F_REQUEST | NLM_F_DUMP, seq)


def decode(data: bytes | memoryview, out: list[NftCounter]) -> None:
    """Append every named counter in one reply datagram to ``out``."""
    attr, be64, mask = core.ATTR.unpack_from, core.BE64.unpack_from, core.NLA_TYPE_MASK
    off = 0
    while off + 20 <= len(data):
        length, mtype = core.LEN_TYPE.unpack_from(data, off)
        if length < 16 or off + length > len(data):
            return  # malformed or truncated: nothing more to trust in this datagram
        if mtype == NFT_NEWOBJ:
            family = NFPROTO_NAMES.get(data[off + 16], str(data[off + 16]))
            table = name = ""
            otype = pkts = nbytes = 0
            a, end = off + core.HEADER_LEN, off + length
            while a + 4 <= end:
                alen, atype = attr(data, a)
                if alen < 4 or a + alen > end:
                    break
                atype &= mask
                if atype == NFTA_OBJ_TABLE:
                    table = core.text(bytes(data[a + 4 : a + alen]))
                elif atype == NFTA_OBJ_NAME:
                    name = core.text(bytes(data[a + 4 : a + alen]))
                elif atype == NFTA_OBJ_TYPE and alen >= 8:
                    otype = core.BE32.unpack_from(data, a + 4)[0]
                elif atype == NFTA_OBJ_DATA:
                    b = a + 4
                    while b + 4 <= a + alen:
                        blen, btype = attr(data, b)
                        if blen < 4 or b + blen > a + alen:
                            break
                        btype &= mask
                        if blen < 12:
                            pass
                        elif btype == NFTA_COUNTER_BYTES:
                            nbytes = be64(data, b + 4)[0]
                        elif btype == NFTA_COUNTER_PACKETS:
                            pkts = be64(data, b + 4)[0]
                        b += (blen + 3) & ~3
                a += (alen + 3) & ~3
            if otype == NFT_OBJECT_COUNTER:
                out.append(NftCounter(family, table, name, pkts, nbytes))
        off += (length + 3) & ~3


def dump(sock: NetfilterSocket) -> list[NftCounter]:
    """Every named counter of the socket's namespace, all tables and families."""
    out: list[NftCounter] = []
    for datagram in sock.dump(counters_dump_request(sock.next_seq())):
        decode(datagram, out)
    return out
