"""Build information: version, branch, revision, build user and date, as Prometheus'
``version.Print`` shows them (``--version``) and ``nfacct_exporter_build_info`` exports them.

A built package (wheel, deb) carries ``build_info.json``, written by ``setup.py`` at build
time; a git checkout asks git; anything else says ``unknown``.
"""

import json
import platform
import subprocess
from functools import cache
from pathlib import Path

from nfacct_exporter import __version__

PROG = "nfacct-exporter"
BUILD_FILE = Path(__file__).with_name("build_info.json")
FIELDS = ("branch", "revision", "build_user", "build_date")


@cache
def info() -> dict[str, str]:
    """``version``, ``branch``, ``revision``, ``build_user``, ``build_date``, ``python``."""
    out = dict.fromkeys(FIELDS, "unknown")
    try:
        out.update({k: str(v) for k, v in json.loads(BUILD_FILE.read_text()).items()
                    if k in FIELDS})
    except (OSError, ValueError, AttributeError):
        out.update(_from_git(Path(__file__).resolve().parent.parent))
    out["version"] = __version__
    out["python"] = platform.python_version()
    return out


def _from_git(top: Path) -> dict[str, str]:
    """Branch and revision of a checkout (nothing when this is not one, or git is absent)."""
    if not (top / ".git").exists():
        return {}
    got = {}
    for key, argv in (("revision", ["rev-parse", "HEAD"]),
                      ("branch", ["rev-parse", "--abbrev-ref", "HEAD"])):
        try:
            r = subprocess.run(["git", "-C", str(top), *argv], capture_output=True, text=True,
                               timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return got
        if r.returncode == 0 and r.stdout.strip():
            got[key] = r.stdout.strip()
    return got


def text() -> str:
    """What ``--version`` prints, in ``version.Print``'s layout (Python instead of Go)."""
    i = info()
    return (f"{PROG}, version {i['version']} (branch: {i['branch']}, "
            f"revision: {i['revision']})\n"
            f"  build user:       {i['build_user']}\n"
            f"  build date:       {i['build_date']}\n"
            f"  python version:   {platform.python_implementation()} {i['python']}\n"
            f"  platform:         {platform.system().lower()}/{platform.machine()}\n")


def build_file(top: Path) -> dict[str, str]:
    """What a build writes into ``build_info.json``: git's answers, who and when."""
    import getpass
    import socket
    import time
    got = {"branch": "unknown", "revision": "unknown", **_from_git(top)}
    got["build_user"] = f"{getpass.getuser()}@{socket.gethostname()}"
    got["build_date"] = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
    return got
