"""The exporter-toolkit flags on the real daemon: several ``--web.listen-address``,
``--web.telemetry-path``, socket activation (``--web.systemd-socket``, fds from systemd's
``systemd-socket-activate``), ``--log.format json`` and the build info's revision."""

import json
import os

from tests.support.daemon import Daemon
from tests.support.exposition import parse_exposition
from tests.support.netns import free_port

CONFIG = "pollinterval: 0.5\n"


def test_listen_addresses_and_telemetry_path(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.flags")
    second = free_port()
    d = Daemon(ns, tmp_path, CONFIG, ("--web.listen-address", f"127.0.0.1:{second}",
                                      "--web.telemetry-path", "/probe", "--log.format", "json"))
    d.wait_until(lambda: ns.http(d.url + "/probe", timeout=1)[0] == 200)
    for port in (d.port, second):
        status, _, body = ns.http(f"http://127.0.0.1:{port}/probe")
        samples = parse_exposition(body.decode())
        assert status == 200 and samples[("nfacct_packets_total",
                                          frozenset({("name", "ipv4.flags")}))] == 0
        assert ns.http(f"http://127.0.0.1:{port}/metrics")[0] == 404
        assert b'href="/probe"' in ns.http(f"http://127.0.0.1:{port}/")[2]
    info = [k for k in samples if k[0] == "nfacct_exporter_build_info"]
    assert len(info) == 1 and "revision" in dict(info[0][1])
    first = json.loads(d.output().splitlines()[0])
    assert first["level"] == "info" and "listening on" in first["msg"], d.output()


def test_systemd_socket_activation(ns, tmp_path) -> None:  # noqa: ANN001
    port = free_port()
    env = [f"--setenv={k}={os.environ[k]}" for k in ("PYTHONPATH", "PATH") if k in os.environ]
    d = Daemon(ns, tmp_path, CONFIG, ("--web.systemd-socket",), listen=False,
               prefix=("systemd-socket-activate", "-l", f"127.0.0.1:{port}", *env))
    d.url = f"http://127.0.0.1:{port}"
    d.ready()  # the first connection makes systemd-socket-activate start the exporter
    assert "nfacct_up 1.0" in d.text()
    assert "the systemd socket" in d.output()


def test_systemd_socket_without_systemd(ns, tmp_path) -> None:  # noqa: ANN001
    d = Daemon(ns, tmp_path, CONFIG, ("--web.systemd-socket",), listen=False)
    assert d.wait_exit() == 1
    assert "--web.systemd-socket: systemd passed no socket" in d.output()
