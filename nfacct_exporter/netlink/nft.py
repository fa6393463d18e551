"""nftables named counters (``nft add counter inet filter http``): dump and decode.

The nft equivalent of NFACCT objects on nft-only hosts. Read with a plain GETOBJ dump filtered to
counters (never GETOBJ_RESET); decoded with ``struct`` like ``netlink.nfacct``, cross-checked
against ``messages.nft_obj_msg`` in the tests.
"""

import struct
from typing import NamedTuple

from nfacct_exporter.netlink import messages
from nfacct_exporter.netlink.socket import NetfilterSocket

_HDR = struct.Struct("=IH")
_ATTR = struct.Struct("=HH")
_BE64 = struct.Struct(">Q")
_BE32 = struct.Struct(">I")

NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA = 1, 2, 3, 4
NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS = 1, 2


class NftCounter(NamedTuple):
    """One named nftables counter."""

    family: str  # ip, ip6, inet, arp, bridge, netdev
    table: str
    name: str
    packets: int
    bytes: int


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def decode(data: bytes | memoryview, out: list[NftCounter]) -> None:
    """Append every named counter in one reply datagram to ``out``."""
    off = 0
    while off + 20 <= len(data):
        length, mtype = _HDR.unpack_from(data, off)
        if length < 16:
            return
        if mtype == messages.NFT_NEWOBJ:
            family = messages.NFPROTO_NAMES.get(data[off + 16], str(data[off + 16]))
            table = name = ""
            otype = pkts = nbytes = 0
            a, end = off + 20, off + length
            while a + 4 <= end:
                alen, atype = _ATTR.unpack_from(data, a)
                if alen < 4:
                    break
                atype &= 0x3FFF
                if atype == NFTA_OBJ_TABLE:
                    table = _text(bytes(data[a + 4 : a + alen]))
                elif atype == NFTA_OBJ_NAME:
                    name = _text(bytes(data[a + 4 : a + alen]))
                elif atype == NFTA_OBJ_TYPE:
                    otype = _BE32.unpack_from(data, a + 4)[0]
                elif atype == NFTA_OBJ_DATA:
                    b = a + 4
                    while b + 4 <= a + alen:
                        blen, btype = _ATTR.unpack_from(data, b)
                        if blen < 4:
                            break
                        btype &= 0x3FFF
                        if btype == NFTA_COUNTER_BYTES:
                            nbytes = _BE64.unpack_from(data, b + 4)[0]
                        elif btype == NFTA_COUNTER_PACKETS:
                            pkts = _BE64.unpack_from(data, b + 4)[0]
                        b += (blen + 3) & ~3
                a += (alen + 3) & ~3
            if otype == messages.NFT_OBJECT_COUNTER:
                out.append(NftCounter(family, table, name, pkts, nbytes))
        off += (length + 3) & ~3


def dump(sock: NetfilterSocket) -> list[NftCounter]:
    """Every named counter of the socket's namespace, all tables and families."""
    out: list[NftCounter] = []
    for datagram in sock.dump(messages.nft_counters_dump_request(sock.next_seq())):
        decode(datagram, out)
    return out
