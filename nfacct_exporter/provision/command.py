"""``nfacct-exporter counters create|rules``: its flags, its help and what each one runs."""

import argparse
import sys

from nfacct_exporter import config
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.problems import netlink_problem
from nfacct_exporter.provision import rules
from nfacct_exporter.provision.create import create

PROG = "nfacct-exporter counters"
DESCRIPTION = """\
Set up the counters declared in the configuration's 'counters:' section, then exit.
'create' makes the NFACCT objects that are missing, in the network namespace the daemon
reads; objects that exist keep their counts and quota, and objects the configuration does
not declare are never touched, so it is safe to run at every boot. 'rules' prints firewall
rules that feed those objects, for you to review and load; nothing here changes the firewall.
"""
EPILOG = """\
examples:
  nfacct-exporter counters create --config /etc/nfacct-exporter/config.yaml
  nfacct-exporter counters rules --config /etc/nfacct-exporter/config.yaml > rules.v4
  iptables-restore --noflush < rules.v4

exit codes:
  0  done
  1  the kernel refused (no CAP_NET_ADMIN, nfnetlink_acct not loaded, no such namespace),
     or an object could not be created
  2  bad configuration or command line
"""


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The ``counters`` command and its two subcommands, under the main parser's commands."""
    p = commands.add_parser(
        "counters", help="create the declared NFACCT objects, print firewall rules",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="counters_command", required=True, metavar="{create,rules}",
                           prog=PROG)
    make = sub.add_parser("create", help="create the missing NFACCT objects (idempotent)",
                          description="Create the declared NFACCT objects that are missing.")
    show = sub.add_parser("rules", help="print iptables-restore / ip6tables-restore / nft rules",
                          description="Print firewall rules feeding the declared counters.")
    for s in (make, show):
        s.add_argument("--config.file", "--config", dest="config", metavar="FILE", required=True,
                       help="YAML configuration")
    make.add_argument("--netns", metavar="NS",
                      help="create them in this network namespace (default: the config's)")
    show.add_argument("--format", choices=rules.FORMATS, default="iptables",
                      help="iptables (IPv4, default), ip6tables (IPv6) or nft")
    show.add_argument("--no-jumps", dest="jumps", action="store_false",
                      help="leave out the jumps from INPUT/OUTPUT/FORWARD (when re-loading)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the configuration, then print the rules or create the objects; the exit code."""
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        for line in str(e).splitlines():
            print(f"{PROG}: {line}", file=sys.stderr)
        return 2
    if args.counters_command == "rules":
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
