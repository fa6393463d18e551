"""Checks of what the daemon serves and sends, from the doctor's own namespace (the daemon's):
the configuration, the web configuration, the listen address and Graphite."""

import errno
import os
import socket

from nfacct_exporter import config
from nfacct_exporter.config import web
from nfacct_exporter.doctor import procfs
from nfacct_exporter.doctor.findings import Finding


def load_config(path: str) -> tuple[config.Config | None, list[Finding]]:
    try:
        return config.load(path), []
    except (config.ConfigError, OSError) as e:
        return None, [Finding("config", f"file {path}", f"invalid: {e}",
                              f"fix it (nfacct-exporter check --config {path})")]


def web_config(path: str) -> list[Finding]:
    try:
        web.load(path)
    except (config.ConfigError, OSError) as e:
        return [Finding("web-config", f"file {path}", f"invalid: {e}",
                        f"fix it (nfacct-exporter check --web.config.file {path})")]
    return []


def listen(address: str) -> list[Finding]:
    """Bind the address as the daemon would; taken by a running nfacct-exporter is fine."""
    host, port = config.parse_listen(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
            return []
        except OSError as e:
            code = e.errno
    if code == errno.EADDRINUSE:
        owners = [procfs.socket_owner(i) for i in procfs.tcp_listener_inodes(port)]
        if any(procfs.is_exporter(o) for o in owners):
            return []
        who = procfs.describe(next((o for o in owners if o), None))
        return [Finding("listen", f"address {address}", f"port {port} is taken by {who}",
                        "stop that process or choose another --web.listen-address / listen:")]
    return [Finding("listen", f"address {address}", f"cannot be bound: {os.strerror(code)}",
                    "use an address of this host in --web.listen-address / listen:")]


def graphite(cfg: config.GraphiteConfig) -> list[Finding]:
    try:
        socket.create_connection((cfg.host, cfg.port), timeout=min(cfg.timeout, 3.0)).close()
    except OSError as e:
        return [Finding("graphite", f"carbon at {cfg.host}:{cfg.port}",
                        f"unreachable ({e.strerror or e})",
                        "start carbon there or fix graphite.host/port (points wait in the "
                        "backlog meanwhile, up to backlog_memcap)")]
    return []
