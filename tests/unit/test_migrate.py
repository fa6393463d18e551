"""``nfacct-exporter migrate``: the seed's ulogd.conf and Debian's shipped one become valid
configurations saying the same thing; what cannot be carried over is named on stderr; bad input
is one line and exit code 2."""

from pathlib import Path

import pytest
import yaml

from nfacct_exporter import cli, config

SEED = Path(__file__).parents[1] / "fixtures" / "ulogd-seed.conf"
DEBIAN = Path("/etc/ulogd.conf")


def migrate(tmp_path: Path, text: str | None, capsys: pytest.CaptureFixture[str],
            path: Path | None = None) -> tuple[int, str, list[str]]:
    if path is None:
        path = tmp_path / "ulogd.conf"
        path.write_text(text or "")
    code = cli.main(["migrate", str(path)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def valid(text: str) -> dict:
    """The migrated YAML, checked by the exporter's own loader (``events`` aside: that option
    is validated where it is implemented)."""
    doc = yaml.safe_load(text)
    for group in doc.get("nflog", []):
        group.pop("events", None)
    config.from_text(yaml.safe_dump(doc))
    return yaml.safe_load(text)


def test_seed_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = migrate(tmp_path, None, capsys, SEED)
    assert code == 0
    doc = valid(out)
    assert doc["pollinterval"] == 2
    assert doc["graphite"] == {"host": "127.0.0.1", "port": 2003, "prefix": "netfilter.nfacct",
                               "mode": "delta"}
    events = {"file": "/var/log/ulogd.json", "format": "ulogd", "dvc": "My awesome FW"}
    assert doc["nflog"] == [{"group": 1, "verdict": "accept", "events": events},
                            {"group": 2, "verdict": "drop", "events": events}]
    assert "# [acct1] zerocounter=1 (ulogd's default)" in out
    assert all(line.startswith("nfacct-exporter migrate: warning: ") for line in err)
    text = "\n".join(err)
    assert "[graphite1] no prefix=" in text  # the paths move: said, not hidden
    assert "[json1] sync=1: not carried over" in text
    assert len(err) == 2, err


@pytest.mark.skipif(not DEBIAN.exists(), reason="needs Debian's ulogd2 (/etc/ulogd.conf)")
def test_debian_shipped_configuration(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = migrate(tmp_path, None, capsys, DEBIAN)
    assert code == 0
    assert valid(out)["nflog"] == [{"group": 0, "verdict": "log"}]
    assert "log1:NFLOG → emu1:LOGEMU: not carried over" in "\n".join(err)
    assert "Sections no stack uses" in out and "pgsql4" in out
    # its commented NFACCT → GRAPHITE stack, switched on
    text = DEBIAN.read_text().replace("#stack=acct1:NFACCT,graphite1:GRAPHITE",
                                      "stack=acct1:NFACCT,graphite1:GRAPHITE")
    code, out, err = migrate(tmp_path, text, capsys)
    doc = valid(out)
    assert code == 0 and doc["pollinterval"] == 2
    assert doc["graphite"] == {"host": "127.0.0.1", "port": 2003, "prefix": "netfilter.nfacct",
                               "mode": "delta"}


def test_every_setting_not_carried_over_is_named(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = """\
[global]
stack=acct1:NFACCT,graphite1:GRAPHITE,x1:JSON
stack=log1:NFLOG,mark1:MARK,base1:BASE,emu1:LOGEMU
stack=ct1:NFCT,emu1:LOGEMU
[acct1]
pollinterval=5
zerocounter=0
colour=blue
network_namespace_path=/run/netns/blue
[graphite1]
host=carbon.example
port=carbon
prefix=fw.acct
[log1]
group=4
netlink_socket_buffer_size=217088
netlink_qtimeout=50
attach_conntrack=1
seq_global=1
"""
    code, out, err = migrate(tmp_path, text, capsys)
    doc = valid(out)
    assert code == 0 and doc["graphite"]["mode"] == "total" and doc["graphite"]["port"] == 2003
    assert doc["netns"] == "/run/netns/blue" and doc["pollinterval"] == 5
    assert doc["nflog"] == [{"group": 4, "verdict": "log", "rcvbuf": 217088, "qtimeout": 0.5}]
    text = "\n".join(err)
    for what in ("[acct1] colour=blue", "[graphite1] port=carbon", "x1:JSON: not carried",
                 "[log1] attach_conntrack=1", "mark1:MARK", "emu1:LOGEMU",
                 "ct1:NFCT: not carried over"):
        assert what in text, what
    assert "seq_global=1: sequence numbers are always on" in out


@pytest.mark.parametrize(("text", "problem"), [
    ("pollinterval: 10\ngraphite:\n  host: x\n", ":1: not a ulogd configuration line"),
    ("[global]\nstack=acct1:NFACCT,g1:GRAPHITE\n[g1]\nhost=x\n",
     ":2: stack names acct1:NFACCT, but there is no [acct1] section"),
    ("[global]\nloglevel=1\n", "no stack= line"),
    ("[global]\nstack=acct1:NFACCT\n[acct1]\nzerocounter=1\n", "needs pollinterval > 0"),
    ("stack=a:NFACCT\n", ":1: stack= before any [section]"),
    ("[global]\nstack=acct1 NFACCT\n", "expected instance:PLUGIN"),
])
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                               problem: str) -> None:
    code, out, err = migrate(tmp_path, text, capsys)
    assert code == 2 and out == "" and len(err) == 1, err
    assert err[0].startswith("nfacct-exporter migrate: ") and problem in err[0], err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = migrate(tmp_path, None, capsys, tmp_path / "absent.conf")
    assert code == 2 and "No such file" in err[0]
