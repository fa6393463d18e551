"""``nfacct_rule_references``: the number of rules referencing each NFACCT object, from the
kernel's NFACCT_USE (measured: 1 + the number of rules), iptables and ip6tables rules alike."""

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket


def test_rules_counted_per_object(ns, exporter):
    ns.sh("nfacct add none && nfacct add one && nfacct add two && nfacct add q packet 10 "
          "&& iptables -A INPUT -m nfacct --nfacct-name one "
          "&& iptables -A INPUT -p tcp -m nfacct --nfacct-name two "
          "&& ip6tables -A INPUT -m nfacct --nfacct-name two "
          "&& iptables -A INPUT -m nfacct --nfacct-name q")
    sock = NetfilterSocket(ns.name)
    try:
        rules = {o.name: o.rules for o in nfacct.dump(sock)}
    finally:
        sock.close()
    assert rules == {"none": 0, "one": 1, "two": 2, "q": 1}  # q: a quota object (generic path)
    daemon = exporter("pollinterval: 0.2\n")
    samples = daemon.wait_for(lambda s: s)
    assert {dict(labels)["name"]: v for (metric, labels), v in samples.items()
            if metric == "nfacct_rule_references"} == {"none": 0, "one": 1, "two": 2, "q": 1}
    ns.sh("iptables -D INPUT -p tcp -m nfacct --nfacct-name two")
    daemon.wait_for(lambda s: s.get(("nfacct_rule_references",
                                     frozenset({("name", "two")}))) == 1)
