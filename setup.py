"""Writes ``nfacct_exporter/build_info.json`` (branch, revision, build user and date) into the
built package, so an installed wheel or deb knows what it was built from; pyproject.toml holds
everything else."""

import json
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TOP = Path(__file__).resolve().parent


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(TOP))
        from nfacct_exporter.version import build_file
        out = Path(self.build_lib) / "nfacct_exporter" / "build_info.json"
        out.write_text(json.dumps(build_file(TOP)) + "\n")


setup(cmdclass={"build_py": BuildPy})
