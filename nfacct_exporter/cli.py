"""Command line: flags, ``--check``, wiring sources → poller → sinks, signals and exit codes."""

import argparse
import errno
import logging
import signal
import sys
import threading

from nfacct_exporter import __version__, config, pipeline
from nfacct_exporter.http import MetricsServer

log = logging.getLogger("nfacct_exporter")
PROG = "nfacct-exporter"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__)
    p.add_argument("--config", metavar="FILE", help="YAML configuration (default: all defaults)")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")
    p.add_argument("--web.listen-address", dest="listen", metavar="HOST:PORT",
                   help=f"override prometheus.listen (default {config.DEFAULT_LISTEN})")
    p.add_argument("--log.level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p.parse_args(argv)


def fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def netlink_problem(e: OSError, netns: str | None) -> str:
    """One line saying why the kernel refused us, and what to do."""
    where = f" in network namespace {netns!r}" if netns else ""
    if e.errno in (errno.EPERM, errno.EACCES):
        return (f"permission denied reading NFACCT over netlink{where}: CAP_NET_ADMIN is "
                "required (run as root or with AmbientCapabilities=CAP_NET_ADMIN)")
    if e.errno in (errno.EPROTONOSUPPORT, errno.EOPNOTSUPP, errno.ENOENT) and not netns:
        return (f"the kernel does not answer NFACCT requests ({e.strerror}): load "
                "nfnetlink_acct (modprobe nfnetlink_acct)")
    if netns and e.errno == errno.ENOENT:
        return f"network namespace {netns!r} does not exist"
    return f"cannot read NFACCT over netlink{where}: {e.strerror or e}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config.load(args.config)
        listen = cfg.listen
        if args.listen is not None:
            try:
                config.parse_listen(args.listen)
            except Exception:
                raise config.ConfigError(
                    f"--web.listen-address = {args.listen!r}: expected HOST:PORT, :PORT or "
                    "[IPV6]:PORT") from None
            listen = args.listen
    except config.ConfigError as e:
        for line in str(e).splitlines():
            print(f"{PROG}: {line}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{PROG}: {cfg.path or 'defaults'}: configuration OK")
        return 0
    return run(cfg, listen)


def run(cfg: config.Config, listen: str) -> int:
    try:
        current = pipeline.build(cfg)
    except OSError as e:
        return fail(netlink_problem(e, cfg.netns))
    host, port = config.parse_listen(listen)
    try:
        server = MetricsServer(host, port, lambda gz: current.exposition(gz))
    except OSError as e:
        current.stop(grace=0)
        return fail(f"cannot listen on {listen}: {e.strerror or e}")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    current.start()
    server.start()
    log.info("listening on %s, polling every %gs%s", listen, cfg.pollinterval,
             f", graphite {cfg.graphite.host}:{cfg.graphite.port}" if cfg.graphite else "")
    stop.wait()
    log.info("shutting down")
    server.shutdown()
    server.server_close()
    current.stop(grace=5.0)
    return 0
