"""The namespaces bench's correctness check: the series one scrape serves against the objects
created in each namespace (names, ``netns`` labels, per-namespace object counts, ``nfacct_up``)."""

from prometheus_client.parser import text_string_to_metric_families


def check(body: bytes, expected: dict[str, set[str]]) -> dict:
    """The served series against the objects created: counts, names and netns labels."""
    series: dict[str, dict[str, set[str]]] = {"nfacct_packets": {}, "nfacct_bytes": {}}
    objects: dict[str, float] = {}
    up: dict[str, float] = {}
    unlabelled = 0
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            ns = s.labels.get("netns")
            if fam.name in series and s.name.endswith("_total"):
                if ns is None:
                    unlabelled += 1
                else:
                    series[fam.name].setdefault(ns, set()).add(s.labels["name"])
            elif fam.name == "nfacct_exporter_objects":
                objects[ns or ""] = s.value
            elif fam.name == "nfacct_up":
                up[ns or ""] = s.value
    n = sum(len(v) for v in expected.values())
    problems = []
    for metric, by_ns in series.items():
        if by_ns != expected:
            wrong = sorted(set(by_ns) ^ set(expected)) or [
                ns for ns in expected if by_ns.get(ns) != expected[ns]]
            problems.append(f"{metric}: namespaces or names differ ({wrong[:3]}…)")
    for ns, names in expected.items():
        if objects.get(ns) != len(names):
            problems.append(f"nfacct_exporter_objects{{netns={ns!r}}} = {objects.get(ns)}")
        if up.get(ns) != 1:
            problems.append(f"nfacct_up{{netns={ns!r}}} = {up.get(ns)}")
    if unlabelled:
        problems.append(f"{unlabelled} counter series without a netns label")
    others = {k: v for k, v in objects.items() if k not in expected}
    total = sum(v for k, v in objects.items() if k in expected)
    if total != n:
        problems.append(f"nfacct_exporter_objects sum {total}, expected {n}")
    return {"ok": not problems, "problems": problems, "objects": total, "others": others,
            "series_packets": sum(len(v) for v in series["nfacct_packets"].values()),
            "series_bytes": sum(len(v) for v in series["nfacct_bytes"].values()),
            "namespaces": len(series["nfacct_packets"])}
