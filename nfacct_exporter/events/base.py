"""ulogd's BASE and IP2STR plugins: IPv4/IPv6 and TCP/UDP/ICMP/ICMPv6/SCTP headers → keys.

Same keys, values and quirks as ulogd 2.0.8 (``filter/raw2packet/ulogd_raw2packet_BASE.c``):
``tcp.offset`` and ``tcp.reserved`` are always 0 (it byte-swaps a 4-bit field into a u8),
``ip.fragoff`` is the whole flags+offset word, ``icmp.csum``/``icmpv6.csum`` are read in host
(little-endian) byte order, IPv4 fragments are decoded as if they held the L4 header,
``icmp.gateway`` is never written (JSON cannot print an address key that IP2STR leaves alone).
ulogd's length checks use the full packet length (it copies whole packets); a header beyond the
bytes we copied is left out instead.
"""

import socket
import struct

AF_INET, AF_BRIDGE, AF_INET6 = 2, 7, 10
ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0800, 0x0806, 0x86DD
_EXT = frozenset((0, 43, 44, 50, 51, 60))  # hop-by-hop, routing, fragment, ESP, AH, dest opts

_IP4 = struct.Struct(">BBHHHBBH4s4s")
_IP6 = struct.Struct(">IHBB16s16s")
_TCP = struct.Struct(">HHIIBBHHH")
_UDP = struct.Struct(">HHHH")
_ICMP = struct.Struct(">BB2sHH")  # type, code, raw checksum, id / unused, seq / mtu
_SCTP = struct.Struct(">HHII")
_ARP = struct.Struct(">HHBBH6s4s6s4s")
_LE16 = struct.Struct("<H")

Fields = list[tuple[str, int | str]]


def _l3(family: int, hw_protocol: int) -> int:
    """The address family BASE decodes the payload as (bridge: by the EtherType)."""
    if family == AF_BRIDGE:
        return {ETH_P_IP: AF_INET, ETH_P_IPV6: AF_INET6, ETH_P_ARP: ETH_P_ARP}.get(hw_protocol, 0)
    return family


def packet_length(family: int, hw_protocol: int | None, payload: bytes | None) -> int:
    """The full packet length: the IP length field (we copy only a prefix of the packet)."""
    if payload is None:
        return 0
    n = len(payload)
    fam = _l3(family, hw_protocol or 0)
    if fam == AF_INET and n >= 4:
        return max(n, payload[2] << 8 | payload[3])
    if fam == AF_INET6 and n >= 6:
        plen = payload[4] << 8 | payload[5]
        return max(n, plen + 40) if plen else n
    return n


def fields(out: Fields, family: int, hw_protocol: int, payload: bytes, length: int) -> Fields:
    """Append BASE's keys for ``payload`` to ``out``; return IP2STR's (written after IFINDEX)."""
    fam = _l3(family, hw_protocol)
    if fam == AF_INET:
        return _ipv4(out, payload, length)
    if fam == AF_INET6:
        return _ipv6(out, payload, length)
    if fam == ETH_P_ARP:
        return _arp(out, payload, length)
    return []


def _ipv4(out: Fields, p: bytes, length: int) -> Fields:
    if len(p) < 20 or length < 20:
        return []
    vihl, tos, totlen, ident, frag, ttl, proto, csum, saddr, daddr = _IP4.unpack_from(p)
    ihl = vihl & 0x0F
    if length <= ihl * 4:
        return []
    out += [("ip.protocol", proto), ("ip.tos", tos), ("ip.ttl", ttl), ("ip.totlen", totlen),
            ("ip.ihl", ihl), ("ip.csum", csum), ("ip.id", ident), ("ip.fragoff", frag)]
    _l4(out, proto, p, ihl * 4, length - ihl * 4, icmp6=False)
    return [("src_ip", socket.inet_ntop(socket.AF_INET, saddr)),
            ("dest_ip", socket.inet_ntop(socket.AF_INET, daddr))]


