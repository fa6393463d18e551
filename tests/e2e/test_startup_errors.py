"""Start-up refusals: one clear line on stderr, exit code 1 — without CAP_NET_ADMIN (as nobody),
without nfnetlink in the kernel (simulated: see sandbox.py), with the port taken, and with a
``netns`` the hardened unit cannot enter. And what the unit does, short of systemd: non-root with
only CAP_NET_ADMIN, no W+X memory, four address families — TLS, auth, notify and reload work."""

import platform
import shutil
import signal
import socket
from pathlib import Path

import pytest

from tests.support.daemon import Daemon
from tests.support.exposition import samples
from tests.support.netns import PYTHON
from tests.support.notify import NotifySocket
from tests.support.tls import bcrypt_hash, client_context, https_get, make_certs

SANDBOX = str(Path(__file__).parent.parent / "support" / "sandbox.py")
CONFIG = "pollinterval: 0.5\n"


def as_nobody(*caps: str) -> tuple[str, ...]:
    """setpriv to uid/gid 65534 keeping only ``caps`` (ambient, so they survive execve).

    DAC_READ_SEARCH is always kept: this machine's Python lives under /root (mode 0700). It
    grants reading files, nothing netlink cares about.
    """
    keep = ",".join(f"+{c}" for c in ("dac_read_search", *caps))
    return ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            f"--inh-caps=-all,{keep}", f"--ambient-caps={keep}", f"--bounding-set=-all,{keep}",
            "--")


def one_line(d: Daemon) -> str:
    assert d.wait_exit() == 1, d.output()
    lines = d.output().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nfacct-exporter: "), lines
    assert "Traceback" not in d.output()
    return lines[0]


needs_setpriv = pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv")


@needs_setpriv
def test_without_cap_net_admin(ns, tmp_path) -> None:  # noqa: ANN001
    d = Daemon(ns, tmp_path, CONFIG, prefix=as_nobody())
    line = one_line(d)
    assert "permission denied" in line and "CAP_NET_ADMIN is required" in line


@needs_setpriv
def test_nobody_with_only_cap_net_admin_serves(ns, tmp_path) -> None:  # noqa: ANN001
    """What the systemd unit does: a non-root user with ambient CAP_NET_ADMIN."""
    ns.run("nfacct", "add", "ipv4.dns")
    ns.sh("iptables -A INPUT -p udp --dport 30053 -m nfacct --nfacct-name ipv4.dns")
    ns.udp("127.0.0.1", 30053, b"q" * 22, count=3)
    d = Daemon(ns, tmp_path, CONFIG, prefix=as_nobody("net_admin"))
    status = Path(f"/proc/{d.proc.pid}/status")
    body = d.wait_until(lambda: (r := ns.http(f"http://127.0.0.1:{d.port}/metrics"))[0] == 200
                        and r[2].decode())
    assert 'nfacct_packets_total{name="ipv4.dns"} 3' in body
    uid = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
    assert uid.split()[1:] == ["65534"] * 4


@needs_setpriv
def test_netns_needs_cap_sys_admin(ns, tmp_path) -> None:  # noqa: ANN001
    d = Daemon(ns, tmp_path, f"{CONFIG}netns: {ns.name}\n", prefix=as_nobody("net_admin"))
    line = one_line(d)
    assert "cannot enter network namespace" in line and "CAP_SYS_ADMIN" in line


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the seccomp filter is x86_64 only")
def test_kernel_without_nfnetlink(ns, tmp_path) -> None:  # noqa: ANN001
    d = Daemon(ns, tmp_path, CONFIG, prefix=(PYTHON, SANDBOX, "--no-nfnetlink", "--"))
    line = one_line(d)
    assert "the kernel does not answer NFACCT requests (Protocol not supported)" in line
    assert "nfnetlink_acct" in line


def test_port_taken(ns, tmp_path) -> None:  # noqa: ANN001
    def bind() -> socket.socket:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        return s
    taken = ns.call(bind)
    try:
        port = taken.getsockname()[1]
        d = Daemon(ns, tmp_path, CONFIG, ("--web.listen-address", f"127.0.0.1:{port}"))
        assert one_line(d) == (f"nfacct-exporter: cannot listen on 127.0.0.1:{port}: "
                               "Address already in use")
    finally:
        taken.close()


def test_bad_web_config_is_exit_2(ns, tmp_path) -> None:  # noqa: ANN001
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: /nonexistent.crt\n")
    d = Daemon(ns, tmp_path, CONFIG, ("--web.config.file", str(web)))
    assert d.wait_exit() == 2
    lines = d.output().splitlines()
    assert lines == [
        f"nfacct-exporter: {web}:2: key 'tls_server_config.cert_file' = '/nonexistent.crt': "
        "cannot read /nonexistent.crt: No such file or directory",
        f"nfacct-exporter: {web}: key 'tls_server_config.key_file': required when TLS is "
        "configured"], lines


@needs_setpriv
@pytest.mark.skipif(platform.machine() != "x86_64" or
                    tuple(map(int, platform.release().split(".")[:2])) < (6, 3),
                    reason="x86_64 seccomp filter and PR_SET_MDWE (Linux >= 6.3)")
def test_unit_like_restrictions(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.dns")
    certs = make_certs(tmp_path / "certs")
    web = tmp_path / "web.yml"
    web.write_text(f"""\
tls_server_config:
  cert_file: {certs['server_crt']}
  key_file: {certs['server_key']}
  client_ca_file: {certs['ca_crt']}
  client_auth_type: RequireAndVerifyClientCert
basic_auth_users:
  prometheus: '{bcrypt_hash("pw")}'
""")
    sock = NotifySocket(ns, tmp_path)
    try:
        d = Daemon(ns, tmp_path, CONFIG, ("--web.config.file", str(web)),
                   env={"NOTIFY_SOCKET": sock.env_value, "WATCHDOG_USEC": "30000000"},
                   prefix=(*as_nobody("net_admin"), PYTHON, SANDBOX, "--unit-like", "--"))
        sock.wait_for("READY=1")
        status = Path(f"/proc/{d.proc.pid}/status").read_text()
        assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status
        ctx = client_context(certs)
        code, _, body = https_get(ns, d.port, ctx, auth=("prometheus", "pw"))
        assert code == 200
        assert samples(body)[("nfacct_packets_total", frozenset({("name", "ipv4.dns")}))] == 0
        assert https_get(ns, d.port, ctx, auth=("prometheus", "nope"))[0] == 401
        sock.wait_for("WATCHDOG=1")
        d.proc.send_signal(signal.SIGHUP)
        sock.wait_for("RELOADING=1")
        d.proc.send_signal(signal.SIGTERM)
        sock.wait_for("STOPPING=1")
        assert d.wait_exit() == 0, d.output()
        assert " level=error " not in d.output() and "Traceback" not in d.output()
    finally:
        sock.close()
