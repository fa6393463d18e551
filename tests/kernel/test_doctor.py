"""``doctor``: each finding produced by a real broken set-up in a test namespace, one at a time,
and a clean set-up (the real daemon running) giving exit 0 and no finding.

The doctor runs on a thread that entered the namespace (its sockets, ``/proc/thread-self`` and
the iptables/nft tools it starts all see that namespace), except where a process of its own is
needed (CAP_NET_ADMIN dropped). Not producible on this kernel: a missing module (all are built
in) and a rule naming a missing object (the kernel refuses such a rule): see the unit tests.
"""

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from nfacct_exporter import cli
from nfacct_exporter.doctor import cli as doctor_cli
from nfacct_exporter.doctor.findings import Finding
from nfacct_exporter.netlink import nflog
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support import packets
from tests.support.netns import free_port

HOLDER = """
import sys, time
from nfacct_exporter.netlink import nflog
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support import packets
from tests.support.netns import free_port
s = NetfilterSocket()
nflog.bind(s, int(sys.argv[1]), 1, 1)
print("bound", flush=True)
time.sleep(60)
"""


def doctor(ns, tmp: Path, config: str | None = None, *extra: str) -> list[Finding]:
    argv = ["--web.listen-address", f"127.0.0.1:{free_port()}", *extra]
    if config is not None:
        path = tmp / "config.yaml"
        path.write_text(textwrap.dedent(config))
        argv += ["--config", str(path)]
    return ns.call(lambda: doctor_cli.diagnose(cli.parser().parse_args(["doctor", *argv])))


def checks(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.check, f.subject) for f in findings]


def test_clean_setup_exits_0(ns, tmp_path, exporter, capsys):
    ns.sh("nfacct add web && iptables -A INPUT -m nfacct --nfacct-name web "
          "&& iptables -A INPUT -p udp --dport 999 -j NFLOG --nflog-group 5")
    carbon = ns.call(lambda: socket.create_server(("127.0.0.1", 0)))
    try:
        port = carbon.getsockname()[1]
        config = (f"counters: [web]\nnflog:\n  - group: 5\n"
                  f"graphite:\n  host: 127.0.0.1\n  port: {port}\n")
        daemon = exporter(config)  # holds group 5 and its listen port: both are fine
        argv = ["doctor", "--config", str(daemon.config), "--web.listen-address",
                f"127.0.0.1:{daemon.port}"]
        assert ns.call(lambda: cli.main(argv)) == 0
        assert capsys.readouterr().out == "nfacct-exporter doctor: no problems found\n"
        assert ns.call(lambda: cli.main([*argv, "--format", "json"])) == 0
        assert json.loads(capsys.readouterr().out) == []
    finally:
        carbon.close()


def test_unreferenced_object(ns, tmp_path, capsys):
    ns.sh("nfacct add lonely && nfacct add used && iptables -A INPUT -m nfacct --nfacct-name used")
    found = doctor(ns, tmp_path)
    assert checks(found) == [("unreferenced-object", "NFACCT object 'lonely'")]
    assert "--nfacct-name lonely" in found[0].fix
    assert ns.call(lambda: cli.main(["doctor", "--web.listen-address",
                                     f"127.0.0.1:{free_port()}", "--format", "json"])) == 1
    (item,) = json.loads(capsys.readouterr().out)
    assert item["check"] == "unreferenced-object" and item["subject"] == "NFACCT object 'lonely'"


def test_declared_counter_missing(ns, tmp_path):
    found = doctor(ns, tmp_path, "counters: [absent]\n")
    assert checks(found) == [("missing-counter", "declared counter 'absent'")]
    assert "counters create --config" in found[0].fix


def test_namespace_from_the_config(ns, tmp_path):
    """With ``netns:`` the doctor enters the namespace itself and says which one it was."""
    ns.sh("nfacct add lonely")
    path = tmp_path / "c.yaml"
    path.write_text(f"netns: {ns.name}\n")
    found = doctor_cli.diagnose(cli.parser().parse_args(
        ["doctor", "--config", str(path), "--web.listen-address", f"127.0.0.1:{free_port()}"]))
    assert [(f.check, f.netns) for f in found] == [("unreferenced-object", ns.name)]


def test_nflog_group_no_rule_logs_to(ns, tmp_path):
    found = doctor(ns, tmp_path, "nflog:\n  - group: 7\n")
    assert checks(found) == [("group-unused", "NFLOG group 7")]


