"""Firewall rules for declared counters, printed for the operator to review and load.

Nothing here touches the firewall: the exporter needs CAP_NET_ADMIN for netlink reads only, and
a tool that rewrites rulesets on a firewall is a risk its operators did not ask for.

* ``iptables`` / ``ip6tables``: an ``iptables-restore --noflush`` file. Rules live in chains of
  our own (``NFACCT-IN``, ``NFACCT-OUT``, ``NFACCT-FWD``), jumped to from the top of INPUT, OUTPUT
  and FORWARD. Re-loading flushes and refills those chains; ``jumps=False`` leaves out the jump
  lines, which must be loaded once only (twice would count every packet twice). The rules have
  no target, so they count and fall through; they work with iptables-legacy and iptables-nft.
* ``nft``: nftables has no nfacct expression (nft 1.0.6 here; iptables-nft stores ``-m nfacct``
  as an ``xt match nfacct`` that native nft syntax cannot write). So the nft script declares nft
  *named counters* of the same names in table ``inet nfacct_exporter``, which nft rules can feed.
  To feed the NFACCT objects on an nftables host, load the iptables format with iptables-nft.
"""

from collections.abc import Iterable

from nfacct_exporter.config.counters import Counter, Match

FORMATS = ("iptables", "ip6tables", "nft")
CHAINS = {"in": ("INPUT", "NFACCT-IN"), "out": ("OUTPUT", "NFACCT-OUT"),
          "forward": ("FORWARD", "NFACCT-FWD")}
NFT_TABLE = "nfacct_exporter"
NFT_HOOKS = {"in": "input", "out": "output", "forward": "forward"}


def render(counters: Iterable[Counter], fmt: str, source: str = "", jumps: bool = True) -> str:
    """The whole ruleset text for one format."""
    counters = list(counters)
    if fmt == "nft":
        return _nft(counters, source)
    return _restore(counters, "ipv4" if fmt == "iptables" else "ipv6", source, jumps)


def _header(fmt: str, source: str) -> list[str]:
    return [f"# nfacct-exporter counters rules --format {fmt}"
            + (f" (from {source})" if source else ""),
            "# Review, then load; nfacct-exporter never changes the firewall."]


def _unused(counters: list[Counter]) -> list[str]:
    return [f"# {c.name!r}: no 'match' declared; feed it with a rule of your own"
            for c in counters if not c.matches]


# --- iptables-restore ----------------------------------------------------------------------

def quote_restore(name: str) -> str | None:
    """A quoted iptables-restore word (``\\`` escapes inside quotes); None if impossible."""
    if "\n" in name or "\r" in name:
        return None
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ports(lo_hi: tuple[int, int], sep: str) -> str:
    lo, hi = lo_hi
    return str(lo) if lo == hi else f"{lo}{sep}{hi}"


def restore_rule(m: Match, family: str, name: str) -> str:
    """One ``-A`` line (without the chain) counting ``m`` into the object ``name``."""
    parts = []
    if m.protocol == "icmp":
        parts.append("-p icmp" if family == "ipv4" else "-p ipv6-icmp")
    elif m.protocol:
        parts.append(f"-p {m.protocol}")
    if m.port:
        parts.append(f"-m multiport --ports {_ports(m.port, ':')}")
    if m.sport:
        parts.append(f"--sport {_ports(m.sport, ':')}")
    if m.dport:
        parts.append(f"--dport {_ports(m.dport, ':')}")
    parts.append(f"-m nfacct --nfacct-name {name}")
    return " ".join(parts)


