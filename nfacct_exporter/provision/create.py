"""Create the declared NFACCT objects that are missing, never touching the others.

The objects are made over netlink in the namespace the daemon reads. Each request carries
NLM_F_EXCL and never NLM_F_REPLACE: an object that exists (EEXIST, or EBUSY from older kernels)
is left exactly as it is, counts and quota included, and objects the config does not declare are
never touched. So it is safe to run at every boot, beside other readers of the same objects.
"""

import errno
import os

from nfacct_exporter.config.counters import Counter
from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NfacctObject

EXISTS = (errno.EEXIST, errno.EBUSY)


def describe_quota(quota: int | None, unit: str | None) -> str:
    return f"quota {quota} {unit}" if quota is not None else "no quota"


def kernel_quota(obj: NfacctObject) -> str:
    return describe_quota(obj.quota, obj.quota_unit) if obj.quota_unit else "no quota"


def create(sock: NetfilterSocket, declared: tuple[Counter, ...]) -> tuple[list[str], int]:
    """Create what is missing; returns (one report line per counter, number of failures)."""
    existing = {o.name: o for o in nfacct.dump(sock)}
    missing = [c for c in declared if c.name not in existing]
    requests = [nfacct.acct_new_request(c.name, sock.next_seq(), c.quota,
                                        c.quota_unit == "bytes") for c in missing]
    results = dict(zip([c.name for c in missing], sock.transact(requests), strict=True))
    lines, failures = [], 0
    for c in declared:
        want = describe_quota(c.quota, c.quota_unit)
        code = results.get(c.name)
        if code == 0:
            lines.append(f"created  {c.name} ({want})")
        elif code is None or code in EXISTS:
            obj = existing.get(c.name)
            have = kernel_quota(obj) if obj else None
            note = "" if have in (None, want) else f"; kernel: {have}, config: {want}"
            lines.append(f"exists   {c.name} (left as is{note})")
        else:
            failures += 1
            lines.append(f"failed   {c.name}: {errno.errorcode.get(code, code)}: "
                         f"{os.strerror(code)}")
    return lines, failures
