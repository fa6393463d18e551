"""``nfacct-exporter doctor``: why a counter stays at 0. Prints the findings (text or JSON) and
exits 1 if there are any, 0 if there are none."""

import argparse
import sys

from nfacct_exporter import config
from nfacct_exporter.config import namespaces
from nfacct_exporter.doctor import namespace, services
from nfacct_exporter.doctor.findings import Finding, render
from nfacct_exporter.netlink.nflog import has_net_admin

DESCRIPTION = """\
Check the running system, and the configuration if given, for what keeps counters at 0 or
loses data: CAP_NET_ADMIN, kernel support (asked over netlink, so built-in modules count),
NFACCT objects no rule references, declared counters missing from the kernel, rules naming
missing objects, NFLOG groups no rule logs to, rules logging to groups nobody listens to or
another process holds, conntrack's invalid-packet messages sent to a logger nobody reads,
the listen address taken, Graphite unreachable, a broken web configuration. Each finding names
what it concerns and the fix. Exit status 0: nothing found; 1: findings."""


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The ``doctor`` command under the main parser's commands; flags given before the command
    (``--config``, ``--web.*``) count too."""
    p = commands.add_parser("doctor", help="say why counters stay at 0", description=DESCRIPTION,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="the daemon's YAML configuration")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--web.config.file", dest="web_config", metavar="FILE",
                   default=argparse.SUPPRESS, help="the daemon's web configuration")
    p.add_argument("--web.listen-address", dest="listen", metavar="HOST:PORT",
                   default=argparse.SUPPRESS,
                   help="the daemon's listen address (default: the configuration's)")
    p.set_defaults(run=run)


def diagnose(args: argparse.Namespace) -> list[Finding]:
    """Every finding, in a fixed order: configuration, capability, namespaces, services."""
    path, web, listen = (getattr(args, k, None) for k in ("config", "web_config", "listen"))
    cfg, out = services.load_config(path) if path else (None, [])
    if not has_net_admin():
        out.append(Finding("capability", "CAP_NET_ADMIN",
                           "this process lacks it: netlink refuses every request (EPERM)",
                           "run as root, or with AmbientCapabilities=CAP_NET_ADMIN (systemd)"))
    else:
        plan = namespaces.plan(cfg.netns, cfg.namespaces) if cfg else namespaces.plan(None, ())
        for ns in plan:
            out += namespace.check(ns, cfg)
    if web:
        out += services.web_config(web)
    out += services.listen(listen or (cfg.listen if cfg else config.DEFAULT_LISTEN))
    if cfg and cfg.graphite:
        out += services.graphite(cfg.graphite)
    return out


def run(args: argparse.Namespace) -> int:
    findings = diagnose(args)
    sys.stdout.write(render(findings, args.format))
    return 1 if findings else 0
