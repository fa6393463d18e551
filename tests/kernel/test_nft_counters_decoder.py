"""The struct decoder for nft named counters agrees with the declared pyroute2 messages on real
dump bytes from a namespace, and with what ``nft list counters`` prints."""

import json
import struct

from nfacct_exporter.netlink import nft
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NftCounter


def test_decoder_matches_declarations_and_nft(ns) -> None:  # noqa: ANN001
    ns.sh("""
        nft add table inet filter
        nft add counter inet filter http
        nft add table ip6 t6
        nft add counter ip6 t6 c6
        nft add quota inet filter q 10 mbytes
        nft add chain inet filter out '{ type filter hook output priority 0; }'
        nft add rule inet filter out udp dport 30100 counter name http
    """)
    ns.udp("127.0.0.1", 30100, b"z" * 72, count=6)
    sock = ns.call(NetfilterSocket)
    try:
        datagrams = [bytes(d) for d in ns.call(
            lambda: list(map(bytes, sock.dump(nft.counters_dump_request(7)))))]
    finally:
        sock.close()
    fast: list[NftCounter] = []
    declared = []
    for data in datagrams:
        nft.decode(data, fast)
        off = 0
        while off + 16 <= len(data):
            length, mtype = struct.unpack_from("=IH", data, off)
            if mtype == nft.NFT_NEWOBJ:
                msg = nft.nft_obj_msg(data[off:off + length])
                msg.decode()
                counter = dict(msg.get_attr("NFTA_OBJ_DATA")["attrs"])
                declared.append(NftCounter(
                    nft.NFPROTO_NAMES[msg["nfgen_family"]], msg.get_attr("NFTA_OBJ_TABLE"),
                    msg.get_attr("NFTA_OBJ_NAME"), counter["NFTA_COUNTER_PACKETS"],
                    counter["NFTA_COUNTER_BYTES"]))
            off += (length + 3) & ~3
    assert sorted(fast) == sorted(declared)
    listed = json.loads(ns.run("nft", "-j", "list", "counters").stdout)["nftables"]
    from_nft = sorted(
        NftCounter(c["family"], c["table"], c["name"], c["packets"], c["bytes"])
        for c in (item["counter"] for item in listed if "counter" in item))
    assert sorted(fast) == from_nft
    assert NftCounter("inet", "filter", "http", 6, 6 * 100) in fast
