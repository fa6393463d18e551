"""The command line: the daemon (the default), ``check`` and ``counters``, their flags, their
help for operators and their exit codes."""

import argparse
import logging
import sys

from nfacct_exporter import config, logs, systemd, tuning, version
from nfacct_exporter.config import web as webconfig
from nfacct_exporter.daemon import Daemon, StartupFailed
from nfacct_exporter.doctor import cli as doctor
from nfacct_exporter.migrate import command as migrate
from nfacct_exporter.problems import netlink_problem
from nfacct_exporter.provision import command as counters
from nfacct_exporter.web.tls import WebConfigSource

PROG = "nfacct-exporter"
USAGE = """\
%(prog)s [--config.file FILE] [--web.listen-address HOST:PORT ...]
                       [--web.systemd-socket] [--web.telemetry-path PATH]
                       [--web.config.file FILE] [--log.level LEVEL] [--log.format FORMAT]
                       [--check]
       %(prog)s check [--config.file FILE] [--web.config.file FILE]
       %(prog)s counters {create,rules} --config FILE [...]
       %(prog)s doctor [--config FILE] [--format text|json]
       %(prog)s migrate ULOGD.CONF
       %(prog)s --version"""
DESCRIPTION = """\
Export Linux netfilter accounting to Prometheus and Graphite. The daemon reads every NFACCT
object over netlink each pollinterval seconds, never resetting the kernel's counters, and, if
configured, counts NFLOG packets per group and prefix and reads nftables named counters, in
one or several network namespaces. It maps object names such as ipv4.http to labels and to
Graphite paths, serves them on /metrics (TLS and basic auth optional) and pushes them to
carbon. It needs CAP_NET_ADMIN. SIGHUP re-reads the configuration files (a broken file keeps
the running configuration); SIGTERM or SIGINT stop it.
"""
EPILOG = """\
commands:
  (none)           run the daemon
  check            validate the configuration and the web configuration, then exit
                   (the same as --check)
  counters create  create the NFACCT objects the configuration declares (idempotent)
  counters rules   print iptables / ip6tables / nft rules feeding them
  doctor           say why counters stay at 0: each finding names the object, group or file
                   and the fix (exit 0: nothing found, 1: findings)
  migrate FILE     print the configuration equivalent to a ulogd2 ulogd.conf
  'nfacct-exporter COMMAND --help' describes each command.

exit codes:
  0  configuration OK (check), or a clean shutdown on SIGTERM or SIGINT
  1  the kernel or the network refused: no CAP_NET_ADMIN, a kernel module missing, an
     unknown network namespace, the listen address in use (one line on stderr says which)
  2  bad configuration or command line (one line per problem, with file, line and key)
"""


def parser() -> argparse.ArgumentParser:
    """The whole command line; each command sets ``run``, the function that carries it out."""
    p = argparse.ArgumentParser(prog=PROG, usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _file_flags(p, None)
    p.add_argument("--web.listen-address", dest="listen", metavar="HOST:PORT",
                   action="append",
                   help="listen here instead of prometheus.listen (default "
                        f"{config.DEFAULT_LISTEN}; :PORT means every address); repeat it to "
                        "listen on several addresses")
    p.add_argument("--web.max-requests", dest="max_requests", type=_count, default=40,
                   metavar="N", help="requests in progress at once; more get 503 at once "
                                     "(default 40, 0 = no limit)")
    p.add_argument("--web.systemd-socket", dest="systemd_socket", action="store_true",
                   help="serve on the sockets systemd passes (socket activation) instead of "
                        "listening on addresses")
    p.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics",
                   metavar="PATH", help="path under which to expose metrics (default /metrics)")
    p.add_argument("--log.level", dest="log_level", default="info", metavar="LEVEL",
                   choices=list(logs.LEVELS),
                   help="debug, info (default), warn or error; logs go to stderr")
    p.add_argument("--log.format", dest="log_format", default="logfmt", metavar="FORMAT",
                   choices=logs.FORMATS, help="logfmt (default) or json")
    p.add_argument("--check", action="store_true",
                   help="validate the configuration and the web configuration, then exit "
                        "(the check command)")
    p.add_argument("--version", action=_Version, nargs=0,
                   help="print version, revision, build and Python information, then exit")
    p.set_defaults(run=_default)
    commands = p.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS,
                                prog=PROG)
    check_parser = commands.add_parser(
        "check", help="validate the configuration files, then exit",
        description="Validate the configuration and the web configuration, then exit: 0 when "
                    "both are valid, 2 otherwise, with one line per problem (file, line, key).")
    _file_flags(check_parser, argparse.SUPPRESS)  # given before the command, they still count
    check_parser.set_defaults(run=check)
    counters.add_parser(commands)
    doctor.add_parser(commands)
    migrate.add_parser(commands)
    return p


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, not {text!r}")
    return int(text)


