"""The package's sources checked offline: the man page renders without groff warnings and
documents every flag of ``--help``; the maintainer scripts and the build script parse; the
packaged configuration passes ``check``."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nfacct_exporter import cli

ROOT = Path(__file__).parents[2]
PACKAGING = ROOT / "packaging"


@pytest.mark.skipif(not shutil.which("groff"), reason="needs groff")
def test_man_page_renders_cleanly_and_has_every_flag() -> None:
    page = PACKAGING / "nfacct-exporter.1"
    r = subprocess.run(["groff", "-man", "-ww", "-z", str(page)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = page.read_text().replace("\\-", "-")
    flags = set(re.findall(r"--[a-z][a-z.-]+", cli.parser().format_help())) - {"--help"}
    assert flags and {f for f in flags if f not in text} == set()


def test_maintainer_scripts_parse() -> None:
    for name in ("postinst", "prerm", "postrm"):
        script = PACKAGING / "deb" / name
        assert script.stat().st_mode & 0o111, f"{name} must be executable"
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0, name
    assert subprocess.run(["bash", "-n", str(PACKAGING / "deb" / "build.sh")]).returncode == 0


def test_packaged_config_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config.file", str(PACKAGING / "deb" / "config.yaml")]) == 0
    assert "configuration OK" in capsys.readouterr().out
