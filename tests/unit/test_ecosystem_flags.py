"""The flags every Prometheus exporter has: ``--version`` as ``version.Print``, log levels and
formats, ``--config.file``, systemd's socket-activation environment."""

import json
import logging
import os
import re
import socket
from pathlib import Path

import pytest

from nfacct_exporter import __version__, cli, logs, systemd, version


def test_version_prints_like_version_print(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"nfacct-exporter, version {re.escape(__version__)} "
                        r"\(branch: \S+, revision: (?:[0-9a-f]{40}|unknown)\)", lines[0]), lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "build user", "build date", "python version", "platform"]


def test_version_lives_in_one_place() -> None:
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and "nfacct_exporter.__version__" in text
    assert not re.search(r'^version\s*=\s*"', text, re.M)


def test_build_file_wins_over_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = tmp_path / "build_info.json"
    built.write_text(json.dumps({"revision": "abc123", "branch": "main",
                                 "build_user": "me@host", "build_date": "20260101-00:00:00"}))
    monkeypatch.setattr(version, "BUILD_FILE", built)
    version.info.cache_clear()
    try:
        assert version.info()["revision"] == "abc123"
        assert "build user:       me@host" in version.text()
    finally:
        version.info.cache_clear()


@pytest.mark.parametrize("level", ["debug", "info", "warn", "warning", "error"])
def test_log_levels(tmp_path: Path, level: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pollinterval: 5\n")
    assert cli.main(["--log.level", level, "--config.file", str(cfg), "--check"]) == 0


def test_log_formats() -> None:
    record = logging.LogRecord("nfacct_exporter.daemon", logging.WARNING, __file__, 1,
                               'say "%s"', ("hi there",), None)
    line = logs.LogfmtFormatter().format(record)
    assert re.fullmatch(r'time=\S+Z level=warn source=nfacct_exporter.daemon '
                        r'msg="say \\"hi there\\""', line), line
    got = json.loads(logs.JsonFormatter().format(record))
    assert got["level"] == "warn" and got["msg"] == 'say "hi there"'


def test_bad_flags_are_usage_errors() -> None:
    for argv in (["--log.level", "verbose"], ["--log.format", "xml"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 2
    assert cli.main(["--web.telemetry-path", "metrics", "--check"]) == 2
    assert cli.main(["--web.listen-address", ":1", "--web.listen-address", "x", "--check"]) == 2


def test_listen_sockets_only_for_us(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        monkeypatch.setattr(systemd, "SD_LISTEN_FDS_START", s.fileno())  # fd 3 is pytest's
        assert systemd.listen_sockets({"LISTEN_PID": "1", "LISTEN_FDS": "1"}) == []
        got = systemd.listen_sockets({"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"})
        assert [g.getsockname() for g in got] == [s.getsockname()]
        got[0].detach()
