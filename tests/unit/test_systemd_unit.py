"""The shipped systemd unit: strict ``systemd-analyze verify``, its exposure score, and the
settings the daemon relies on. PID 1 here is not systemd, so the unit is verified, not started;
``tests/e2e/test_startup_errors.py`` runs the daemon with the unit's privileges (non-root, ambient
CAP_NET_ADMIN only) instead."""

import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

UNIT = Path(__file__).parent.parent.parent / "deploy" / "systemd" / "nfacct-exporter.service"
SHIPPED_EXEC = "/usr/local/bin/nfacct-exporter"

pytestmark = pytest.mark.skipif(not shutil.which("systemd-analyze"),
                                reason="needs systemd-analyze (Debian systemd)")


def installed_script() -> str:
    script = Path(sysconfig.get_path("scripts")) / "nfacct-exporter"
    found = str(script) if script.exists() else shutil.which("nfacct-exporter")
    assert found, "the nfacct-exporter console script is not installed (pip install -e .)"
    return found


def local_copy(tmp_path: Path, extra: str = "") -> Path:
    """The shipped unit, ExecStart pointed at this machine's console script (verify checks it
    exists), under the same file name (verify derives the unit name from it)."""
    text = UNIT.read_text()
    assert f"ExecStart={SHIPPED_EXEC} " in text
    text = text.replace(f"ExecStart={SHIPPED_EXEC} ", f"ExecStart={installed_script()} ")
    if extra:
        text = text.replace("\n[Service]\n", f"\n[Service]\n{extra}\n", 1)
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    return copy


def verify(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", "--recursive-errors=no", "--man=no",
                           str(unit)], capture_output=True, text=True)


def test_strict_verify_passes(tmp_path: Path) -> None:
    r = verify(local_copy(tmp_path))
    ours = [line for line in r.stderr.splitlines() if UNIT.name in line]
    assert r.returncode == 0 and not ours, r.stderr


def test_strict_verify_catches_a_typo(tmp_path: Path) -> None:
    """So the test above can fail: plain ``verify`` exits 0 on unknown keys."""
    r = verify(local_copy(tmp_path, "ProtectHom=yes"))
    assert r.returncode != 0 and "ProtectHom" in r.stderr


def test_exposure_score(tmp_path: Path) -> None:
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for nfacct-exporter\.service: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    score = float(m.group(1))
    print(f"systemd-analyze security --offline=yes: exposure {score}")
    assert score <= 2.0, r.stdout


def test_settings_the_daemon_relies_on() -> None:
    kv: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            kv.setdefault(k, []).append(v)
    assert kv["Type"] == ["notify"] and kv["NotifyAccess"] == ["main"]
    assert kv["WatchdogSec"] and kv["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert kv["DynamicUser"] == ["yes"] and kv["User"] != ["root"]
    assert kv["AmbientCapabilities"] == ["CAP_NET_ADMIN"]
    assert kv["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"]
    assert kv["ProtectSystem"] == ["strict"] and kv["NoNewPrivileges"] == ["yes"]
    assert set(kv["RestrictAddressFamilies"][0].split()) == {
        "AF_NETLINK", "AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in kv["SystemCallFilter"]


def test_socket_unit_verifies(tmp_path: Path) -> None:
    """The shipped ``.socket`` beside the service it activates."""
    service = local_copy(tmp_path)
    socket_unit = tmp_path / "nfacct-exporter.socket"
    socket_unit.write_text((UNIT.parent / socket_unit.name).read_text())
    r = verify(socket_unit)
    ours = [line for line in r.stderr.splitlines() if "nfacct-exporter" in line]
    assert r.returncode == 0 and not ours and service.exists(), r.stderr
    assert "--web.systemd-socket" in socket_unit.read_text()
