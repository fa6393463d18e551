"""The command line's shape: operator help, the ``check`` command meaning ``--check``, and the
file flags counting whether given before or after the command."""

from pathlib import Path

import pytest

from nfacct_exporter import cli


def test_help_is_written_for_operators(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    for text in ("NFACCT", "CAP_NET_ADMIN", "--web.listen-address", "counters create",
                 "counters rules", "exit codes:", "2  bad configuration"):
        assert text in out, text
    with pytest.raises(SystemExit):
        cli.main(["counters", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: nfacct-exporter counters ") and "exit codes:" in out


def test_check_command_is_the_check_flag(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("pollinterval: 5\n")
    bad.write_text("pollinterval: 0\n")
    for argv in (["--check", "--config", str(good)], ["check", "--config", str(good)],
                 ["--config", str(good), "check"]):
        assert cli.main(argv) == 0, argv
        assert capsys.readouterr().out == f"nfacct-exporter: {good}: configuration OK\n"
    for argv in (["--check", "--config", str(bad)], ["check", "--config", str(bad)],
                 ["--config", str(bad), "check"]):
        assert cli.main(argv) == 2, argv
        assert str(bad) in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["nonsense"])
    assert done.value.code == 2


def test_web_max_requests() -> None:
    assert cli.parser().parse_args([]).max_requests == 40
    assert cli.parser().parse_args(["--web.max-requests", "0"]).max_requests == 0
    with pytest.raises(SystemExit) as e:
        cli.parser().parse_args(["--web.max-requests", "-1"])
    assert e.value.code == 2
