"""Command line: flags, ``--check``, wiring sources → poller → sinks, signals and exit codes."""

import argparse
import errno
import logging
import sys

from nfacct_exporter import __version__, config, tuning
from nfacct_exporter.config import web as webconfig
from nfacct_exporter.daemon import Daemon, StartupFailed
from nfacct_exporter.netlink.nflog import BindError
from nfacct_exporter.web.tls import WebConfigSource

log = logging.getLogger("nfacct_exporter")
PROG = "nfacct-exporter"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__,
        epilog="counter set-up: nfacct-exporter counters {create,rules} --config FILE [-h]")
    p.add_argument("--config", metavar="FILE", help="YAML configuration (default: all defaults)")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")
    p.add_argument("--web.listen-address", dest="listen", metavar="HOST:PORT",
                   help=f"override prometheus.listen (default {config.DEFAULT_LISTEN})")
    p.add_argument("--web.config.file", dest="web_config", metavar="FILE",
                   help="TLS and basic auth, in the Prometheus exporter-toolkit format")
    p.add_argument("--log.level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p.parse_args(argv)


def fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def netlink_problem(e: OSError, netns: str | None) -> str:
    """One line saying why the kernel refused us, and what to do."""
    if isinstance(e, BindError):  # already names the NFLOG group, the namespace and why
        return str(e)
    where = f" in network namespace {netns!r}" if netns else ""
    if netns and e.errno == errno.EPERM and "setns" in str(e):
        return (f"cannot enter network namespace {netns!r}: setns needs CAP_SYS_ADMIN (the "
                "shipped systemd unit grants only CAP_NET_ADMIN: use NetworkNamespacePath=)")
    if e.errno in (errno.EPERM, errno.EACCES):
        return (f"permission denied reading NFACCT over netlink{where}: CAP_NET_ADMIN is "
                "required (run as root or with AmbientCapabilities=CAP_NET_ADMIN)")
    if e.errno in (errno.EPROTONOSUPPORT, errno.EOPNOTSUPP, errno.ENOENT) and not netns:
        return (f"the kernel does not answer NFACCT requests ({e.strerror}): load "
                "nfnetlink_acct (modprobe nfnetlink_acct)")
    if e.errno == errno.EINVAL:  # nfnetlink answers EINVAL for a subsystem it does not have
        return (f"the kernel rejected the NFACCT request{where} ({e.strerror}): is "
                "nfnetlink_acct loaded? (modprobe nfnetlink_acct)")
    if netns and e.errno == errno.ENOENT:
        return f"network namespace {netns!r} does not exist"
    return f"cannot read NFACCT over netlink{where}: {e.strerror or e}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["counters"]:  # set-up subcommands: their own parser (provision.py)
        from nfacct_exporter import provision
        return provision.main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problems = []
    try:
        cfg = config.load(args.config)
        if args.listen is not None:
            try:
                config.parse_listen(args.listen)
            except Exception:
                raise config.ConfigError(
                    f"--web.listen-address = {args.listen!r}: expected HOST:PORT, :PORT or "
                    "[IPV6]:PORT") from None
    except config.ConfigError as e:
        problems += str(e).splitlines()
    try:
        web = webconfig.load(args.web_config) if args.web_config else None
    except config.ConfigError as e:
        problems += str(e).splitlines()
    if problems:  # every problem of both files at once, one line each
        for line in problems:
            print(f"{PROG}: {line}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{PROG}: {cfg.path or 'defaults'}: configuration OK")
        if web is not None:
            print(f"{PROG}: {web.path}: web configuration OK")
        return 0
    return run(cfg, args.listen, web)


def run(cfg: config.Config, listen_override: str | None = None,
        web: webconfig.WebConfig | None = None) -> int:
    """The daemon (daemon.py): start-up failures are one line and exit code 1."""
    tuning.for_daemon()  # before any thread starts
    source = WebConfigSource(web, logging.getLogger("nfacct_exporter.web")) if web \
        else None
    daemon = Daemon(cfg, listen_override, source, lambda e, c: netlink_problem(e, c.netns))
    try:
        daemon.start()
    except StartupFailed as e:
        return fail(str(e))
    return daemon.serve()
