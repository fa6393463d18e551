"""``nfacct-exporter counters create|rules`` in a test namespace: objects created once, a second
run changes nothing and resets nothing, and the printed rules load and count real traffic."""

import subprocess
import sys

from tests.support.firewall import kernel_counters

CONFIG = """\
counters:
  - name: ipv4.dns
    match: {family: ipv4, protocol: udp, dport: 31053}
  - name: ipv6.dns
    quota: {bytes: 1000000}
    match: {family: ipv6, protocol: udp, port: 31053}
  - name: both.range
    quota: {packets: 3}
    match:
      - {protocol: udp, dport: "31100-31199"}
      - {direction: out, protocol: udp, dport: 31300}
  - name: 'odd "name"\\x'
    match: {protocol: udp, dport: 31200}
  - bare.name
"""


def cli(ns, *args: str, check: bool = True):  # noqa: ANN001, ANN201
    return ns.run(sys.executable, "-m", "nfacct_exporter", *args, check=check)


def write_config(tmp_path, text: str = CONFIG) -> str:  # noqa: ANN001
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_create_is_idempotent_and_never_resets(ns, tmp_path) -> None:  # noqa: ANN001
    cfg = write_config(tmp_path)
    ns.run("nfacct", "add", "ipv4.dns")  # already there: must be left alone
    ns.run("nfacct", "add", "someone.else")  # not declared: never touched
    ns.sh("iptables -A INPUT -p udp --dport 31053 -m nfacct --nfacct-name ipv4.dns")
    ns.sh("iptables -A INPUT -p udp --dport 31054 -m nfacct --nfacct-name someone.else")
    ns.udp("127.0.0.1", 31053, b"x" * 10, count=3)
    ns.udp("127.0.0.1", 31054, b"x" * 10, count=2)

    first = cli(ns, "counters", "create", "--config", cfg)
    assert first.stdout.splitlines() == [
        "exists   ipv4.dns (left as is)",
        "created  ipv6.dns (quota 1000000 bytes)",
        "created  both.range (quota 3 packets)",
        'created  odd "name"\\x (no quota)',
        "created  bare.name (no quota)",
        "4 created, 1 already existed",
    ]
    listing = ns.run("nfacct", "list").stdout
    assert "quota = 00000000000001000000, mode = byte" in listing
    assert "quota = 00000000000000000003, mode = packet" in listing
    assert kernel_counters(ns)["ipv4.dns"] == (3, 3 * 38)
    assert kernel_counters(ns)["someone.else"] == (2, 2 * 38)

    ns.udp("127.0.0.1", 31053, b"x" * 10, count=4)
    before = kernel_counters(ns)
    second = cli(ns, "counters", "create", "--config", cfg)
    assert second.stdout.splitlines()[-1] == "0 created, 5 already existed"
    assert all(line.startswith("exists") for line in second.stdout.splitlines()[:-1])
    assert kernel_counters(ns) == before and before["ipv4.dns"] == (7, 7 * 38)


def test_create_reports_quota_drift_without_changing_it(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv6.dns")  # exists without the declared quota
    out = cli(ns, "counters", "create", "--config", write_config(tmp_path)).stdout
    assert ("exists   ipv6.dns (left as is; kernel: no quota, config: quota 1000000 bytes)"
            in out)
    assert "quota" not in [line for line in ns.run("nfacct", "list").stdout.splitlines()
                           if line.endswith("= ipv6.dns;")][0]


def test_create_refuses_a_bad_config(ns, tmp_path) -> None:  # noqa: ANN001
    r = cli(ns, "counters", "create", "--config",
            write_config(tmp_path, "counters:\n  - name: x\n    quota: {bytes: 0}\n"),
            check=False)
    assert r.returncode == 2 and "config.yaml:3: key 'counters[0].quota.bytes'" in r.stderr
    assert ns.run("nfacct", "list").stdout == ""


def test_printed_rules_load_and_count_once(ns, tmp_path) -> None:  # noqa: ANN001
    cfg = write_config(tmp_path)
    cli(ns, "counters", "create", "--config", cfg)
    files = {}
    for fmt in ("iptables", "ip6tables", "nft"):
        files[fmt] = tmp_path / f"rules.{fmt}"
        files[fmt].write_text(cli(ns, "counters", "rules", "--config", cfg, "--format",
                                  fmt).stdout)
    ns.sh(f"iptables-restore --noflush --test < {files['iptables']}")
    ns.sh(f"ip6tables-restore --noflush --test < {files['ip6tables']}")
    ns.sh(f"nft -c -f {files['nft']}")

    # load for real, then re-load (rules without jumps; nft script as is): still counted once
    ns.sh(f"iptables-restore --noflush < {files['iptables']}")
    ns.sh(f"ip6tables-restore --noflush < {files['ip6tables']}")
    ns.sh(f"nft -f {files['nft']}")
    again = tmp_path / "again.v4"
    again.write_text(cli(ns, "counters", "rules", "--config", cfg, "--no-jumps").stdout)
    ns.sh(f"iptables-restore --noflush < {again}")
    ns.sh(f"nft -f {files['nft']}")
    assert ns.sh("iptables -S INPUT").count("-j NFACCT-IN") == 1

    ns.udp("127.0.0.1", 31053, b"a" * 10, count=5)  # ipv4.dns only (family ipv4)
    ns.udp("::1", 31053, b"b" * 20, count=2)  # ipv6.dns (port: either side)
    ns.udp("127.0.0.1", 31150, b"c" * 30, count=2)  # both.range, IPv4
    ns.udp("::1", 31199, b"d" * 30, count=1)  # both.range, IPv6
    ns.udp("127.0.0.1", 31300, b"f" * 30, count=1)  # both.range, on the way out
    ns.udp("127.0.0.1", 31200, b"e", count=1)  # the odd name
    k = kernel_counters(ns)
    assert k["ipv4.dns"] == (5, 5 * 38)
    assert k["ipv6.dns"] == (2, 2 * 68)
    assert k["both.range"] == (4, 3 * 58 + 78)
    assert k['odd "name"\\x'] == (1, 29)
    assert k["bare.name"] == (0, 0)
    # the nft script fed nft named counters of the same names, once per packet as well
    nft = ns.sh("nft list counters table inet nfacct_exporter")
    assert "counter ipv4.dns {\n\t\tpackets 5 bytes 190" in nft
    assert "counter both.range {\n\t\tpackets 4 bytes 252" in nft


def test_create_in_the_configured_namespace(ns, tmp_path) -> None:  # noqa: ANN001
    """Run from outside: ``netns:`` (or --netns) picks the namespace the daemon reads."""
    cfg = write_config(tmp_path, f"netns: {ns.name}\ncounters: [a.b]\n")
    r = subprocess.run([sys.executable, "-m", "nfacct_exporter", "counters", "create",
                        "--config", cfg], capture_output=True, text=True, check=True)
    assert r.stdout.splitlines() == ["created  a.b (no quota)", "1 created, 0 already existed"]
    assert kernel_counters(ns) == {"a.b": (0, 0)}
    r = subprocess.run([sys.executable, "-m", "nfacct_exporter", "counters", "create",
                        "--config", cfg, "--netns", "/nonexistent/ns"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
