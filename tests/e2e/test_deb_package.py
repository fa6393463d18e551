"""The Debian package, built from the registries and installed with apt on this machine: the
command, the man page, the conffiles, the unit (enabled, verified), the shipped config checked,
the installed command serving in a test namespace; then purged, leaving only what the operator
added. Building needs the network (PyPI); pip's downloads are cached in .cache/pip."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from nfacct_exporter import __version__
from tests.support.netns import free_port
from tests.support.waiting import until

TOP = Path(__file__).parents[2]
DEB = TOP / "dist" / f"nfacct-exporter_{__version__}_amd64.deb"
UNIT = Path("/lib/systemd/system/nfacct-exporter.service")
WANTS = Path("/etc/systemd/system/multi-user.target.wants/nfacct-exporter.service")
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=120", "-y", "-q"]

pytestmark = pytest.mark.skipif(
    not shutil.which("dpkg-deb") or not shutil.which("apt-get")
    or not Path("/usr/bin/python3").exists(), reason="needs a Debian machine")


def run(*argv: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", **extra}
    env.pop("PYTHONPATH", None)  # the installed command must find its own packages
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)


def running(command: str) -> list[str]:
    """PIDs whose command line runs ``command`` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command.encode() in argv[:2]:
            found.append(proc.name)
    return found


@pytest.fixture(scope="module")
def installed() -> dict:
    started = time.monotonic()
    built = run("bash", str(TOP / "packaging" / "deb" / "build.sh"), timeout=600)
    assert built.returncode == 0, built.stderr
    took = time.monotonic() - started
    assert built.stdout.strip() == str(DEB) and DEB.exists()
    if run("dpkg", "-s", "nfacct-exporter").returncode == 0:
        run(*APT, "purge", "nfacct-exporter")  # a leftover of an interrupted run
    try:
        got = run(*APT, "install", str(DEB), timeout=300)
        assert got.returncode == 0, got.stdout + got.stderr
        yield {"build_seconds": took, "size": DEB.stat().st_size}
    finally:
        extra = Path("/etc/nfacct-exporter/web.yml")
        extra.parent.mkdir(exist_ok=True)
        extra.write_text("# the operator's own file\n")
        purged = run(*APT, "purge", "nfacct-exporter", timeout=300)
        try:
            assert purged.returncode == 0, purged.stderr
            for gone in ("/opt/nfacct-exporter", "/usr/bin/nfacct-exporter", str(UNIT),
                         str(WANTS), "/etc/default/nfacct-exporter",
                         "/etc/nfacct-exporter/config.yaml", "/usr/share/nfacct-exporter",
                         "/usr/share/man/man1/nfacct-exporter.1.gz"):
                assert not os.path.lexists(gone), gone
            assert extra.read_text() == "# the operator's own file\n"
        finally:
            shutil.rmtree(extra.parent, ignore_errors=True)


def test_installed_files_and_commands(installed: dict) -> None:
    print(f"deb: {installed['size']} bytes, built in {installed['build_seconds']:.1f} s")
    assert installed["build_seconds"] < 120
    assert shutil.which("nfacct-exporter") == "/usr/bin/nfacct-exporter"
    version = run("nfacct-exporter", "--version")
    first = version.stdout.splitlines()[0]
    assert version.returncode == 0 and first.startswith(f"nfacct-exporter, version {__version__} ")
    assert "revision: unknown" not in first and "build user:       unknown" not in version.stdout
    for argv in (["check"], ["--check"]):
        r = run("nfacct-exporter", *argv, "--config.file", "/etc/nfacct-exporter/config.yaml")
        assert r.returncode == 0, r.stderr
        assert "configuration OK" in r.stdout
    for unit in (UNIT, UNIT.with_suffix(".socket")):
        r = run("systemd-analyze", "verify", "--recursive-errors=no", "--man=no", str(unit))
        assert r.returncode == 0 and "nfacct-exporter" not in r.stderr, r.stderr
    assert "ExecStart=/usr/bin/nfacct-exporter " in UNIT.read_text()
    assert WANTS.is_symlink()  # enabled on installation, as Debian's exporters are
    assert not running("/usr/bin/nfacct-exporter")  # PID 1 is not systemd here: not started
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "nfacct-exporter").stdout
    assert "/etc/nfacct-exporter/config.yaml" in conffiles
    assert "/etc/default/nfacct-exporter" in conffiles
    assert 'ARGS=""' in Path("/etc/default/nfacct-exporter").read_text()
    page = run("man", "-P", "cat", "nfacct-exporter", MANWIDTH="80")
    assert page.returncode == 0 and "--web.systemd-socket" in page.stdout, page.stderr
    share = Path("/usr/share/nfacct-exporter")
    assert sorted(p.name for p in (share / "dashboards").iterdir()) == [
        "nfacct-graphite.json", "nfacct-prometheus.json"]
    assert (share / "alerts" / "alerts.yml").exists()
    control = run("dpkg-query", "-W", "-f=${Depends}|${Recommends}", "nfacct-exporter").stdout
    assert "python3" in control and "iptables, nftables, nfacct" in control


def test_installed_command_serves_in_a_namespace(installed: dict, ns) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.deb")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ns.popen(["/usr/bin/nfacct-exporter", "--config.file", "/etc/nfacct-exporter/config.yaml",
              "--web.listen-address", f"127.0.0.1:{port}"], env=env,
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    body = until(lambda: ns.http(url, timeout=1)[2].decode(), 20, "the installed exporter",
                 ignore=(OSError,))
    assert 'nfacct_packets_total{name="ipv4.deb",family="ipv4",app="deb"} 0' in body
    assert "/opt/nfacct-exporter" not in body and "nfacct_exporter_build_info{" in body
