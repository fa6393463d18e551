"""``nfacct-exporter counters create|rules``: set up the counters the config declares.

``create`` makes the missing NFACCT objects over netlink, in the namespace the daemon reads
(``netns``). Each request carries NLM_F_EXCL and never NLM_F_REPLACE: an object that exists
(EEXIST, or EBUSY from older kernels) is left exactly as it is, counts and quota included, and
objects the config does not declare are never touched. So it is safe to run at every boot, beside
other readers of the same objects. ``rules`` prints firewall rules (``rules.render``); it never
loads them.
"""

import argparse
import errno
import os
import sys

from nfacct_exporter import config, rules
from nfacct_exporter.counters import Counter
from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NfacctObject

PROG = "nfacct-exporter counters"
EXISTS = (errno.EEXIST, errno.EBUSY)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description="Set up the counters declared in the "
                                "config's 'counters:' section.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = sub.add_parser("create", help="create the missing NFACCT objects (idempotent)")
    show = sub.add_parser("rules", help="print iptables-restore / ip6tables-restore / nft rules")
    for s in (create, show):
        s.add_argument("--config", metavar="FILE", required=True, help="YAML configuration")
    create.add_argument("--netns", metavar="NS",
                        help="create them in this network namespace (default: the config's)")
    show.add_argument("--format", choices=rules.FORMATS, default="iptables",
                      help="iptables (IPv4, default), ip6tables (IPv6) or nft")
    show.add_argument("--no-jumps", dest="jumps", action="store_false",
                      help="leave out the jumps from INPUT/OUTPUT/FORWARD (when re-loading)")
    return p.parse_args(argv)


def describe_quota(quota: int | None, unit: str | None) -> str:
    return f"quota {quota} {unit}" if quota is not None else "no quota"


def kernel_quota(obj: NfacctObject) -> str:
    return describe_quota(obj.quota, obj.quota_unit) if obj.quota_unit else "no quota"


def create(sock: NetfilterSocket, declared: tuple[Counter, ...]) -> tuple[list[str], int]:
    """Create what is missing; returns (one report line per counter, number of failures)."""
    existing = {o.name: o for o in nfacct.dump(sock)}
    missing = [c for c in declared if c.name not in existing]
    requests = [nfacct.acct_new_request(c.name, sock.next_seq(), c.quota,
                                        c.quota_unit == "bytes") for c in missing]
    results = dict(zip([c.name for c in missing], sock.transact(requests), strict=True))
    lines, failures = [], 0
    for c in declared:
        want = describe_quota(c.quota, c.quota_unit)
        code = results.get(c.name)
        if code == 0:
            lines.append(f"created  {c.name} ({want})")
        elif code is None or code in EXISTS:
            obj = existing.get(c.name)
            have = kernel_quota(obj) if obj else None
            note = "" if have in (None, want) else f"; kernel: {have}, config: {want}"
            lines.append(f"exists   {c.name} (left as is{note})")
        else:
            failures += 1
            lines.append(f"failed   {c.name}: {errno.errorcode.get(code, code)}: "
                         f"{os.strerror(code)}")
    return lines, failures


def main(argv: list[str]) -> int:
    from nfacct_exporter.cli import netlink_problem  # cli dispatches here

    args = parse_args(argv)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        for line in str(e).splitlines():
            print(f"{PROG}: {line}", file=sys.stderr)
        return 2
    if args.command == "rules":
        sys.stdout.write(rules.render(cfg.counters, args.format, args.config, args.jumps))
        return 0
    if not cfg.counters:
        print(f"{PROG}: {args.config}: no 'counters:' declared; nothing to create")
        return 0
    netns = args.netns or cfg.netns
    try:
        sock = NetfilterSocket(netns)
        try:
            lines, failures = create(sock, cfg.counters)
        finally:
            sock.close()
    except OSError as e:
        print(f"{PROG}: {netlink_problem(e, netns)}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    made = sum(line.startswith("created") for line in lines)
    print(f"{made} created, {len(lines) - made - failures} already existed"
          + (f", {failures} failed" if failures else ""))
    return 1 if failures else 0