def test_rules_log_to_a_group_nobody_listens_to(ns, tmp_path):
    ns.sh("iptables -A INPUT -j NFLOG --nflog-group 9")
    ns.run("nft", "-f", "-", input="table inet t {\n chain c {\n"
                                   "  type filter hook input priority 0;\n  log group 11\n }\n}\n")
    found = doctor(ns, tmp_path)
    assert checks(found) == [("group-unheard", "NFLOG group 9"),
                             ("group-unheard", "NFLOG group 11")]
    assert "under nflog:" in found[0].fix


def test_group_held_by_another_process(ns, tmp_path):
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = ns.popen([sys.executable, str(script), "8"], stdout=subprocess.PIPE,
                      env={"PYTHONPATH": str(Path(cli.__file__).parents[1])})
    assert holder.stdout.readline() == b"bound\n"
    ns.sh("iptables -A INPUT -j NFLOG --nflog-group 8")
    found = doctor(ns, tmp_path, "nflog:\n  - group: 8\n")
    assert checks(found) == [("group-held", "NFLOG group 8")]
    assert f"PID {holder.pid}" in found[0].problem


def test_conntrack_invalid_messages_lost(ns, tmp_path):
    ns.sh("sysctl -qw net.netfilter.nf_conntrack_log_invalid=255 "
          "&& echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2")
    found = doctor(ns, tmp_path)
    assert checks(found) == [("nf-log", "/proc/sys/net/netfilter/nf_log/2")]
    assert "nf_log_ipv4" in found[0].fix
    # listening on group 0 is the other fix
    found = doctor(ns, tmp_path, "nflog:\n  - group: 0\n", )
    assert ("nf-log", "/proc/sys/net/netfilter/nf_log/2") in checks(found)  # daemon not running


def test_without_cap_net_admin(ns, tmp_path):
    r = ns.run("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--",
               sys.executable, "-m", "nfacct_exporter", "doctor", "--format", "json",
               "--web.listen-address", f"127.0.0.1:{free_port()}", check=False,
               env={"PYTHONPATH": str(Path(cli.__file__).parents[1])})
    assert r.returncode == 1, r.stderr
    assert [f["check"] for f in json.loads(r.stdout)] == ["capability"]


def test_graphite_unreachable(ns, tmp_path):
    port = free_port()
    found = doctor(ns, tmp_path, f"graphite:\n  host: 127.0.0.1\n  port: {port}\n")
    assert checks(found) == [("graphite", f"carbon at 127.0.0.1:{port}")]


def test_listen_port_taken(ns, tmp_path):
    taken = ns.call(lambda: socket.create_server(("127.0.0.1", 0)))
    try:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        found = ns.call(lambda: doctor_cli.diagnose(cli.parser().parse_args(
            ["doctor", "--web.listen-address", address])))
    finally:
        taken.close()
    assert checks(found) == [("listen", f"address {address}")]
    assert "is taken by PID" in found[0].problem


def test_web_config_invalid(ns, tmp_path):
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: /nonexistent.pem\n")
    found = doctor(ns, tmp_path, None, "--web.config.file", str(web))
    assert checks(found) == [("web-config", f"file {web}")]


def test_config_invalid(ns, tmp_path):
    found = doctor(ns, tmp_path, "pollinterval: -1\n")
    assert checks(found) == [("config", f"file {tmp_path / 'config.yaml'}")]


def test_which_messages_follow_the_family_binding(ns):
    """Why only conntrack's invalid-packet messages are checked against ``nf_log``: with IPv4
    bound to nfnetlink_log, nft ``log`` without ``group`` and iptables ``LOG`` still go to the
    kernel log (nothing reaches NFLOG group 0), conntrack's messages do reach group 0."""
    ns.sh("echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2 "
          "&& iptables -A OUTPUT -p udp --dport 5558 -j LOG")
    ns.run("nft", "-f", "-", input="table ip t {\n chain o {\n"
           "  type filter hook output priority 0;\n  udp dport 5555 log prefix \"x \"\n"
           "  ct state invalid counter\n }\n}\n")
    listener = NetfilterSocket(ns.name, timeout=0.3)
    try:
        nflog.bind(listener, 0, 1, 1)

        def received() -> int:
            n = 0
            try:
                while True:
                    listener.recv()
                    n += 1
            except TimeoutError:
                return n

        ns.udp("127.0.0.1", 5555, b"x")
        ns.udp("127.0.0.1", 5558, b"x")
        assert received() == 0
        ns.sh("sysctl -qw net.netfilter.nf_conntrack_log_invalid=255")
        ns.call(syn_fin)
        assert received() >= 1
    finally:
        listener.close()


def syn_fin() -> None:
    """One TCP segment with SYN and FIN set: conntrack calls it invalid."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as s:
        s.sendto(packets.tcp(33000, 34000, 0x03), ("127.0.0.1", 0))