class _Version(argparse.Action):
    """``--version`` as Prometheus' ``version.Print`` (git asked only when it is given)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(version.text(), end="")
        parser.exit(0)


def _file_flags(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--config.file", "--config", dest="config", metavar="FILE", default=default,
                   help="YAML configuration (optional: every key has a default)")
    p.add_argument("--web.config.file", dest="web_config", metavar="FILE", default=default,
                   help="TLS, basic auth and HTTP headers, in the Prometheus exporter-toolkit "
                        "web configuration format")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    return args.run(args)


def _default(args: argparse.Namespace) -> int:
    return check(args) if args.check else daemon(args)


class Invalid(Exception):
    """Every problem found in the configuration files and flags, one line each (exit code 2)."""

    def report(self) -> int:
        for line in self.args:
            print(f"{PROG}: {line}", file=sys.stderr)
        return 2


def load(args: argparse.Namespace) -> tuple[config.Config, webconfig.WebConfig | None]:
    """Both configuration files and ``--web.listen-address``, all checked before any refusal."""
    problems = []
    try:
        cfg = config.load(args.config)
        for listen in args.listen or ():
            try:
                config.parse_listen(listen)
            except Exception:
                raise config.ConfigError(
                    f"--web.listen-address = {listen!r}: expected HOST:PORT, :PORT or "
                    "[IPV6]:PORT") from None
        if not getattr(args, "telemetry_path", "/").startswith("/"):
            raise config.ConfigError(
                f"--web.telemetry-path = {args.telemetry_path!r}: must start with /")
    except config.ConfigError as e:
        problems += str(e).splitlines()
    try:
        web = webconfig.load(args.web_config) if args.web_config else None
    except config.ConfigError as e:
        problems += str(e).splitlines()
    if problems:
        raise Invalid(*problems)
    return cfg, web


def check(args: argparse.Namespace) -> int:
    """``check`` / ``--check``: say what was validated; 0 valid, 2 not."""
    try:
        cfg, web = load(args)
    except Invalid as e:
        return e.report()
    print(f"{PROG}: {cfg.path or 'defaults'}: configuration OK")
    if web is not None:
        print(f"{PROG}: {web.path}: web configuration OK")
    return 0


def daemon(args: argparse.Namespace) -> int:
    """The daemon until SIGTERM/SIGINT; a start-up failure is one line and exit code 1."""
    try:
        cfg, web = load(args)
    except Invalid as e:
        return e.report()
    tuning.for_daemon()  # before any thread starts
    source = WebConfigSource(web, logging.getLogger("nfacct_exporter.web")) if web else None
    sockets = systemd.listen_sockets() if args.systemd_socket else None
    if args.systemd_socket and not sockets:
        print(f"{PROG}: --web.systemd-socket: systemd passed no socket (LISTEN_FDS/LISTEN_PID "
              "unset: start it through its .socket unit)", file=sys.stderr)
        return 1
    running = Daemon(cfg, tuple(args.listen or ()), source,
                     lambda e, c: netlink_problem(e, c.netns),
                     telemetry_path=args.telemetry_path, sockets=sockets,
                     max_requests=args.max_requests)
    try:
        running.start()
    except StartupFailed as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    return running.serve()
