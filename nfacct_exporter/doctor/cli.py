"""``nfacct-exporter doctor``: why a counter stays at 0. Prints the findings (text or JSON) and
exits 1 if there are any, 0 if there are none."""

import argparse
import sys

from nfacct_exporter import config, namespaces
from nfacct_exporter.doctor import namespace, services
from nfacct_exporter.doctor.findings import Finding, render
from nfacct_exporter.netlink.nflog import has_net_admin


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nfacct-exporter doctor",
                                description="Check the running system (and the configuration) "
                                            "for what keeps counters at 0.")
    p.add_argument("--config", metavar="FILE", help="the daemon's YAML configuration")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--web.config.file", dest="web_config", metavar="FILE")
    p.add_argument("--web.listen-address", dest="listen", metavar="HOST:PORT")
    return p


def diagnose(args: argparse.Namespace) -> list[Finding]:
    cfg, out = services.load_config(args.config) if args.config else (None, [])
    if not has_net_admin():
        out.append(Finding("capability", "CAP_NET_ADMIN",
                           "this process lacks it: netlink refuses every request (EPERM)",
                           "run as root, or with AmbientCapabilities=CAP_NET_ADMIN (systemd)"))
    else:
        plan = namespaces.plan(cfg.netns, cfg.namespaces) if cfg else namespaces.plan(None, ())
        for ns in plan:
            out += namespace.check(ns, cfg)
    if args.web_config:
        out += services.web_config(args.web_config)
    out += services.listen(args.listen or (cfg.listen if cfg else config.DEFAULT_LISTEN))
    if cfg and cfg.graphite:
        out += services.graphite(cfg.graphite)
    return out


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    findings = diagnose(args)
    sys.stdout.write(render(findings, args.format))
    return 1 if findings else 0
