"""Checks of one network namespace: kernel support, NFACCT objects against rules and the
configuration, NFLOG groups against rules and listeners, and the family loggers.

Family loggers (``/proc/net/netfilter/nf_log``), measured on this kernel: ``nft log`` without
``group`` and iptables ``-j LOG`` always go to the kernel log, whatever the binding; only
conntrack's invalid-packet messages (``nf_conntrack_log_invalid``) follow the family's binding,
to NFLOG group 0 when it is ``nfnetlink_log``. So the binding is flagged only when those messages
are switched on and end up nowhere.
"""

import contextlib
import errno

from nfacct_exporter.config import Config
from nfacct_exporter.config.namespaces import Namespace
from nfacct_exporter.doctor import kernel, procfs, rules
from nfacct_exporter.doctor.findings import Finding
from nfacct_exporter.netlink import netns as _netns
from nfacct_exporter.netlink.socket import NetfilterSocket

NFLOG_RULE = ("a rule logging to it: iptables ... -j NFLOG --nflog-group {g} "
              "or nft ... log group {g}")


def check(ns: Namespace, cfg: Config | None) -> list[Finding]:
    try:
        sock = NetfilterSocket(ns.path)
    except OSError as e:
        return [Finding("namespace", f"network namespace {ns.path}",
                        f"cannot be entered ({e.strerror or e})",
                        "create it (ip netns add NAME) or fix netns:/namespaces: in the config")]
    with contextlib.closing(sock):
        return _check(sock, ns.path, cfg)


def _check(sock: NetfilterSocket, where: str | None, cfg: Config | None) -> list[Finding]:
    with _netns.entered(where):
        bindings = procfs.nflog_bindings()
        inodes = {g: procfs.netlink_inode(p) for g, p in bindings.items()}
        loggers = procfs.nf_loggers()
        log_invalid = procfs.sysctl("net.netfilter.nf_conntrack_log_invalid")
        matches = procfs.registered_matches()
    out: list[Finding] = []
    objects, code = kernel.references(sock)
    if code in kernel.MISSING:
        out.append(_module("nfnetlink_acct", "NFACCT objects cannot be read", where))
    # a modular kernel loads xt_nfacct with the first rule using it: only flag it when objects
    # are there to feed and the kernel's match list (when readable) lacks it
    if matches and "nfacct" not in matches and (objects or (cfg and cfg.counters)):
        out.append(_module("xt_nfacct", "no rule can feed an NFACCT object", where))
    free = next(g for g in range(65535, -1, -1) if g not in bindings)
    if kernel.nflog_answers(sock, free) in kernel.MISSING:
        out.append(_module("nfnetlink_log", "NFLOG groups cannot be bound", where))
    ruleset = rules.read(where)
    out += [Finding("rules", "firewall rules", f"could not be read: {e}",
                    "run the doctor as root with iptables/nft installed", where)
            for e in ruleset.errors]
    if objects is not None:
        out += _objects(objects, ruleset, cfg, where)
    groups = {g.group for g in cfg.nflog} if cfg else set()
    owners = {g: procfs.socket_owner(i) for g, i in inodes.items()}
    out += _nflog(sock, groups, ruleset, bindings, owners, where)
    out += _loggers(log_invalid, loggers, bindings, where)
    return out


def _module(name: str, consequence: str, where: str | None) -> Finding:
    return Finding("module", f"kernel module {name}",
                   f"the kernel does not answer for it: {consequence}",
                   f"modprobe {name} (or a kernel built with it)", where)


def _objects(objects: dict[str, int], ruleset: rules.Ruleset, cfg: Config | None,
             where: str | None) -> list[Finding]:
    out = [Finding("unreferenced-object", f"NFACCT object {name!r}",
                   "no rule references it, so it stays at 0",
                   f"add a rule with -m nfacct --nfacct-name {name} (see nfacct-exporter "
                   "counters rules) or delete the object (nfacct del)", where)
           for name, refs in sorted(objects.items()) if refs == 0]
    config = f" --config {cfg.path}" if cfg and cfg.path else ""
    out += [Finding("missing-counter", f"declared counter {c.name!r}",
                    "declared under counters: but not in the kernel",
                    f"nfacct-exporter counters create{config}", where)
            for c in (cfg.counters if cfg else ()) if c.name not in objects]
    out += [Finding("missing-object", f"NFACCT object {name!r}",
                    "a rule names it but the kernel has no such object",
                    f"create it (nfacct add {name}) or fix the rule", where)
            for name in sorted(ruleset.nfacct_names - set(objects))]
    return out


def _nflog(sock: NetfilterSocket, groups: set[int], ruleset: rules.Ruleset,
           bindings: dict[int, int], owners: dict[int, tuple[int, str] | None],
           where: str | None) -> list[Finding]:
    out = [Finding("group-unused", f"NFLOG group {g}",
                   "configured under nflog: but no rule logs to it, so its counts stay at 0",
                   "add " + NFLOG_RULE.format(g=g), where)
           for g in sorted(groups - ruleset.nflog_groups)]
    for g in sorted(ruleset.nflog_groups - set(bindings)):
        fix = ("start nfacct-exporter (the group is configured under nflog:)" if g in groups
               else f"add group {g} under nflog: in the configuration, or remove the rules")
        out.append(Finding("group-unheard", f"NFLOG group {g}",
                           "rules log to it but nothing listens: what they log is lost",
                           fix, where))
    for g in sorted(groups):  # bound on the doctor's socket: closing it frees them
        code = kernel.nflog_bind_test(sock, g)
        if code in (errno.EPERM, errno.EBUSY) and not procfs.is_exporter(owners.get(g)):
            out.append(Finding(
                "group-held", f"NFLOG group {g}",
                f"held by {procfs.describe(owners.get(g))}: nfacct-exporter cannot bind it",
                "stop that listener, or use another group in nflog: and the rules", where))
    return out


def _loggers(log_invalid: str | None, loggers: dict[int, str], bindings: dict[int, int],
             where: str | None) -> list[Finding]:
    if not log_invalid or log_invalid == "0":
        return []
    out = []
    for fam, name in procfs.FAMILIES.items():
        bound, path = loggers.get(fam), f"/proc/sys/net/netfilter/nf_log/{fam}"
        if bound == "nfnetlink_log" and 0 not in bindings:
            problem = "bound to nfnetlink_log, i.e. NFLOG group 0, where nothing listens"
        elif bound == "NONE":
            problem = "bound to no logger"
        else:
            continue
        out.append(Finding(
            "nf-log", path,
            f"conntrack logs invalid {name} packets (nf_conntrack_log_invalid={log_invalid}) "
            f"to this family's logger, {problem}: those messages are lost",
            f"listen on NFLOG group 0 (nflog: group 0), or send them to the kernel log: "
            f"echo nf_log_{name} > {path}", where))
    return out