def _restore(counters: list[Counter], family: str, source: str, jumps: bool) -> str:
    fmt = "iptables" if family == "ipv4" else "ip6tables"
    out = _header(fmt, source)
    out.append(f"# Load: {fmt}-restore --noflush < FILE   (our chains are flushed and refilled;")
    out.append("# the jumps from the built-in chains are added once: re-load with --no-jumps)")
    rules: dict[str, list[str]] = {d: [] for d in CHAINS}
    for c in counters:
        name = quote_restore(c.name)
        for m in c.matches:
            if family not in m.families():
                continue
            if name is None:
                out.append(f"# {c.name!r}: a newline cannot be written in {fmt}-restore; skipped")
                break
            rules[m.direction].append(restore_rule(m, family, name))
    out += _unused(counters)
    out.append("*filter")
    used = [d for d in CHAINS if rules[d]]
    out += [f":{CHAINS[d][1]} - [0:0]" for d in used]
    for d in used:
        out += [f"-A {CHAINS[d][1]} {r}" for r in rules[d]]
    if jumps:
        out += [f"-I {CHAINS[d][0]} 1 -j {CHAINS[d][1]}" for d in used]
    out.append("COMMIT")
    return "\n".join(out) + "\n"


# --- nft -------------------------------------------------------------------------------------

def nft_identifier(name: str) -> bool:
    """nft 1.0.6 declares objects by bare identifier only: ``[A-Za-z_.][A-Za-z0-9/_.-]*``."""
    first = name[:1]
    return bool(first) and (first.isascii() and (first.isalpha() or first in "_.")) and all(
        ch.isascii() and (ch.isalnum() or ch in "/_.-") for ch in name)


def nft_rule(m: Match, name: str) -> str:
    parts = []
    if m.family != "both":
        parts.append(f"meta nfproto {m.family}")
    if m.protocol == "icmp":
        parts.append({"ipv4": "meta l4proto icmp", "ipv6": "meta l4proto ipv6-icmp",
                      "both": "meta l4proto { icmp, ipv6-icmp }"}[m.family])
    elif m.protocol and not (m.port or m.sport or m.dport):
        parts.append(f"meta l4proto {m.protocol}")
    p = m.protocol
    if m.port:  # either side, counted once: what iptables-nft makes of multiport --ports
        ports = _ports(m.port, "-")
        parts.append(f"{p} sport . {p} dport {{ 0-65535 . {ports}, {ports} . 0-65535 }}")
    if m.sport:
        parts.append(f"{p} sport {_ports(m.sport, '-')}")
    if m.dport:
        parts.append(f"{p} dport {_ports(m.dport, '-')}")
    parts.append(f'counter name "{name}"')
    return " ".join(parts)


def _nft(counters: list[Counter], source: str) -> str:
    out = _header("nft", source)
    out += ["# nftables has no nfacct expression: these rules feed nft named counters of the same",
            "# names (table inet nfacct_exporter), not the NFACCT objects. To feed the NFACCT",
            "# objects on an nftables host, load --format iptables / ip6tables with iptables-nft.",
            "# Load: nft -f FILE   (re-loading replaces our chains' rules and keeps the counts)"]
    usable = []
    for c in counters:
        if not c.matches:
            continue
        if not nft_identifier(c.name):
            out.append(f"# {c.name!r}: nft can only declare names matching "
                       "[A-Za-z_.][A-Za-z0-9/_.-]*; skipped")
        else:
            if c.quota is not None:
                out.append(f"# {c.name}: the quota applies to the NFACCT object only")
            usable.append(c)
    out += _unused(counters)
    hooks = [d for d in NFT_HOOKS if any(m.direction == d for c in usable for m in c.matches)]
    out.append(f"table inet {NFT_TABLE} {{")
    out += [f"\tcounter {c.name} {{}}" for c in usable]
    for d in hooks:
        out.append(f"\tchain {NFT_HOOKS[d]} {{ type filter hook {NFT_HOOKS[d]} "
                   "priority filter - 10; policy accept; }")
    out.append("}")
    for d in hooks:
        out.append(f"flush chain inet {NFT_TABLE} {NFT_HOOKS[d]}")
        out.append(f"table inet {NFT_TABLE} {{")
        out.append(f"\tchain {NFT_HOOKS[d]} {{")
        out += [f"\t\t{nft_rule(m, c.name)}" for c in usable for m in c.matches
                if m.direction == d]
        out += ["\t}", "}"]
    return "\n".join(out) + "\n"