def _ipv6(out: Fields, p: bytes, length: int) -> Fields:
    if len(p) < 40 or length < 40:
        return []
    flow, plen, nxt, hlim, saddr, daddr = _IP6.unpack_from(p)
    addrs = [("src_ip", socket.inet_ntop(socket.AF_INET6, saddr)),
             ("dest_ip", socket.inet_ntop(socket.AF_INET6, daddr))]
    head = [("ip6.payloadlen", plen), ("ip6.priority", (flow & 0x0FF00000) >> 20),
            ("ip6.flowlabel", flow & 0x000FFFFF), ("ip6.hoplimit", hlim)]
    frag: Fields = []
    cur, ptr, left, fragment, stop = nxt, 40, length - 40, False, False
    done = True  # False: ulogd returned early, before writing ip6.nexthdr
    while cur != 59 and cur in _EXT:  # 59: no next header
        if left < 2 or len(p) < ptr + 2:
            done = False
            break
        if cur == 44:
            if left < 8 or len(p) < ptr + 8:
                done = False
                break
            left -= 8
            offlg, ident = struct.unpack_from(">2xHI", p, ptr)
            frag = [("ip6.fragoff", offlg & 0xFFF8), ("ip6.fragid", ident)]
            fragment = fragment or bool(offlg & 0xFFF8)
            hdrlen = 8
        else:
            if fragment:
                stop = True
                break
            hdrlen = (p[ptr + 1] + 1) << 3 if cur in (0, 43, 60) else (p[ptr + 1] + 2) << 2
            if left < hdrlen:
                done = False
                break
            left -= hdrlen
            if cur == 50:  # ESP: ulogd stops here ("goto out"): ip6.nexthdr 50, no L4
                stop = True
                break
        cur = p[ptr]
        ptr += hdrlen
    if not done:
        out += head + frag
        return addrs
    if fragment or stop:
        out += head + [("ip6.nexthdr", cur)] + frag
        return addrs
    out += [("ip.protocol", cur)] + head + [("ip6.nexthdr", cur)] + frag
    _l4(out, cur, p, ptr, left, icmp6=True)
    return addrs


def _l4(out: Fields, proto: int, p: bytes, off: int, left: int, icmp6: bool) -> None:
    """TCP, UDP, SCTP and ICMP (IPv4) or ICMPv6 (IPv6) header keys, as BASE writes them."""
    if proto == 6:
        if left < 20 or len(p) < off + 20:
            return
        sport, dport, seq, ack, _offres, flags, win, csum, urgp = _TCP.unpack_from(p, off)
        res1 = p[off + 12] & 0x0F
        out += [("src_port", sport), ("dest_port", dport), ("tcp.seq", seq),
                ("tcp.ackseq", ack), ("tcp.window", win), ("tcp.offset", 0),
                ("tcp.reserved", 0), ("tcp.urg", flags >> 5 & 1)]
        if flags & 0x20:
            out.append(("tcp.urgp", urgp))
        out += [("tcp.ack", flags >> 4 & 1), ("tcp.psh", flags >> 3 & 1),
                ("tcp.rst", flags >> 2 & 1), ("tcp.syn", flags >> 1 & 1), ("tcp.fin", flags & 1),
                ("tcp.res1", int(res1 != 0)), ("tcp.res2", int(flags >> 6 != 0)),
                ("tcp.csum", csum)]
    elif proto == 17:
        if left < 8 or len(p) < off + 8:
            return
        sport, dport, ulen, csum = _UDP.unpack_from(p, off)
        out += [("src_port", sport), ("dest_port", dport), ("udp.len", ulen), ("udp.csum", csum)]
    elif proto == 132:
        if left < 12 or len(p) < off + 12:
            return
        sport, dport, _vtag, csum = _SCTP.unpack_from(p, off)
        out += [("src_port", sport), ("dest_port", dport), ("sctp.csum", csum)]
    elif proto == (58 if icmp6 else 1):
        if left < 8 or len(p) < off + 8:
            return
        itype, code, raw_csum, a, b = _ICMP.unpack_from(p, off)
        key = "icmpv6" if icmp6 else "icmp"
        out += [(f"{key}.type", itype), (f"{key}.code", code)]
        if itype in ((128, 129) if icmp6 else (0, 8)):
            out += [(f"{key}.echoid", a), (f"{key}.echoseq", b)]
        elif not icmp6 and itype == 3 and code == 4:
            out.append(("icmp.fragmtu", b))
        out.append((f"{key}.csum", _LE16.unpack(raw_csum)[0]))


def _arp(out: Fields, p: bytes, length: int) -> Fields:
    if len(p) < 28 or length < 28:
        return []
    htype, ptype, _hlen, _plen, op, _sha, spa, _tha, tpa = _ARP.unpack_from(p)
    out += [("arp.hwtype", htype), ("arp.protocoltype", ptype), ("arp.operation", op)]
    return [("arp.saddr.str", socket.inet_ntop(socket.AF_INET, spa)),
            ("arp.daddr.str", socket.inet_ntop(socket.AF_INET, tpa))]
